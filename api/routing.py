"""Routes that answer HEAD wherever they answer GET, and the ``Allow`` list of a path.

HTTP says a server that answers GET answers HEAD too (RFC 9110, 9.1): uptime monitors, link
checkers and download managers send HEAD, and ``curl -I`` is how people look at headers.
Starlette's plain routes add HEAD to GET by themselves; FastAPI's ``APIRoute`` does not, so
``@router.get`` alone made every REST, reconciliation, map and dump route a 405 on HEAD.
Adding "HEAD" to ``APIRoute.methods`` would also add a ``head`` operation (with a duplicate
operation id) to the OpenAPI of each; :class:`GetRoute` instead matches HEAD where it has GET
and leaves ``methods``, hence the OpenAPI, as declared. The request keeps its method, so a
``FileResponse`` sends headers only, and uvicorn sends no body for HEAD.

Every router of the app is an ``APIRouter(route_class=GetRoute)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

__all__ = ["GetRoute", "allowed_methods"]

#: The order methods are listed in ``Allow``.
_ORDER: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _serves_head(route: APIRoute, scope: Scope) -> bool:
    return scope["method"] == "HEAD" and route.methods is not None and "GET" in route.methods


class GetRoute(APIRoute):
    """An ``APIRoute`` that answers HEAD like GET (headers only)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is Match.PARTIAL and _serves_head(self, scope):
            return Match.FULL, child
        return match, child

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _serves_head(self, scope):
            await self.app(scope, receive, send)
            return
        await super().handle(scope, receive, send)


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> str:
    """``Allow`` for the request's path: each method some route serves there, in a fixed order,
    and OPTIONS (empty when no route serves the path).

    Starlette's 405 names the methods of the first route on the path only (GET for
    /reconcile, whose POST is another route), in set order; this asks every route, by the
    router's own matching, about each method. Static files answer GET and HEAD.
    """
    # Inside a Mount (static files) the scope's root_path has grown by the mount's path: match
    # from the app's own root, as the router did.
    root = scope.get("app_root_path", scope.get("root_path", ""))
    allowed: list[str] = []
    for method in _ORDER:
        probe = {**scope, "method": method, "root_path": root}
        for route in routes:
            if route.matches(probe)[0] is not Match.FULL:
                continue
            if isinstance(route, Mount) and isinstance(route.app, StaticFiles):
                return "GET, HEAD, OPTIONS"
            allowed.append(method)
            break
    if allowed:
        allowed.append("OPTIONS")  # answered with this list (api.errors), or as CORS preflight
    return ", ".join(allowed)
