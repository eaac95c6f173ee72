"""The same store tests against every backend: memory and on-disk (pyoxigraph in worker
processes) and remote (a real ``oxigraph serve-read-only`` on 127.0.0.1).

Each test opens the store through :func:`kg.store.factory.open_store` (cache off) inside its
own event loop, so the three backends go through exactly the code the API uses.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pyoxigraph as ox
import pytest

from kg.config import Settings
from kg.errors import (
    ForbiddenQuery,
    KgError,
    NotAcceptable,
    QuerySyntaxError,
    QueryTooComplex,
    StoreUnavailable,
)
from kg.sparql.results import GRAPH_MEDIA_TYPES, SOLUTION_MEDIA_TYPES
from kg.store.base import QueryRequest, QueryResult, Store
from kg.store.factory import open_store
from tests.support.servers import oxigraph_server

T = TypeVar("T")

EX = "http://example.org/"
G1 = f"{EX}g1"
G2 = f"{EX}g2"
DATA = """
@prefix ex: <http://example.org/> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
ex:g1 {
  ex:a ex:p "α"@el , 1 , ex:b .
  ex:b ex:p "two\\nlines" , "x"^^ex:dt .
}
ex:g2 {
  ex:c ex:p _:n .
  _:n ex:q 3.5 .
}
"""
#: Every triple above, whatever its graph.
ALL_TRIPLES = 7
G1_TRIPLES = 5


class LoopThread:
    """An event loop in a thread: a store opened once serves a whole test module."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout=120)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


@dataclass
class Backend:
    name: str
    settings: Settings
    runner: LoopThread | None = None
    store: Store | None = None


def write_data(folder: Path) -> Path:
    """The test data as N-Quads (what `kg build` writes)."""
    folder.mkdir(parents=True, exist_ok=True)
    nquads = folder / "dataset.nq"
    ox.serialize(ox.parse(DATA, format=ox.RdfFormat.TRIG), str(nquads), ox.RdfFormat.N_QUADS)
    return nquads


def base_settings(tmp: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "var_dir": tmp / "var",
        "query_workers": 2,
        # One heavy-lane worker: small pools start fast on a shared machine.
        "heavy_queries": 1,
        "query_timeout": 20.0,
        "max_result_rows": 1000,
        "cache_entries": 0,
        "union_default_graph": True,
        "allow_service": False,
        "allow_remote_from": False,
        "update_token": None,
    }
    values.update(overrides)
    return Settings(**values)


def disk_store(folder: Path, nquads: Path) -> Path:
    """An on-disk pyoxigraph store with a manifest, as a build leaves it."""
    store_dir = folder / "store"
    store = ox.Store(str(store_dir))
    store.bulk_load(path=str(nquads), format=ox.RdfFormat.N_QUADS)
    store.flush()
    del store
    (folder / "manifest.json").write_text(json.dumps({"build_id": "test-build-1"}))
    return store_dir


