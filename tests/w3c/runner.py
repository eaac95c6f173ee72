"""Run the W3C SPARQL 1.1 tests against any SPARQL endpoint over HTTP.

    python -m tests.w3c.runner --write-data var/w3c/suite.nq          # 1. data for the server
    python -m tests.w3c.runner --endpoint http://127.0.0.1:7878/query  # 2. run against it
    python -m tests.w3c.runner --start oxigraph --report out.md       # or: 1 + start + 2

Every query test sends its own dataset with the SPARQL Protocol (``default-graph-uri`` = its
qt:data graphs, or a graph that does not exist for an empty default graph; ``named-graph-uri``
= its qt:graphData), so the endpoint stays read-only. Queries get ``BASE <query file IRI>``
prepended, which is the base the W3C harnesses give them.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import rdflib

from tests.w3c.compare import (
    answers_differ,
    canonical_numbers,
    has_top_level_order_by,
    rows_match,
    strip_comments,
)
from tests.w3c.dataset import write_nquads
from tests.w3c.expected import load_expected_failures
from tests.w3c.manifest import (
    DEFAULT_SUITE_DIR,
    ProtocolRequest,
    ProtocolTest,
    QueryTest,
    ServiceDescriptionTest,
    SyntaxTest,
    Test,
    load_suites,
    suite_names,
)
from tests.w3c.rdfio import exact_literals, parse_graph
from tests.w3c.report import render_markdown
from tests.w3c.results import (
    CSV,
    JSON,
    NTRIPLES,
    TSV,
    TURTLE,
    XML,
    Answer,
    ResultsError,
    Row,
    csv_rows,
    media_type,
    parse_answer,
    parse_json,
    parse_rs_graph,
    parse_tsv,
    parse_xml,
)
from tests.w3c.servers import Server, kg_server, oxigraph_server

__all__ = [
    "EMPTY_GRAPH",
    "PASS",
    "REFUSED",
    "Outcome",
    "main",
    "run_suite",
    "run_test",
]

#: A graph no test loads: named as the default graph, it makes the default graph empty.
EMPTY_GRAPH = "urn:x-kg-w3c:empty-default-graph"

PASS = "pass"
FAIL = "fail"
REFUSED = "refused (read-only)"
ERROR = "error"

SD = rdflib.Namespace("http://www.w3.org/ns/sparql-service-description#")
_RDF_ACCEPT = "text/turtle, application/n-triples;q=0.9, application/rdf+xml;q=0.8"
_ACCEPT_BY_SUFFIX = {".srx": XML, ".srj": JSON, ".tsv": TSV, ".csv": CSV}
_DATASET_CLAUSE = re.compile(r"(?<![\w:])FROM\s+(?:NAMED\s+)?(?:<|[\w-]*:)", re.IGNORECASE)


@dataclass
class Outcome:
    """What happened to one test."""

    iri: str
    suite: str
    name: str
    status: str  # PASS, FAIL, REFUSED, ERROR
    detail: str = ""
    http_statuses: list[int] = field(default_factory=list)

    @property
    def server_error(self) -> bool:
        """A 5xx answer or no answer at all: never acceptable, whatever the test."""
        return self.status == ERROR


class _ServerFailureError(Exception):
    """The endpoint answered 5xx or not at all."""


class _WrongAnswerError(Exception):
    """The endpoint answered, wrongly."""


@dataclass
class _Client:
    http: httpx.Client
    endpoint: str
    strict_literals: bool = False
    statuses: list[int] = field(default_factory=list)

    def send(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        try:
            resp = self.http.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise _ServerFailureError(f"{type(exc).__name__}: {exc}") from exc
        self.statuses.append(resp.status_code)
        if resp.status_code >= 500:
            raise _ServerFailureError(f"HTTP {resp.status_code}: {resp.text[:300]}")
        return resp

    def query(
        self, query: str, accept: str, default: Sequence[str], named: Sequence[str]
    ) -> httpx.Response:
        form: list[tuple[str, str]] = [("query", query)]
        form += [("default-graph-uri", g) for g in default]
        form += [("named-graph-uri", g) for g in named]
        headers = {"Accept": accept, "Content-Type": "application/x-www-form-urlencoded"}
        return self.send("POST", self.endpoint, content=urlencode(form), headers=headers)


def _expect_2xx(resp: httpx.Response) -> None:
    if not 200 <= resp.status_code < 300:
        raise _WrongAnswerError(f"HTTP {resp.status_code}: {resp.text[:300]}")


def _with_base(query: str, iri: str) -> str:
    return f"BASE <{iri}>\n{query}"


# --- query evaluation ---------------------------------------------------------------------


def _expected(test: QueryTest) -> tuple[Answer | None, str]:
    """The expected answer (None for CSV, compared as text) and the media type to ask for."""
    suffix = test.result.suffix
    text = test.result.read_text(encoding="utf-8")
    if suffix == ".srx":
        return parse_xml(text), XML
    if suffix == ".srj":
        return parse_json(text), JSON
    if suffix == ".tsv":
        return parse_tsv(text), TSV
    if suffix == ".csv":
        return None, CSV
    g = parse_graph(test.result, test.result_iri)
    table = parse_rs_graph(g)
    if table is not None:
        return table, XML
    return Answer(graph=g), f"{NTRIPLES}, {TURTLE};q=0.9"


def _csv_terms(rows: list[dict[str, str]]) -> list[Row]:
    """CSV cells as comparable terms: ``_:x`` stays a blank node, everything else a string."""
    return [
        {k: (("bnode", v[2:]) if v.startswith("_:") else ("csv", v)) for k, v in r.items() if v}
        for r in rows
    ]


def _run_query(client: _Client, test: QueryTest) -> str:
    query = test.query.read_text(encoding="utf-8")
    expected, accept = _expected(test)
    if _DATASET_CLAUSE.search(strip_comments(query)):
        default: list[str] = []  # the query names its own dataset (FROM / FROM NAMED)
        named: list[str] = []
    else:
        default = [f.graph for f in test.default_graphs] or [EMPTY_GRAPH]
        named = [f.graph for f in test.named_graphs]
    resp = client.query(_with_base(query, test.query_iri), accept, default, named)
    _expect_2xx(resp)
    ctype = resp.headers.get("content-type", "")
    ordered = has_top_level_order_by(query)
    if expected is None:  # CSV: compare the header and the cells as text
        if media_type(ctype) != CSV:
            raise _WrongAnswerError(f"asked for text/csv, got {ctype!r}")
        try:
            got_head, got_rows = csv_rows(resp.text)
        except ResultsError as exc:
            raise _WrongAnswerError(str(exc)) from exc
        want_head, want_rows = csv_rows(test.result.read_text(encoding="utf-8"))
        if set(got_head) != set(want_head):  # SELECT * leaves the column order open
            raise _WrongAnswerError(f"CSV header {got_head} != {want_head}")
        if not rows_match(_csv_terms(want_rows), _csv_terms(got_rows), ordered):
            raise _WrongAnswerError(
                f"CSV rows differ: {len(want_rows)} expected, {len(got_rows)} returned"
            )
        return ""
    wanted = accept.split(",")[0].strip()
    if expected.graph is None and media_type(ctype) != wanted:
        raise _WrongAnswerError(f"asked for {wanted}, got {ctype!r}")
    try:
        actual = parse_answer(resp.text, ctype)
    except ResultsError as exc:
        raise _WrongAnswerError(f"unreadable answer: {exc}") from exc
    diff = answers_differ(expected, actual, ordered, not client.strict_literals)
    if diff is not None:
        raise _WrongAnswerError(diff + _show(expected, actual))
    return ""


def _show(expected: Answer, actual: Answer) -> str:
    """The rows only one side has (numbers canonical, blank nodes shown as they are)."""
    if expected.rows is None or actual.rows is None:
        return ""
    want = Counter(_key(r) for r in canonical_numbers(expected.rows))
    got = Counter(_key(r) for r in canonical_numbers(actual.rows))

    def fmt(rows: Counter[str]) -> str:
        shown = sorted(rows.elements())
        return "; ".join(shown[:4]) + (" …" if len(shown) > 4 else "")

    return f" — only expected: [{fmt(want - got)}] only returned: [{fmt(got - want)}]"


def _key(row: Row) -> str:
    return "{" + ", ".join(f"{k}={_term(v)}" for k, v in sorted(row.items())) + "}"


def _term(t: tuple[str, ...]) -> str:
    if t[0] == "iri":
        return f"<{t[1]}>"
    if t[0] == "bnode":
        return f"_:{t[1]}"
    lex, dt, lang = t[1], t[2], t[3]
    if lang:
        return f'"{lex}"@{lang}'
    return f'"{lex}"^^<{dt.rsplit("#", 1)[-1]}>'


# --- syntax -----------------------------------------------------------------------------


def _run_syntax(client: _Client, test: SyntaxTest) -> str:
    query = test.query.read_text(encoding="utf-8")
    resp = client.query(
        _with_base(query, test.query_iri), f"{JSON}, {TURTLE};q=0.9", [EMPTY_GRAPH], []
    )
    if test.positive:
        _expect_2xx(resp)
    elif resp.status_code != 400:
        raise _WrongAnswerError(f"negative syntax test answered {resp.status_code}, not 400")
    return ""


# --- protocol ---------------------------------------------------------------------------


def _protocol_url(endpoint: str, path: str) -> str:
    parts = urlsplit(endpoint)
    if not path.startswith("/sparql/"):
        raise _WrongAnswerError(f"request path {path!r} does not start with /sparql/")
    rest = path[len("/sparql/") :]
    return f"{parts.scheme}://{parts.netloc}{parts.path}{rest}"


def _check_format(req: ProtocolRequest, resp: httpx.Response) -> None:
    ctype = resp.headers.get("content-type", "")
    mt = media_type(ctype)
    if req.expected_format == "tabular" and mt == CSV:
        csv_rows(resp.text)
        return
    try:
        answer = parse_answer(resp.text, ctype)
    except ResultsError as exc:
        raise _WrongAnswerError(f"expected {req.expected_format} results: {exc}") from exc
    if answer.kind != req.expected_format:
        raise _WrongAnswerError(
            f"expected {req.expected_format} results, got {answer.kind} ({ctype})"
        )
    if req.expected_boolean is not None and answer.boolean != req.expected_boolean:
        raise _WrongAnswerError(f"expected {req.expected_boolean}, got {answer.boolean}")


def _run_protocol(client: _Client, test: ProtocolTest) -> str:
    for req in test.requests:
        body = None if req.body is None else req.body.encode(req.body_encoding)
        resp = client.send(
            req.method,
            _protocol_url(client.endpoint, req.path),
            content=body,
            headers=dict(req.headers),
        )
        status_class = resp.status_code // 100
        if req.is_update and 2 in req.expected_status:
            # A read-only endpoint must refuse the update: 4xx, never 2xx (executed) nor 5xx.
            if status_class == 4:
                return f"update refused with HTTP {resp.status_code}"
            raise _WrongAnswerError(
                f"update answered HTTP {resp.status_code} on a read-only endpoint"
            )
        if status_class not in req.expected_status:
            want = "/".join(f"{c}xx" for c in sorted(req.expected_status))
            raise _WrongAnswerError(
                f"{req.method} {req.path[:60]}: HTTP {resp.status_code}, expected {want}"
            )
        if req.expected_format is not None and status_class == 2:
            _check_format(req, resp)
    return ""


# --- service description ----------------------------------------------------------------

_SD_LANGUAGES = {SD.SPARQL10Query, SD.SPARQL11Query, SD.SPARQL11Update}


def _sd_schema_problems(g: rdflib.Graph, service: rdflib.term.Node) -> list[str]:
    """Checks of the SD vocabulary's domains and ranges that a description must respect."""
    problems = []
    if not any(isinstance(e, rdflib.URIRef) for e in g.objects(service, SD.endpoint)):
        problems.append("sd:Service without an IRI sd:endpoint")
    langs = set(g.objects(service, SD.supportedLanguage))
    if not langs:
        problems.append("sd:Service without sd:supportedLanguage")
    problems += [f"unknown sd:supportedLanguage {x}" for x in langs - _SD_LANGUAGES]
    for prop in (
        SD.feature,
        SD.resultFormat,
        SD.inputFormat,
        SD.extensionFunction,
        SD.extensionAggregate,
        SD.languageExtension,
        SD.propertyFeature,
    ):
        problems += [
            f"{prop.fragment} value {o!r} is not a resource"
            for o in g.objects(None, prop)
            if isinstance(o, rdflib.Literal)
        ]
    for ds in g.objects(None, SD.defaultDataset):
        if isinstance(ds, rdflib.Literal):
            problems.append("sd:defaultDataset is a literal")
        for gr in g.objects(ds, SD.defaultGraph):
            if isinstance(gr, rdflib.Literal):
                problems.append("sd:defaultGraph is a literal")
        for ng in g.objects(ds, SD.namedGraph):
            names = list(g.objects(ng, SD.name))
            if len(names) != 1 or not isinstance(names[0], rdflib.URIRef):
                problems.append(f"sd:NamedGraph {ng} needs exactly one IRI sd:name")
    for prop in (SD.defaultEntailmentRegime, SD.entailmentRegime):
        problems += [
            f"{prop.fragment} value {o!r} is not an IRI"
            for o in g.objects(None, prop)
            if not isinstance(o, rdflib.URIRef)
        ]
    return problems


