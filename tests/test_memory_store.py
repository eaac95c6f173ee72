"""The in-process test store (tests/fixtures/memory_store.py) answers as the embedded store does.

Most API tests run over :class:`MemoryStore` (no worker processes). They test kg only if it
runs kg's own serialisation, negotiation, caps and error mapping: here every answer and every
error of the fixture is compared with the embedded store's (worker processes) on the same data.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from kg.errors import KgError
from kg.sparql.results import GRAPH_MEDIA_TYPES, SOLUTION_MEDIA_TYPES
from kg.store.base import QueryRequest, QueryResult, Store
from kg.store.embedded import EmbeddedStore
from tests.fixtures.memory_store import MemoryStore
from tests.test_store import EX, G1, base_settings, write_data

Outcome = tuple[str, str, str, int | None, bool] | tuple[str, str, str]

#: pyoxigraph's blank node labels (random per load): numbered in order of appearance. They
#: are a 128-bit number in hex without leading zeros: usually 32 digits, sometimes fewer.
BNODE = re.compile(r"\b[0-9a-f]{20,32}\b")

SELECT = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p STR(?o)"
CONSTRUCT = f"PREFIX ex: <{EX}> CONSTRUCT {{ ?s ?p ?o }} WHERE {{ ?s ?p ?o }} ORDER BY ?s ?p ?o"

REQUESTS = [
    *(QueryRequest(SELECT, accept=(m,)) for m in SOLUTION_MEDIA_TYPES),
    *(QueryRequest(SELECT, accept=(m,), max_rows=3) for m in SOLUTION_MEDIA_TYPES),
    *(QueryRequest(CONSTRUCT, accept=(m,)) for m in GRAPH_MEDIA_TYPES),
    *(QueryRequest(CONSTRUCT, accept=(m,), max_rows=2) for m in GRAPH_MEDIA_TYPES),
    QueryRequest("ASK { ?s ?p ?o }"),
    QueryRequest("ASK { ?s ?p ?o }", accept=("application/sparql-results+xml",)),
    QueryRequest(f"DESCRIBE <{EX}a>", accept=("text/turtle",)),
    QueryRequest(f"SELECT * FROM <{G1}> WHERE {{ ?s ?p ?o }} ORDER BY ?s ?p STR(?o)"),
    QueryRequest("SELECT * WHERE { ?s ?p ?o } ORDER BY ?s", default_graph_uris=(G1,)),
    QueryRequest("SELECT * WHERE { GRAPH ?g { ?s ?p ?o } } ORDER BY ?g ?s", named_graph_uris=(G1,)),
    QueryRequest("SELECT ?x WHERE { BIND(<x> AS ?x) }", base_iri="http://base.example/"),
    # Errors: the same exception, code and message.
    QueryRequest("SELECT * WHERE { ?s ?p }"),
    QueryRequest("ASK {}", accept=("text/csv",)),
    QueryRequest(SELECT, accept=("text/turtle",)),
    QueryRequest("SELECT * WHERE " + "{" * 200 + "}" * 200),
    QueryRequest("INSERT DATA { <urn:a> <urn:b> <urn:c> }"),
    QueryRequest("SELECT * WHERE { SERVICE <http://elsewhere.example/sparql> { ?s ?p ?o } }"),
    QueryRequest(f"SELECT (<{EX}unknownFunction>(1) AS ?x) {{}}"),
]


async def outcome(store: Store, request: QueryRequest) -> Outcome:
    try:
        result: QueryResult = await store.query(request)
    except KgError as exc:
        return (type(exc).__name__, exc.code, exc.message)
    labels: dict[str, str] = {}
    body = BNODE.sub(lambda m: labels.setdefault(m[0], f"b{len(labels)}"), result.body.decode())
    return (body, result.media_type, result.kind, result.rows, result.truncated)


def test_memory_store_answers_and_fails_as_the_embedded_store(tmp_path: Path) -> None:
    nquads = write_data(tmp_path / "build")
    settings = base_settings(
        tmp_path, store="memory", dataset_file=nquads, query_workers=1, allow_unisolated=True
    )

    async def main() -> tuple[list[Outcome], list[Outcome]]:
        embedded, memory = EmbeddedStore(settings), MemoryStore(nquads, settings=settings)
        await embedded.start()
        await memory.start()
        try:
            expected = [await outcome(embedded, r) for r in REQUESTS]
            got = [await outcome(memory, r) for r in REQUESTS]
        finally:
            await embedded.close()
            await memory.close()
        return expected, got

    expected, got = asyncio.run(main())
    assert len({e[0] for e in expected if len(e) == 3}) >= 4  # the errors are errors
    for request, want, have in zip(REQUESTS, expected, got, strict=True):
        assert have == want, request
