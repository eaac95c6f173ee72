"""A diagnostic server: kg's web app over the engine called in-process, with no worker pool.

``uvicorn --factory bench.inprocess:create_app`` with the usual ``KG_*`` settings. The store
below queries a read-only pyoxigraph store directly on the event loop: no guard, no pipe to a
worker, no cache, no deadline. It is NOT safe to serve (a long query blocks everything); it
exists to split the time of kg's /sparql into "web layer" (this server) and "web layer + worker
round trip" (the real one), measured on the same data by ``bench.run --servers kg-inprocess``.
"""

from __future__ import annotations

from typing import Any

import pyoxigraph as ox
from api.app import create_app as create_kg_app
from fastapi import FastAPI

from kg.config import Settings, get_settings
from kg.store.base import QueryRequest, QueryResult, ResultKind, StoreInfo

__all__ = ["InProcessStore", "create_app"]

_SOLUTION_FORMATS = {
    "application/sparql-results+json": ox.QueryResultsFormat.JSON,
    "application/sparql-results+xml": ox.QueryResultsFormat.XML,
    "text/csv": ox.QueryResultsFormat.CSV,
    "text/tab-separated-values": ox.QueryResultsFormat.TSV,
}
_GRAPH_FORMATS = {
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
}


class InProcessStore:
    """The narrowest honest Store: pyoxigraph in this process, results serialised natively."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        path = settings.store_path or settings.current_build.resolve() / "store"
        self._path = str(path)
        self._store: Any = None

    async def start(self) -> None:
        self._store = ox.Store.read_only(self._path)

    async def close(self) -> None:
        self._store = None

    async def info(self) -> StoreInfo:
        return StoreInfo(version=self._path, engine=f"pyoxigraph {ox.__version__} in-process")

    async def query(self, request: QueryRequest) -> QueryResult:
        result = self._store.query(
            request.query, use_default_graph_as_union=self._settings.union_default_graph
        )
        if isinstance(result, ox.QuerySolutions | ox.QueryBoolean):
            media = next(m for m in (*request.accept, "application/sparql-results+json")
                         if m in _SOLUTION_FORMATS)  # fmt: skip
            body = result.serialize(format=_SOLUTION_FORMATS[media])
            kind: ResultKind = "boolean" if isinstance(result, ox.QueryBoolean) else "solutions"
            return QueryResult(body=body or b"", media_type=media, kind=kind)
        media = next(m for m in (*request.accept, "text/turtle") if m in _GRAPH_FORMATS)
        body = ox.serialize(result, format=_GRAPH_FORMATS[media])
        return QueryResult(body=body or b"", media_type=media, kind="graph")

    async def update(self, update: str, timeout: float | None = None) -> None:
        raise NotImplementedError("the diagnostic store is read-only")


def create_app() -> FastAPI:
    settings = get_settings()
    return create_kg_app(settings, store=InProcessStore(settings))
