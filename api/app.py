"""The application factory: ``uvicorn --factory api.app:create_app``.

Nothing happens at import time. :func:`create_app` wires settings, routers, CORS, the security
headers and the error mapper into one typed context (``app.state.ctx``, :mod:`api.state`); the
lifespan opens the store (:func:`api.follow.open_served`), follows new builds while serving
(:func:`api.follow.follow`) and closes everything at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from api.errors import install_error_handlers
from api.headers import SecurityHeaders
from api.render import STATIC_DIR
from api.routers import (
    apidocs,
    health,
    home,
    maps,
    pages,
    query,
    reconcile,
    rest,
    site,
    sparql,
)
from api.routing import GetRoute
from api.state import AppContext, Served
from kg.config import Settings, get_settings
from kg.store.base import Store

__all__ = ["EXPOSED_HEADERS", "create_app"]

log = logging.getLogger("kg.api")

#: Response headers a browser script may read cross-origin.
EXPOSED_HEADERS: Final = (
    "ETag",
    "Last-Modified",
    "Retry-After",
    "WWW-Authenticate",
    "X-KG-Rows",
    "X-KG-Truncated",
)


async def _open(settings: Settings, store: Store | None) -> Served:
    # Imported here, not at module level: importing the app must not touch the engine.
    from api.follow import open_served, served_for  # noqa: PLC0415

    if store is None:
        return await open_served(settings)
    await store.start()
    return served_for(settings, store)


#: The files of the npm packages the pages load (and their source maps), nothing else: the
#: whole swagger-ui-dist folder held the stock Petstore page (index.html, whose script fetches
#: https://petstore.swagger.io/…) and oauth2-redirect.html, served from this origin.
VENDOR_FILES: Final = {
    "yasgui": frozenset({"yasgui.min.js", "yasgui.min.css", "yasgui.min.js.map"}),
    "swagger-ui": frozenset(
        {"swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-bundle.js.map", "swagger-ui.css.map"}
    ),
}


class VendorFiles(StaticFiles):
    """StaticFiles over a package folder that serves only ``allowed`` files (404 otherwise)."""

    def __init__(self, directory: Path, allowed: frozenset[str]) -> None:
        super().__init__(directory=directory, check_dir=False)
        self.allowed = allowed

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path not in self.allowed:
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)


def create_app(settings: Settings | None = None, *, store: Store | None = None) -> FastAPI:
    """Build the web app. ``store``: use this store (started and closed by the app) instead of
    opening the configured one — for tests and embedding (it is not switched to new builds)."""
    settings = settings if settings is not None else get_settings()
    ctx = AppContext(settings, sparql.cache_control(settings))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        from api.follow import follow  # noqa: PLC0415
        from kg.store.factory import follows_builds  # noqa: PLC0415

        served = await _open(settings, store)
        ctx.swap(served)
        log.info("serving %s (%s)", served.build_id or "a store without build", settings.store)
        follower: asyncio.Task[None] | None = None
        if store is None and follows_builds(settings) and settings.follow_interval > 0:
            follower = asyncio.create_task(follow(ctx, settings.follow_interval))
        try:
            yield
        finally:
            if follower is not None:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follower
            last = ctx.swap(None)
            if last is not None:
                await last.retire(0)

    app = FastAPI(
        title="kg — Guangzhou–Qiannan cooperation knowledge graph",
        summary="SPARQL 1.1 endpoint over the 广黔协作 knowledge graph",
        lifespan=lifespan,
        # The bundled Swagger/ReDoc pages load scripts from a CDN: nothing remote here.
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.ctx = ctx
    # HEAD wherever GET (the app's own routes too: /favicon.ico).
    app.router.route_class = GetRoute
    install_error_handlers(app)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "HEAD", "POST", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=list(EXPOSED_HEADERS),
        max_age=600,
    )
    # Added last, so it is outermost: preflights and CORS refusals get the headers too.
    app.add_middleware(SecurityHeaders)
    app.include_router(sparql.router)
    app.include_router(health.router)
    app.include_router(site.router)
    app.include_router(pages.router)
    app.include_router(home.router)
    app.include_router(rest.router)
    app.include_router(reconcile.router)
    app.include_router(query.router)
    app.include_router(apidocs.router)
    # Before /static: the npm packages' files (api/web/node_modules, installed by `make setup`).
    app.mount(
        "/static/vendor/yasgui",
        VendorFiles(query.YASGUI_BUILD, VENDOR_FILES["yasgui"]),
        name="vendor-yasgui",
    )
    app.mount(
        "/static/vendor/swagger-ui",
        VendorFiles(apidocs.SWAGGER_UI_DIST, VENDOR_FILES["swagger-ui"]),
        name="vendor-swagger-ui",
    )
    app.include_router(maps.router)

    # Browsers ask for /favicon.ico on pages that name no icon (the maps): answer with ours
    # rather than a 404 in their console.
    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