@pytest.fixture(scope="module", params=["memory", "disk", "remote"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    tmp = tmp_path_factory.mktemp(f"store-{request.param}")
    nquads = write_data(tmp / "build")
    if request.param == "memory":
        yield from opened(
            Backend("memory", base_settings(tmp, store="memory", dataset_file=nquads))
        )
    elif request.param == "disk":
        store_dir = disk_store(tmp / "build", nquads)
        yield from opened(
            Backend("disk", base_settings(tmp, store="embedded", store_path=store_dir))
        )
    else:
        with oxigraph_server(nquads, tmp / "oxigraph", union_default_graph=True) as url:
            yield from opened(Backend("remote", base_settings(tmp, store="remote", remote_url=url)))


def opened(backend: Backend) -> Iterator[Backend]:
    """Open the backend's store once, in its own loop thread; close it at the end."""
    runner = LoopThread()
    backend.runner = runner
    backend.store = runner.run(open_store(backend.settings))
    try:
        yield backend
    finally:
        runner.run(backend.store.close())
        runner.close()


def query(backend: Backend, text: str, **options: Any) -> QueryResult:
    assert backend.runner is not None
    assert backend.store is not None
    return backend.runner.run(backend.store.query(QueryRequest(text, **options)))


def failure(backend: Backend, text: str, **options: Any) -> KgError:
    with pytest.raises(KgError) as caught:
        query(backend, text, **options)
    return caught.value


def solutions_of(result: QueryResult) -> list[dict[str, str]]:
    """Rows of any SELECT answer, each as variable → N-Triples-ish text."""
    if result.media_type == "text/csv":
        return list(csv.DictReader(io.StringIO(result.body.decode("utf-8"), newline="")))
    fmt = SOLUTION_MEDIA_TYPES[result.media_type]
    parsed = ox.parse_query_results(result.body, fmt)
    assert isinstance(parsed, ox.QuerySolutions)
    names = [v.value for v in parsed.variables]
    return [{n: str(s[n]) for n in names if s[n] is not None} for s in parsed]


SELECT_ALL = "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"


@pytest.mark.parametrize("media_type", list(SOLUTION_MEDIA_TYPES))
def test_select_in_every_format(backend: Backend, media_type: str) -> None:
    result = query(backend, SELECT_ALL, accept=(media_type,))
    assert result.media_type == media_type
    assert result.kind == "solutions"
    assert (result.rows, result.truncated) == (ALL_TRIPLES, False)
    rows = solutions_of(result)
    assert len(rows) == ALL_TRIPLES
    if media_type == "text/csv":
        # CSV carries plain values: the literal's text, without quotes, language or datatype.
        assert {"s": f"{EX}a", "p": f"{EX}p", "o": "α"} in rows
        assert {"s": f"{EX}b", "p": f"{EX}p", "o": "two\nlines"} in rows
    else:
        assert {"s": f"<{EX}a>", "p": f"<{EX}p>", "o": '"α"@el'} in rows
        assert {"s": f"<{EX}b>", "p": f"<{EX}p>", "o": f'"x"^^<{EX}dt>'} in rows


def test_select_json_is_w3c_json(backend: Backend) -> None:
    result = query(backend, f"SELECT ?o WHERE {{ <{EX}a> ?p ?o }} ORDER BY STR(?o)")
    document = json.loads(result.body)
    assert document["head"]["vars"] == ["o"]
    bindings = [b["o"] for b in document["results"]["bindings"]]
    assert {"type": "literal", "value": "α", "xml:lang": "el"} in bindings
    integer = "http://www.w3.org/2001/XMLSchema#integer"
    assert {"type": "literal", "value": "1", "datatype": integer} in bindings
    assert {"type": "uri", "value": f"{EX}b"} in bindings


@pytest.mark.parametrize(
    ("media_type", "true_body"),
    [
        ("application/sparql-results+json", b'"boolean":true'),
        ("application/sparql-results+xml", b"<boolean>true</boolean>"),
    ],
)
def test_ask(backend: Backend, media_type: str, true_body: bytes) -> None:
    yes = query(backend, f"ASK {{ <{EX}a> ?p ?o }}", accept=(media_type,))
    no = query(backend, f"ASK {{ <{EX}nobody> ?p ?o }}", accept=(media_type,))
    assert (yes.kind, yes.media_type, yes.rows) == ("boolean", media_type, None)
    assert true_body in yes.body
    assert true_body.replace(b"true", b"false") in no.body


@pytest.mark.parametrize("media_type", ["text/csv", "text/tab-separated-values"])
def test_ask_as_csv_or_tsv_is_not_acceptable(backend: Backend, media_type: str) -> None:
    error = failure(backend, "ASK {}", accept=(media_type,))
    assert isinstance(error, NotAcceptable)
    assert "application/sparql-results+json" in error.offered


CONSTRUCT_NAMED = "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o FILTER(!isBlank(?o) && !isBlank(?s)) }"


@pytest.mark.parametrize("media_type", list(GRAPH_MEDIA_TYPES))
def test_construct_in_every_format(backend: Backend, media_type: str) -> None:
    result = query(backend, f"PREFIX ex: <{EX}> {CONSTRUCT_NAMED}", accept=(media_type,))
    assert (result.kind, result.media_type) == ("graph", media_type)
    assert (result.rows, result.truncated) == (5, False)
    parsed = {
        (str(q.subject), str(q.predicate), str(q.object))
        for q in ox.parse(result.body, GRAPH_MEDIA_TYPES[media_type])
    }
    assert len(parsed) == 5
    assert (f"<{EX}a>", f"<{EX}p>", '"α"@el') in parsed
    assert (f"<{EX}b>", f"<{EX}p>", '"two\\nlines"') in parsed


def test_construct_turtle_uses_the_query_prefixes(backend: Backend) -> None:
    result = query(backend, f"PREFIX ex: <{EX}> {CONSTRUCT_NAMED}", accept=("text/turtle",))
    assert b"@prefix ex: <http://example.org/>" in result.body
    assert b"ex:a ex:p" in result.body


def test_describe(backend: Backend) -> None:
    result = query(backend, f"DESCRIBE <{EX}b>", accept=("application/n-triples",))
    assert result.kind == "graph"
    assert result.rows == 2


def test_default_graph_is_the_union(backend: Backend) -> None:
    assert query(backend, SELECT_ALL).rows == ALL_TRIPLES


def test_from_in_the_query_picks_one_graph(backend: Backend) -> None:
    result = query(backend, f"SELECT * FROM <{G1}> WHERE {{ ?s ?p ?o }}")
    assert result.rows == G1_TRIPLES


def test_protocol_default_graph(backend: Backend) -> None:
    assert query(backend, SELECT_ALL, default_graph_uris=(G2,)).rows == 2


def test_protocol_named_graphs(backend: Backend) -> None:
    text = "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }"
    rows = solutions_of(query(backend, text, named_graph_uris=(G1,)))
    assert rows == [{"g": f"<{G1}>"}]
    # Only named graphs given: the default graph of that dataset is empty.
    assert query(backend, SELECT_ALL, named_graph_uris=(G1,)).rows == 0


@pytest.mark.parametrize("media_type", list(SOLUTION_MEDIA_TYPES))
def test_select_is_capped(backend: Backend, media_type: str) -> None:
    result = query(backend, SELECT_ALL, accept=(media_type,), max_rows=3)
    assert (result.rows, result.truncated) == (3, True)
    assert len(solutions_of(result)) == 3


def test_cap_equal_to_the_answer_is_not_truncation(backend: Backend) -> None:
    result = query(backend, SELECT_ALL, max_rows=ALL_TRIPLES)
    assert (result.rows, result.truncated) == (ALL_TRIPLES, False)


def test_construct_is_capped(backend: Backend) -> None:
    result = query(backend, CONSTRUCT_NAMED, accept=("application/n-triples",), max_rows=2)
    assert (result.rows, result.truncated) == (2, True)
    assert result.body.count(b"\n") == 2


def test_syntax_error_has_the_parsers_position(backend: Backend) -> None:
    error = failure(backend, "SELECT * WHERE { ?s ?p }")
    assert isinstance(error, QuerySyntaxError)
    assert "1:" in error.message


def test_deep_nesting_is_refused_before_the_parser(backend: Backend) -> None:
    text = "SELECT * WHERE " + "{" * 100_000 + "}" * 100_000
    error = failure(backend, text)
    assert isinstance(error, QueryTooComplex)
    assert "max_query_depth" in error.message


def test_unknown_from_graph(backend: Backend) -> None:
    """Embedded: an unknown graph is empty (pyoxigraph fetches nothing). Remote: refused, since
    some engines dereference FROM."""
    text = "SELECT * FROM <http://elsewhere.example/g> WHERE { ?s ?p ?o }"
    if backend.name == "remote":
        error = failure(backend, text)
        assert isinstance(error, ForbiddenQuery)
        assert "allow_remote_from" in error.message
    else:
        assert solutions_of(query(backend, text)) == []


def test_info(backend: Backend) -> None:
    assert backend.runner is not None
    assert backend.store is not None
    info = backend.runner.run(backend.store.info())
    assert info.version
    assert set(info.named_graphs) == {G1, G2}
    assert info.writable is False
    if backend.name == "disk":
        assert info.version == "test-build-1"


def test_closed_store_is_unavailable(backend: Backend) -> None:
    async def main() -> None:
        store = await open_store(backend.settings)
        await store.close()
        with pytest.raises(StoreUnavailable):
            await store.query(QueryRequest("ASK {}"))

    asyncio.run(main())


def test_memory_store_without_dataset_is_a_clear_error(tmp_path: Path) -> None:
    settings = base_settings(tmp_path, store="memory", dataset_file=tmp_path / "missing.nq")
    with pytest.raises(StoreUnavailable, match=r"missing\.nq"):
        asyncio.run(open_store(settings))


def test_disk_store_without_build_is_a_clear_error(tmp_path: Path) -> None:
    settings = base_settings(tmp_path, store="embedded")
    with pytest.raises(StoreUnavailable, match="kg build"):
        asyncio.run(open_store(settings))


def test_remote_store_down_is_unavailable(tmp_path: Path) -> None:
    from tests.support.servers import free_port

    url = f"http://127.0.0.1:{free_port()}/query"
    settings = base_settings(tmp_path, store="remote", remote_url=url)
    with pytest.raises(StoreUnavailable, match="cannot reach"):
        asyncio.run(open_store(settings))
