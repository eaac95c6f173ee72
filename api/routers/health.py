"""``/health``: the served build and version, and whether the store can answer right now.

Each call runs a tiny query that reads the data (``ontology/queries/store-probe.rq``) on the
store under the result cache, with a short deadline: a store whose files are gone or whose
workers cannot start answers 503, never "ok".
"""

from __future__ import annotations

import json
from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.routing import GetRoute
from api.state import Served, context_of
from kg.errors import KgError
from kg.queries import get_query
from kg.store.base import QueryRequest, Store

__all__ = ["router"]

router = APIRouter(route_class=GetRoute)

#: Seconds the probe may take (at most the query timeout).
PROBE_TIMEOUT: Final = 5.0


def _uncached(store: Store) -> Store:
    """The store under the result cache (a cached probe would prove nothing)."""
    inner = getattr(store, "inner", None)
    return inner if isinstance(inner, Store) else store


def _describe(served: Served) -> dict[str, Any]:
    body: dict[str, Any] = {"build": served.build_id}
    if served.updates is not None:
        body["updates"] = served.updates.changes
    return body


@router.get(
    "/health",
    summary="The served build and version; 503 when the store cannot answer a probe query",
)
async def health(request: Request) -> Response:
    ctx = context_of(request)
    settings = ctx.settings
    status, body = 200, {"status": "ok"}
    try:
        async with ctx.use() as served:
            info = await served.store.info()
            body |= {"engine": info.engine, "version": info.version, **_describe(served)}
            probe = get_query("store-probe", settings.ontology_dir / "queries").text
            await _uncached(served.store).query(
                QueryRequest(probe, timeout=min(PROBE_TIMEOUT, settings.query_timeout))
            )
    except KgError as exc:
        status, body = 503, {**body, "status": "unavailable", "error": exc.message}
    if ctx.follow_error is not None:
        body["follow_error"] = ctx.follow_error
    headers = {"Cache-Control": "no-store"}
    if status == 503:
        headers["Retry-After"] = "5"
    payload = json.dumps(body, ensure_ascii=False).encode()
    return Response(payload, status, headers=headers, media_type="application/json")
