"""The URLs clients reach the API under (``settings.public_url`` wins over the request's)."""

from __future__ import annotations

from starlette.requests import Request

from kg.config import Settings

__all__ = ["endpoint_url", "public_base"]


def public_base(request: Request, settings: Settings) -> str:
    """The API's external base URL, ending with '/'."""
    if settings.public_url:
        return settings.public_url.rstrip("/") + "/"
    return str(request.base_url)


def endpoint_url(request: Request, settings: Settings) -> str:
    """The URL of the endpoint as called (``/sparql`` or ``/sparql/``), without the query."""
    return public_base(request, settings) + request.url.path.lstrip("/")