def _run_service_description(client: _Client, test: ServiceDescriptionTest) -> str:
    resp = client.send("GET", client.endpoint, headers={"Accept": _RDF_ACCEPT})
    _expect_2xx(resp)
    ctype = resp.headers.get("content-type", "")
    try:
        answer = parse_answer(resp.text, ctype, base=client.endpoint)
    except ResultsError as exc:
        raise _WrongAnswerError(f"bare GET did not answer RDF: {exc}") from exc
    g = answer.graph
    if g is None:
        raise _WrongAnswerError(f"bare GET answered {answer.kind} results, not RDF ({ctype})")
    services = list(g.subjects(rdflib.RDF.type, SD.Service))
    if test.check == "returns-rdf":
        return ""
    if not services:
        raise _WrongAnswerError("no sd:Service in the description")
    if test.check == "has-endpoint-triple":
        endpoints = {str(e) for s in services for e in g.objects(s, SD.endpoint)}
        if client.endpoint not in endpoints:
            raise _WrongAnswerError(
                f"sd:endpoint {sorted(endpoints)} does not include {client.endpoint}"
            )
        return ""
    problems = [p for s in services for p in _sd_schema_problems(g, s)]
    if problems:
        raise _WrongAnswerError("; ".join(problems))
    return ""


# --- driver -----------------------------------------------------------------------------


