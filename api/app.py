"""The application factory: ``uvicorn --factory api.app:create_app``.

Nothing happens at import time. :func:`create_app` wires settings, routers, CORS and the error
mapper; the lifespan opens the store (:func:`kg.store.factory.open_store`) and closes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.staticfiles import StaticFiles

from api.errors import install_error_handlers
from api.fastpath import SparqlFastPath
from api.pages import STATIC_DIR
from api.routers import maps, site, sparql
from api.state import BuildMeta, ServiceCache
from kg.config import Settings, get_settings
from kg.network.service import NetworkCache
from kg.store.base import Store

__all__ = ["EXPOSED_HEADERS", "create_app"]

#: Response headers a browser script may read cross-origin.
EXPOSED_HEADERS: Final = (
    "ETag",
    "Last-Modified",
    "Retry-After",
    "WWW-Authenticate",
    "X-KG-Rows",
    "X-KG-Truncated",
)


async def _open(settings: Settings) -> Store:
    # Imported here, not at module level: importing the app must not touch the engine.
    from kg.store.factory import open_store  # noqa: PLC0415

    return await open_store(settings)


def create_app(settings: Settings | None = None, *, store: Store | None = None) -> FastAPI:
    """Build the web app. ``store``: use this store (started and closed by the app) instead of
    opening the configured one — for tests and embedding."""
    settings = settings if settings is not None else get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if store is not None:
            await store.start()
            opened = store
        else:
            opened = await _open(settings)
        app.state.store = opened
        try:
            yield
        finally:
            app.state.store = None
            await opened.close()

    app = FastAPI(
        title="kg — Guangzhou–Qiannan cooperation knowledge graph",
        summary="SPARQL 1.1 endpoint over the 广黔协作 knowledge graph",
        lifespan=lifespan,
        # The bundled Swagger/ReDoc pages load scripts from a CDN: nothing remote here.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.store = None
    build_meta = BuildMeta(settings)
    app.state.build_meta = build_meta
    app.state.last_modified = build_meta.last_modified
    app.state.service_cache = ServiceCache()
    app.state.network_cache = NetworkCache(settings.ontology_dir / "queries")
    app.state.cache_control = sparql.cache_control(settings)
    install_error_handlers(app)
    # Added first, so it runs inside CORS: /sparql keeps its CORS handling.
    app.add_middleware(SparqlFastPath)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "HEAD", "POST", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=list(EXPOSED_HEADERS),
        max_age=600,
    )
    app.include_router(sparql.router)
    app.include_router(site.router)
    app.include_router(maps.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
