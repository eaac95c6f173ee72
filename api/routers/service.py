"""The bare GET on ``/sparql``: the service description, or (for a browser) the query page."""

from __future__ import annotations

from typing import Final

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from api.state import Served
from api.urls import endpoint_url
from kg.config import Settings
from kg.errors import NotAcceptable
from kg.sparql.negotiation import rank
from kg.sparql.service_description import (
    DESCRIPTION_MEDIA_TYPES,
    EndpointFeatures,
    describe,
    serialize_description,
)

__all__ = ["describe_service"]

HTML: Final = "text/html"
_OFFERED: Final = (*DESCRIPTION_MEDIA_TYPES, HTML)


async def describe_service(request: Request, settings: Settings, served: Served) -> Response:
    """Service description in Turtle (default), RDF/XML, JSON-LD, N-Triples, or the query page."""
    choices = rank(request.headers.get("accept"), _OFFERED)
    if not choices:
        raise NotAcceptable(
            f"the service description is offered as {', '.join(_OFFERED)}", _OFFERED
        )
    media_type = choices[0]
    headers = {"Vary": "Accept"}  # CORSMiddleware appends Origin
    if media_type == HTML:
        # The editor lives at /query; a browser opening the endpoint's URL is sent there.
        return RedirectResponse("/query", status_code=303, headers=headers)
    store = served.store
    info = await store.info()
    endpoint = endpoint_url(request, settings)
    cache = served.service
    key = (endpoint, media_type)
    body = cache.body(info.version, key)
    if body is None:
        stats = await cache.statistics(store, settings, info)
        base = endpoint.rsplit("/sparql", 1)[0] + "/"
        # With updates applied the build's file is not the served data: no dump then.
        has_dump = served.dump is not None and not (served.updates and served.updates.changes)
        features = EndpointFeatures(
            endpoint=endpoint,
            dump_url=base + "dataset.nq" if has_dump else None,
            union_default_graph=settings.union_default_graph,
            allow_service=settings.allow_service,
            update_enabled=bool(settings.update_token),
        )
        body = serialize_description(describe(features, stats, settings), media_type)
        if stats is not None:
            cache.store_body(info.version, key, body)
    return Response(body, media_type=media_type, headers=headers)
