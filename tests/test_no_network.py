"""No query reaches the network unless allowed: SERVICE, LOAD, FROM, FROM NAMED in every spelling.

A recording HTTP server on 127.0.0.1 counts every request it gets. Each hostile query is run
through the real stores (guard + workers, and guard + remote forwarding) and the server must
see nothing. The last tests prove the recorder works: with SERVICE allowed the same query
does reach it, and without the guard an isolated worker still cannot reach it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kg.config import Settings
from kg.errors import ForbiddenQuery, KgError, QuerySyntaxError
from kg.store.base import QueryRequest, Store
from kg.store.factory import open_store
from kg.store.messages import Answer, Failure, QueryJob, Reply
from kg.store.workers import WorkerConfig, WorkerPool
from tests.test_store import base_settings, write_data

_EMPTY_RESULTS = b'{"head":{"vars":["g","n"]},"results":{"bindings":[]}}'


class Recorder:
    """An HTTP server that counts requests and answers every one with empty SPARQL JSON."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        lock = threading.Lock()
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                with lock:
                    paths.append(self.path)
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                self.send_response(200)
                self.send_header("content-type", "application/sparql-results+json")
                self.send_header("content-length", str(len(_EMPTY_RESULTS)))
                self.end_headers()
                self.wfile.write(_EMPTY_RESULTS)

            do_GET = do_POST = _answer  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def count(self) -> int:
        return len(self.paths)


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    rec.thread.start()
    try:
        yield rec
    finally:
        rec.server.shutdown()
        rec.server.server_close()


def hostile_queries(url: str) -> list[str]:
    """SERVICE, FROM and FROM NAMED pointing at ``url``, in every spelling we could think of."""
    return service_queries(url) + from_queries(url)


def service_queries(url: str) -> list[str]:
    """SERVICE pointing at ``url``, in every spelling we could think of."""
    escaped_iri = "".join(f"\\u{ord(c):04X}" for c in f"{url}/sparql")
    return [
        f"SELECT * WHERE {{ SERVICE <{url}/sparql> {{ ?s ?p ?o }} }}",
        f"select * where {{ service <{url}/sparql> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ SERVICE SILENT <{url}/sparql> {{ ?s ?p ?o }} }}",
        f"PREFIX r: <{url}/> SELECT * WHERE {{ SERVICE r:sparql {{ ?s ?p ?o }} }}",
        f"BASE <{url}/> SELECT * WHERE {{ SERVICE <sparql> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ \\u0053ERVICE <{url}/sparql> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ \\U00000053\\U00000045RVICE <{url}/sparql> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ SERVICE <{escaped_iri}> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ SERVICE ?e {{ ?s ?p ?o }} VALUES ?e {{ <{url}/sparql> }} }}",
        f"SELECT * WHERE {{ VALUES ?e {{ <{url}/a> <{url}/b> }} SERVICE SILENT ?e {{ }} }}",
        f"SELECT * WHERE {{ {{ SELECT * WHERE {{ SERVICE <{url}/sparql> {{ ?s ?p ?o }} }} }} }}",
        f"ASK {{ FILTER EXISTS {{ SERVICE <{url}/sparql> {{ ?s ?p ?o }} }} }}",
        f"ASK {{ FILTER NOT EXISTS {{ SERVICE <{url}/sparql> {{ ?s ?p ?o }} }} }}",
        f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ OPTIONAL {{ SERVICE <{url}/q> {{ ?s ?p ?o }} }} }}",
        f"SELECT * WHERE {{ ?x ?y ?z }}SERVICE<{url}/sparql>{{?s ?p ?o}}",
        f"SELECT * WHERE {{ # comment\n SERVICE <{url}/sparql> {{ ?s ?p ?o }} }}",
    ]


def from_queries(url: str) -> list[str]:
    """FROM and FROM NAMED pointing at ``url``, in every spelling we could think of."""
    host, _, port = url.removeprefix("http://").partition(":")
    escaped_iri = "".join(f"\\u{ord(c):04X}" for c in f"{url}/sparql")
    return [
        f"SELECT * FROM <{url}/g> WHERE {{ ?s ?p ?o }}",
        f"select * from named <{url}/g> where {{ graph ?g {{ ?s ?p ?o }} }}",
        f"PREFIX r: <{url}/> SELECT * FROM r:g WHERE {{ ?s ?p ?o }}",
        f"BASE <{url}/> SELECT * FROM <g> WHERE {{ ?s ?p ?o }}",
        f"SELECT * FROM <{escaped_iri}> WHERE {{ ?s ?p ?o }}",
        f"SELECT * \\u0046ROM <http://{host}:{port}/g> WHERE {{ ?s ?p ?o }}",
        f"DESCRIBE <{url}/x> FROM <{url}/g>",
    ]


def hostile_updates(url: str) -> list[str]:
    return [
        f"LOAD <{url}/data.ttl>",
        f"load silent <{url}/data.ttl> into graph <http://example.org/g9>",
        f"\\u004COAD <{url}/data.ttl>",
        f"INSERT {{ ?s ?p ?o }} WHERE {{ SERVICE <{url}/sparql> {{ ?s ?p ?o }} }}",
        f"DELETE {{ ?s ?p ?o }} USING <{url}/g> WHERE {{ ?s ?p ?o }}",
    ]


