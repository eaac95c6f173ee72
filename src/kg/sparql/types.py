"""The narrow interface between kg and a SPARQL engine: query text in, serialised results out.

These types live in ``kg.sparql`` so that the dependency runs one way: ``kg.store`` (the
engines) imports ``kg.sparql`` (guard, serialisation, these types), never the reverse.
``kg.store.base`` re-exports them for callers that think of them as the store's interface.

Two implementations exist: :mod:`kg.store.embedded` (pyoxigraph in worker processes, each query
under a deadline) and :mod:`kg.store.remote` (any SPARQL 1.1 Protocol endpoint over HTTP).
Results cross the boundary already serialised (bytes in the requested media type), so the engine
does the fast part and nothing is parsed twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

__all__ = ["QueryRequest", "QueryResult", "ResultKind", "Store", "StoreInfo"]

#: What a query produced: ASK → boolean, SELECT → solutions, CONSTRUCT/DESCRIBE → graph.
ResultKind = Literal["boolean", "solutions", "graph"]


@dataclass(frozen=True)
class QueryRequest:
    """One read query, as the SPARQL 1.1 Protocol defines it."""

    query: str
    #: The media type the result must be serialised to. For SELECT/ASK one of
    #: application/sparql-results+json|+xml, text/csv, text/tab-separated-values; for
    #: CONSTRUCT/DESCRIBE one of text/turtle, application/n-triples, application/n-quads,
    #: application/trig, application/ld+json, application/rdf+xml. The store picks the
    #: matching one of ``accept`` for the query's kind (the first listed that fits).
    accept: tuple[str, ...] = ("application/sparql-results+json", "text/turtle")
    default_graph_uris: tuple[str, ...] = ()
    named_graph_uris: tuple[str, ...] = ()
    #: Seconds; ``None`` means the store's configured default.
    timeout: float | None = None
    #: At most this many solutions/triples; ``None`` means the configured cap.
    max_rows: int | None = None
    #: False only for kg's own queries that need every row (the search index): the configured
    #: row cap (``max_result_rows``) does not apply then, ``max_rows`` still does. No HTTP
    #: request sets it.
    row_cap: bool = True
    base_iri: str | None = None
    #: Who asks (the remote address): admission control counts queries per client.
    client: str | None = None


@dataclass(frozen=True)
class QueryResult:
    """A query's answer, serialised."""

    body: bytes
    media_type: str
    kind: ResultKind
    #: Solutions or triples in ``body`` (``None`` for ASK or when the store cannot tell).
    rows: int | None = None
    #: ``True`` when ``max_rows`` cut the answer short.
    truncated: bool = False


@dataclass(frozen=True)
class StoreInfo:
    """What the service description and VoID need to know about the store."""

    #: Changes whenever the data changes (a build id or content hash); drives ETags and caching.
    version: str
    engine: str
    named_graphs: tuple[str, ...] = field(default=())
    writable: bool = False
    #: The search index file ``kg build`` wrote for this version (kg.search), if there is one.
    search_index: str | None = None


@runtime_checkable
class Store(Protocol):
    """A SPARQL engine kg can query. Implementations must be safe to share across requests."""

    async def start(self) -> None:
        """Open the store (spawn workers, check the remote endpoint)."""

    async def close(self) -> None:
        """Release everything; queries after this raise StoreUnavailable."""

    async def info(self) -> StoreInfo:
        """Version, engine name, named graphs."""

    async def query(self, request: QueryRequest) -> QueryResult:
        """Run a read query under its deadline.

        Raises QuerySyntaxError, QueryTimeout, StoreUnavailable/StoreError (see kg.errors).
        """

    async def update(self, update: str, timeout: float | None = None) -> None:
        """Run a SPARQL Update (only called when updates are enabled by configuration)."""