def run_test(
    http: httpx.Client, endpoint: str, test: Test, *, strict_literals: bool = False
) -> Outcome:
    """Run one test against ``endpoint`` and say how it went."""
    client = _Client(http=http, endpoint=endpoint, strict_literals=strict_literals)
    outcome = Outcome(iri=test.iri, suite=test.suite, name=test.name, status=PASS)
    try:
        if isinstance(test, QueryTest):
            detail = _run_query(client, test)
        elif isinstance(test, SyntaxTest):
            detail = _run_syntax(client, test)
        elif isinstance(test, ProtocolTest):
            detail = _run_protocol(client, test)
            if detail:
                outcome.status = REFUSED
        else:
            detail = _run_service_description(client, test)
        outcome.detail = detail
    except _ServerFailureError as exc:
        outcome.status, outcome.detail = ERROR, str(exc)
    except _WrongAnswerError as exc:
        outcome.status, outcome.detail = FAIL, str(exc)
    except ResultsError as exc:  # the expected result itself is unreadable: a harness bug
        outcome.status, outcome.detail = ERROR, f"harness: {exc}"
    outcome.http_statuses = client.statuses
    return outcome


def run_suite(
    endpoint: str,
    tests: Iterable[Test],
    progress: Callable[[Outcome], None] | None = None,
    *,
    strict_literals: bool = False,
) -> list[Outcome]:
    """Run ``tests`` in order against ``endpoint``.

    ``strict_literals``: numbers must match by lexical form too, not only by value.
    """
    outcomes = []
    # Literals must be parsed as written everywhere in the run (see rdfio).
    with exact_literals(), httpx.Client(timeout=30.0, follow_redirects=False) as http:
        for test in tests:
            outcome = run_test(http, endpoint, test, strict_literals=strict_literals)
            outcomes.append(outcome)
            if progress is not None:
                progress(outcome)
    return outcomes