def run_all(
    settings: Settings, queries: list[str], updates: list[str], recorder: Recorder
) -> tuple[list[KgError], list[str]]:
    """Errors of every query and update, and the requests the recorder saw meanwhile."""

    async def main() -> tuple[list[KgError], list[str]]:
        store: Store = await open_store(settings)
        errors: list[KgError] = []
        seen = recorder.count  # a remote store asks its endpoint for graphs when it starts
        try:
            for text in queries:
                try:
                    await store.query(QueryRequest(text, timeout=5.0))
                except KgError as exc:
                    errors.append(exc)
            for text in updates:
                try:
                    await store.update(text, timeout=5.0)
                except KgError as exc:
                    errors.append(exc)
        finally:
            await store.close()
        return errors, recorder.paths[seen:]

    return asyncio.run(main())


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_data(tmp_path_factory.mktemp("no-network"))


@pytest.mark.parametrize("kind", ["memory", "remote"])
def test_nothing_reaches_the_network(
    kind: str, recorder: Recorder, dataset: Path, tmp_path: Path
) -> None:
    if kind == "memory":
        settings = base_settings(
            tmp_path, store="memory", dataset_file=dataset, update_token="token"
        )
    else:
        # The recorder is the "remote endpoint" itself: after start, nothing may be forwarded.
        settings = base_settings(
            tmp_path,
            store="remote",
            remote_url=f"{recorder.url}/query",
            remote_update_url=f"{recorder.url}/update",
            update_token="token",
        )
    # The embedded engine never dereferences a graph name, so there FROM <unknown> is an empty
    # graph (answered, fetching nothing); a remote engine might fetch it, so there it is refused.
    refused = service_queries(recorder.url)
    if kind == "remote":
        refused += from_queries(recorder.url)
    queries = hostile_queries(recorder.url)
    updates = hostile_updates(recorder.url)
    errors, requests = run_all(settings, queries, updates, recorder)
    assert requests == []
    forbidden = [e for e in errors if isinstance(e, ForbiddenQuery)]
    assert len(forbidden) == len(refused) + len(updates), [e.message for e in errors]
    # Anything else may only be the engine rejecting \u-escaped keywords as a syntax error.
    others = [e for e in errors if not isinstance(e, ForbiddenQuery)]
    assert all(isinstance(e, QuerySyntaxError) for e in others), [e.message for e in others]
    assert len(others) <= 1


def test_pyoxigraph_never_dereferences_a_graph_name(recorder: Recorder) -> None:
    """The ground for answering FROM <unknown> with an empty graph in the embedded store:
    pyoxigraph itself, in this process (no guard, no network isolation), fetches nothing."""
    import pyoxigraph

    seen = recorder.count
    store = pyoxigraph.Store()
    for text in from_queries(recorder.url):
        try:
            assert list(store.query(text)) == []  # type: ignore[arg-type]
        except SyntaxError:
            assert "\\u0046ROM" in text  # pyoxigraph does not decode escapes in keywords
    named = pyoxigraph.NamedNode(f"{recorder.url}/g")
    assert list(store.query("SELECT * { ?s ?p ?o }", default_graph=[named])) == []  # type: ignore[arg-type]
    assert recorder.paths[seen:] == []


def test_the_recorder_counts_when_service_is_allowed(
    recorder: Recorder, dataset: Path, tmp_path: Path
) -> None:
    settings = base_settings(tmp_path, store="memory", dataset_file=dataset, allow_service=True)
    service = f"SELECT * WHERE {{ SERVICE <{recorder.url}/sparql> {{ }} }}"
    errors, requests = run_all(settings, [service], [], recorder)
    assert errors == []
    assert requests == ["/sparql"]


@pytest.mark.parametrize("isolate", [True, False])
def test_isolated_workers_cannot_reach_the_network(
    isolate: bool, recorder: Recorder, dataset: Path
) -> None:
    """Defence in depth: a SERVICE query sent straight to a worker, past the guard."""
    config = WorkerConfig("memory", dataset_file=str(dataset), isolate_network=isolate)
    message = QueryJob(
        f"SELECT * WHERE {{ SERVICE <{recorder.url}/sparql> {{ }} }}",
        ("application/sparql-results+json",),
        10,
    )

    async def main() -> tuple[Reply, str]:
        pool = WorkerPool(config, 1)
        await pool.start()
        try:
            header, _ = await pool.request(message, 30.0)
            return header, pool.network_status
        finally:
            await pool.close()

    before = recorder.count
    header, status = asyncio.run(main())
    if not isolate:
        assert isinstance(header, Answer)
        assert recorder.count == before + 1
        return
    # Kernels without (user) network namespaces: the worker says why, and the server logs it.
    assert status.startswith(("isolated", "not isolated: unshare failed")), status
    if status.startswith("isolated"):
        assert isinstance(header, Failure)
        assert recorder.count == before
