"""Competency questions: every ``ontology/queries/cq/*.rq`` answers what the sources say.

Each question has an expected answer in ``tests/competency/expected/<name>.csv``, written by
reading the primary article and the reference tables (never by pasting a query's output). The
header is the projected variables in order; a SELECT cell is written as:

- an IRI under the data base as its base-relative id (``id/division/522731``), any other IRI in
  full (``https://w3id.org/gq-kg/ontology#Stated``);
- a literal as its text (language tags and datatypes are not compared);
- a number as a number (``185000000``, ``26.14``): compared numerically;
- an unbound variable as an empty cell.

An ASK question's file has the single column ``boolean`` and one row ``true`` or ``false``.
Rows are compared as multisets, in order only when the query has an ORDER BY.

Every question is asked twice: of the embedded engine (pyoxigraph, default graph as union) and
of a real ``oxigraph serve-read-only --union-default-graph`` over HTTP, the way a deployment that
outgrew one machine would run them.

The dataset is compiled under a base that is not the default one, so a query or a compiler that
hard-codes the data base fails here.
"""

from __future__ import annotations

import contextlib
import csv
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pyoxigraph as ox
import pytest

from kg.config import Settings, project_root
from kg.queries import NamedQuery, bind, parse_query_file

# The `oxigraph` server binary is installed next to the interpreter (PyPI package oxigraph).
OXIGRAPH = Path(sys.executable).with_name("oxigraph")
CQ_DIR = project_root() / "ontology" / "queries" / "cq"
EXPECTED_DIR = Path(__file__).parent / "expected"
BASE = "https://example.org/kg-cq/"
MIN_QUESTIONS = 30

_NUMBER = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_ORDER_BY = re.compile(r"\bORDER\s+BY\b", re.IGNORECASE)
# Data IRIs of the default base must never appear in a query: the base is configurable.
_HARD_CODED_BASE = re.compile(r"w3id\.org/gq-kg/(?:id|graph)/")
# The keyword, not a ?graph variable or a gq:graph name.
_GRAPH_CLAUSE = re.compile(r"(?<![?$:\w])GRAPH\b", re.IGNORECASE)

Row = tuple[str, ...]


def _names() -> list[str]:
    return sorted(p.stem for p in CQ_DIR.glob("*.rq"))


def _query(name: str) -> NamedQuery:
    return parse_query_file(CQ_DIR / f"{name}.rq")


def _body(query: NamedQuery) -> str:
    """The query without its comment lines (the header may mention anything)."""
    return "\n".join(s for s in query.text.splitlines() if not s.lstrip().startswith("#"))


def _canonical(text: str) -> str:
    """Numbers compare by value: 185000000, 1.85E8 and 185000000.0 are one cell."""
    if _NUMBER.match(text):
        return format(Decimal(text).normalize(), "f")
    return text


def _cell(term: object) -> str:
    if term is None:
        return ""
    if isinstance(term, ox.NamedNode):
        iri = term.value
        return iri[len(BASE) :] if iri.startswith(BASE) else iri
    if isinstance(term, ox.Literal):
        return _canonical(term.value)
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    raise TypeError(f"unexpected term {term!r}")


def _expected(name: str) -> tuple[list[str], list[Row]]:
    path = EXPECTED_DIR / f"{name}.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    for lineno, row in enumerate(body, start=2):
        assert len(row) == len(header), f"{path}:{lineno}: {len(row)} cells for {len(header)}"
    return header, [tuple(_canonical(c) for c in row) for row in body]


def _actual(store: ox.Store, query: NamedQuery) -> tuple[list[str], list[Row]]:
    text = bind(query, {})  # parameters take their declared defaults
    result = store.query(text, use_default_graph_as_union=True)
    if isinstance(result, ox.QueryBoolean):
        return ["boolean"], [("true" if bool(result) else "false",)]
    assert isinstance(result, ox.QuerySolutions), f"{query.name}: not a SELECT or ASK query"
    variables = [v.value for v in result.variables]
    rows = [tuple(_cell(solution[v]) for v in variables) for solution in result]
    return variables, rows


