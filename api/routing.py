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
from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from kg.errors import BadParameter

__all__ = ["GetRoute", "allowed_methods", "known_parameters_only"]

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


#: Query parameters every route takes besides its own: jQuery's cache buster (``cache: false``).
_ALWAYS: Final = frozenset({"_"})


def known_parameters_only(request: Request) -> None:
    """A router dependency: a query parameter the route does not declare (in its OpenAPI) is a
    BadParameter (422) naming the ones it takes, on ``/api/``. A misspelt filter
    (``?partyy=惠水``) used to be ignored, and the whole unfiltered list came back as if it were
    the answer. Routes outside the OpenAPI, pages, and ``named_query`` (its parameters are the
    query's) are not checked."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema:
        return
    if not route.path_format.startswith("/api/"):
        return  # pages (/maps/…) are opened from shared links that gain ?utm_…, ?fbclid=…
    if route.name == "named_query":
        return
    operation = request.app.openapi()["paths"].get(route.path_format, {})
    method = "get" if request.method == "HEAD" else request.method.lower()
    declared = {
        p["name"] for p in operation.get(method, {}).get("parameters", ()) if p["in"] == "query"
    }
    unknown = sorted(set(request.query_params) - declared - _ALWAYS)
    if unknown:
        takes = ", ".join(sorted(declared)) or "none"
        raise BadParameter(
            f"unknown parameter {unknown[0]!r} (this route takes: {takes})"
            if len(unknown) == 1
            else f"unknown parameters {', '.join(map(repr, unknown))} (this route takes: {takes})"
        )
