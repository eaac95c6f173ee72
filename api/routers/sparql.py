"""``/sparql``: the SPARQL 1.1 Protocol query operation (and a refusing or token-gated update).

The route parses the protocol (:mod:`api.protocol`), negotiates the format, answers 304 to a
matching ``If-None-Match`` without running anything, else runs the query on the store and
renders the already-serialised answer with caching headers. Every store runs
:func:`kg.sparql.guard.check` before its parser sees the text (and a cache hit was guarded when
first computed), so the guard is not run twice here. A bare GET answers the service
description (:mod:`api.routers.service`).
"""

from __future__ import annotations

import hmac
import re
from typing import Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.caching import cache_headers, etag, not_modified, wants_any
from api.protocol import Operation, parse_operation
from api.routers.service import describe_service
from api.routing import GetRoute
from api.state import AppContext, Served, context_of
from api.urls import endpoint_url, public_base
from kg.config import Settings
from kg.errors import BadParameter, UpdateNotAllowed, UpdateUnauthorized
from kg.sparql.negotiation import SPARQL_JSON, TURTLE, n3_requested, negotiate
from kg.store.base import QueryRequest, QueryResult, StoreInfo

__all__ = ["LIMITS_DOC", "cache_control", "etag_for", "router", "sparql"]

router = APIRouter(route_class=GetRoute)

#: Where truncation is explained; linked from truncated SPARQL JSON answers.
LIMITS_DOC: Final = "docs/endpoint#limits"
_HEAD_OPEN = re.compile(rb'\A\s*\{\s*"head"\s*:\s*\{')


def etag_for(version: str, op: Operation, accept: tuple[str, ...]) -> str:
    """A weak ETag for one query on one store version in one negotiated format."""
    return etag(version, op.text, *op.default_graph_uris, "|", *op.named_graph_uris, "|", *accept)


def cache_control(settings: Settings) -> str:
    """The Cache-Control value for answers that only change with the data."""
    max_age = settings.http_cache_max_age
    return f"public, max-age={max_age}"


def _with_link(body: bytes, base_url: str) -> bytes:
    """Add ``"link": [docs]`` to the head of a SPARQL JSON answer (cheap: no re-parse)."""
    match = _HEAD_OPEN.match(body[:256])
    if match is None:
        return body
    link = f'"link":["{base_url}{LIMITS_DOC}"],'.encode()
    end = match.end()
    closing = body[end:].lstrip()[:1]
    if closing == b"}":
        link = link[:-1]
    return body[:end] + link + body[end:]


def _render(
    result: QueryResult,
    headers: dict[str, str],
    base_url: str,
    n3: bool = False,
) -> Response:
    body = result.body
    # Turtle is N3: a client that asked for N3 gets it under the name it knows.
    media_type = "text/n3" if n3 and result.media_type == TURTLE else result.media_type
    if result.rows is not None:
        headers["X-KG-Rows"] = str(result.rows)
    if result.truncated:
        headers["X-KG-Truncated"] = "true"
        if result.media_type == SPARQL_JSON:
            body = _with_link(body, base_url)
    return Response(body, media_type=media_type, headers=headers)


async def _update(request: Request, op: Operation, ctx: AppContext) -> Response:
    settings = ctx.settings
    token = settings.update_token
    if not token:
        raise UpdateNotAllowed(
            "this endpoint is read-only: SPARQL Update is disabled "
            "(set the update_token setting, KG_UPDATE_TOKEN, to enable it)"
        )
    given = request.headers.get("authorization", "")
    scheme, _, credentials = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        credentials.strip().encode(), token.encode()
    ):
        raise UpdateUnauthorized("SPARQL Update needs 'Authorization: Bearer <update token>'")
    if op.using_graph_uris or op.using_named_graph_uris:
        raise BadParameter(
            "using-graph-uri / using-named-graph-uri are not supported; use USING in the update"
        )
    # The lock keeps a build switch from losing this update (see api.follow).
    async with ctx.update_lock, ctx.use() as served:
        await served.store.update(op.text, timeout=settings.query_timeout)
    return Response(status_code=204)


async def _query(request: Request, op: Operation, settings: Settings, served: Served) -> Response:
    store = served.store
    info: StoreInfo = await store.info()
    accept = negotiate(request.headers.get("accept"), op.format)
    tag = etag_for(info.version, op, accept)
    headers = cache_headers(request, tag, served.last_modified())
    if not_modified(request, tag):
        return Response(status_code=304, headers=headers)
    result = await store.query(
        QueryRequest(
            query=op.text,
            accept=accept,
            default_graph_uris=op.default_graph_uris,
            named_graph_uris=op.named_graph_uris,
            # The protocol lets the service define the base IRI; ours is the endpoint's URL,
            # so relative IRIs such as <s> resolve instead of failing to parse.
            base_iri=endpoint_url(request, settings),
            client=request.client.host if request.client else None,
        )
    )
    if wants_any(request):  # If-None-Match: * and the query has an answer
        return Response(status_code=304, headers=headers)
    n3 = n3_requested(request.headers.get("accept"), op.format)
    return _render(result, headers, public_base(request, settings), n3)


async def sparql(request: Request) -> Response:
    """SPARQL 1.1 Protocol: GET ?query=, POST form, POST application/sparql-query."""
    ctx = context_of(request)
    settings = ctx.settings
    ctx.current()  # 503 before reading a body when there is nothing to serve
    op = await parse_operation(request, settings.max_request_bytes)
    if op.kind == "update":
        return await _update(request, op, ctx)
    async with ctx.use() as served:
        if op.kind == "describe":
            return await describe_service(request, settings, served)
        return await _query(request, op, settings, served)


# Plain Starlette routes, not FastAPI endpoints: no dependency solving or validation on the
# hot path (the route parses the protocol itself). GET implies HEAD.
router.add_route("/sparql", sparql, methods=["GET", "POST"], include_in_schema=False)
router.add_route("/sparql/", sparql, methods=["GET", "POST"], include_in_schema=False)