def _diff(expected: list[Row], actual: list[Row]) -> str:
    missing = Counter(expected) - Counter(actual)
    extra = Counter(actual) - Counter(expected)
    if not missing and not extra:
        return "same rows in another order; got:\n" + "\n".join(f"  {r}" for r in actual)
    lines = ["missing rows:"] + [f"  {r}" for r in sorted(missing.elements())]
    lines += ["unexpected rows:"] + [f"  {r}" for r in sorted(extra.elements())]
    return "\n".join(lines)


def _json_cell(binding: dict[str, Any] | None) -> str:
    if binding is None:
        return ""
    value = str(binding["value"])
    if binding["type"] == "uri":
        return value[len(BASE) :] if value.startswith(BASE) else value
    if binding["type"] == "bnode":
        return f"_:{value}"
    return _canonical(value)


def _remote(url: str, query: NamedQuery) -> tuple[list[str], list[Row]]:
    response = httpx.post(
        url,
        data={"query": bind(query, {})},
        headers={"Accept": "application/sparql-results+json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    if "boolean" in body:
        return ["boolean"], [("true" if body["boolean"] else "false",)]
    variables = list(body["head"]["vars"])
    rows = [tuple(_json_cell(b.get(v)) for v in variables) for b in body["results"]["bindings"]]
    return variables, rows


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def nquads() -> bytes:
    from kg.compile import compile_dataset

    dataset = compile_dataset(Settings.model_validate({"base_iri": BASE}))
    return dataset.serialize(format="nquads", encoding="utf-8")


@pytest.fixture(scope="module")
def store(nquads: bytes) -> ox.Store:
    loaded = ox.Store()
    loaded.load(nquads, format=ox.RdfFormat.N_QUADS)
    return loaded


@pytest.fixture(scope="module")
def oxigraph_server(nquads: bytes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Oxigraph server on 127.0.0.1 over the compiled dataset; stopped afterwards."""
    folder = tmp_path_factory.mktemp("cq-oxigraph")
    (folder / "dataset.nq").write_bytes(nquads)
    location = str(folder / "db")
    subprocess.run(
        [str(OXIGRAPH), "load", "--location", location, "--file", str(folder / "dataset.nq")],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    command = [str(OXIGRAPH), "serve-read-only", "--location", location, "--union-default-graph"]
    url = f"http://127.0.0.1:{port}/query"
    # The log goes to a file, not a pipe: an unread pipe could fill up and block the server.
    with (folder / "server.log").open("wb") as log:
        server = subprocess.Popen([*command, "--bind", f"127.0.0.1:{port}"], stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.post(url, data={"query": "ASK {}"}).status_code == 200:
                        break
                assert server.poll() is None, (folder / "server.log").read_text(errors="replace")
                assert time.monotonic() < deadline, "oxigraph did not start in 30 s"
                time.sleep(0.1)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=10)


def test_enough_questions() -> None:
    assert len(_names()) >= MIN_QUESTIONS


def test_every_question_has_an_expected_answer() -> None:
    answers = sorted(p.stem for p in EXPECTED_DIR.glob("*.csv"))
    assert answers == _names()


@pytest.mark.parametrize("name", _names())
def test_header(name: str) -> None:
    query = _query(name)
    assert query.summary.endswith("?"), "the summary is the question, in English"
    assert query.meta.get("summary_zh", "").endswith("？"), "a summary_zh line asks it in Chinese"
    assert "competency" in query.tags
    body = _body(query)
    assert not _HARD_CODED_BASE.search(body), "data IRIs depend on the configured base"
    assert not _GRAPH_CLAUSE.search(body), "the default graph is the union: no GRAPH clause"


def _check(query: NamedQuery, variables: list[str], actual: list[Row]) -> None:
    header, expected = _expected(query.name)
    assert variables == header
    if _ORDER_BY.search(_body(query)):
        assert actual == expected, _diff(expected, actual)
    else:
        assert Counter(actual) == Counter(expected), _diff(expected, actual)


@pytest.mark.parametrize("name", _names())
def test_answer(name: str, store: ox.Store) -> None:
    query = _query(name)
    _check(query, *_actual(store, query))


@pytest.mark.remote
@pytest.mark.parametrize("name", _names())
def test_answer_on_oxigraph_server(name: str, oxigraph_server: str) -> None:
    query = _query(name)
    _check(query, *_remote(oxigraph_server, query))