def _start(which: str, nquads: Path, workdir: Path) -> AbstractContextManager[Server]:
    if which == "oxigraph":
        return oxigraph_server(nquads, workdir)
    return kg_server(nquads, workdir)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m tests.w3c.runner", description=__doc__.split("\n")[0]
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--endpoint", action="append", help="query endpoint URL (repeatable)")
    where.add_argument(
        "--start",
        action="append",
        choices=["oxigraph", "kg"],
        help="start this server on 127.0.0.1 yourself (repeatable: runs side by side)",
    )
    where.add_argument("--write-data", type=Path, metavar="FILE.nq", help="only write the data")
    p.add_argument("--suite", action="append", help="suite folder name (repeatable; default all)")
    p.add_argument("--suite-dir", type=Path, default=DEFAULT_SUITE_DIR)
    p.add_argument("--only", metavar="TEXT", help="only tests whose IRI contains TEXT")
    p.add_argument(
        "--strict-literals",
        action="store_true",
        help="compare numbers by lexical form too (default: by value within their datatype)",
    )
    p.add_argument("--report", type=Path, metavar="FILE.md", help="write a Markdown report")
    p.add_argument("-v", "--verbose", action="store_true", help="print every test")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; exit status 1 when any test fails or errs."""
    args = _parse_args(argv)
    names = args.suite or suite_names(args.suite_dir)
    tests = load_suites(names, args.suite_dir)
    if args.only:
        tests = [t for t in tests if args.only in t.iri]
    if args.write_data is not None:
        n = write_nquads(tests, args.write_data)
        print(f"wrote {n} quads to {args.write_data}")
        return 0

    def progress(o: Outcome) -> None:
        if args.verbose or o.status in (FAIL, ERROR):
            detail = o.detail if args.verbose else o.detail[:300]
            print(f"{o.status:8} {o.iri}  {detail}", file=sys.stderr)

    def run(label: str, endpoint: str) -> None:
        started = time.monotonic()
        outcomes = run_suite(endpoint, tests, progress, strict_literals=args.strict_literals)
        print(f"== {label}: {len(outcomes)} tests in {time.monotonic() - started:.1f}s")
        for line in _summary(outcomes):
            print(line)
        runs[label] = outcomes

    runs: dict[str, list[Outcome]] = {}
    if args.endpoint is not None:
        for endpoint in args.endpoint:
            run(endpoint, endpoint)
    else:
        with tempfile.TemporaryDirectory(prefix="kg-w3c-") as tmp:
            nquads = Path(tmp) / "suite.nq"
            write_nquads(tests, nquads)
            for which in args.start:
                with _start(which, nquads, Path(tmp)) as server:
                    run(_LABELS[which], server.endpoint)
    if args.report is not None:
        causes = {e.iri: f"{e.category}: {e.cause}" for e in load_expected_failures().values()}
        args.report.write_text(render_markdown(runs, causes), encoding="utf-8")
    return 1 if any(o.status in (FAIL, ERROR) for os_ in runs.values() for o in os_) else 0


_LABELS = {"oxigraph": "oxigraph serve-read-only", "kg": "kg (api.app, /sparql)"}


def _summary(outcomes: list[Outcome]) -> Iterator[str]:
    by_suite: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_suite.setdefault(o.suite, []).append(o)
    for suite, os_ in by_suite.items():
        counts = {s: sum(1 for o in os_ if o.status == s) for s in (PASS, FAIL, REFUSED, ERROR)}
        yield f"{suite:20} " + "  ".join(f"{k}={v}" for k, v in counts.items() if v)


if __name__ == "__main__":
    raise SystemExit(main())
