"""The URLs clients reach the API under (``settings.public_url`` wins over the request's)."""

from __future__ import annotations

import functools

from starlette.datastructures import URL
from starlette.requests import Request

from kg.config import Settings

__all__ = ["endpoint_url", "public_base"]


@functools.lru_cache(maxsize=256)
def _base_of(scheme: str, server: tuple[str, int] | None, host: bytes | None, root: str) -> str:
    """Starlette's ``request.base_url`` for these scope values (it rebuilds and re-parses the
    whole URL on every request; a server sees few distinct hosts: bounded cache)."""
    headers = [(b"host", host)] if host is not None else []
    path = root if root.endswith("/") else root + "/"
    scope = {"scheme": scheme, "server": server, "path": path, "query_string": b"",
             "headers": headers}  # fmt: skip
    return str(URL(scope=scope))


def public_base(request: Request, settings: Settings) -> str:
    """The API's external base URL, ending with '/'."""
    if settings.public_url:
        return settings.public_url.rstrip("/") + "/"
    scope = request.scope
    host = None
    for key, value in scope["headers"]:
        if key == b"host":
            host = value
            break
    server = scope.get("server")
    root = scope.get("app_root_path", scope.get("root_path", ""))
    return _base_of(scope.get("scheme", "http"), tuple(server) if server else None, host, root)


def endpoint_url(request: Request, settings: Settings) -> str:
    """The URL of the endpoint as called (``/sparql`` or ``/sparql/``), without the query."""
    # request.url.path, without building the whole URL (query string included) to split it.
    path: str = request.scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    return public_base(request, settings) + path.lstrip("/")
