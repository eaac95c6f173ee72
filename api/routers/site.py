"""The small routes around the endpoint: data dumps, endpoint docs."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from pathlib import Path
from typing import Final

import pyoxigraph as ox
from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response

from api.caching import cache_headers, etag, not_modified
from api.deps import ServedDep, SettingsDep
from api.routing import GetRoute
from api.schemas import ERROR_RESPONSES
from kg.config import project_root
from kg.errors import NotFound

__all__ = ["router"]

router = APIRouter(route_class=GetRoute)

#: Dump extensions → (pyoxigraph format, media type).
DUMP_FORMATS: Final[dict[str, tuple[ox.RdfFormat, str]]] = {
    "nq": (ox.RdfFormat.N_QUADS, "application/n-quads"),
    "trig": (ox.RdfFormat.TRIG, "application/trig"),
}


@lru_cache(maxsize=2)
def _converted(source: Path, version: str, target: ox.RdfFormat) -> bytes:
    """The dump file re-serialised in another quad format (once per store version)."""
    del version  # part of the cache key only
    data = ox.serialize(ox.parse(path=source), format=target)
    assert data is not None
    return data


@router.get(
    "/dataset.{ext}",
    summary="Dump of the served dataset (N-Quads or TriG)",
    responses={404: ERROR_RESPONSES[404], 406: ERROR_RESPONSES[406], 503: ERROR_RESPONSES[503]},
)
async def dataset(ext: str, request: Request, settings: SettingsDep, served: ServedDep) -> Response:
    if ext not in DUMP_FORMATS:
        raise NotFound(
            f"no dump as .{ext}; available: " + ", ".join(f"/dataset.{e}" for e in DUMP_FORMATS)
        )
    if served.updates is not None and served.updates.changes:
        # The build's file does not hold the updates: a stale dump would be a wrong answer.
        raise NotFound(
            f"no dump: the served data is build {served.build_id} with "
            f"{served.updates.changes} update(s) applied; use CONSTRUCT queries on /sparql"
        )
    info = await served.store.info()
    source = served.dump
    if source is None or not source.is_file():
        raise NotFound(
            "no dump is available: the data is served from a remote SPARQL endpoint "
            "(store=remote); ask its operator for a dump"
            if settings.store == "remote"
            else f"the dump file {source} does not exist (run `kg build`)"
        )
    fmt, media_type = DUMP_FORMATS[ext]
    tag = etag(info.version, "dump", ext)
    headers = cache_headers(request, tag, served.last_modified())
    if not_modified(request, tag, exists=True):  # the dump file is there
        return Response(status_code=304, headers=headers)
    try:
        source_format = ox.RdfFormat.from_extension(source.suffix.lstrip("."))
    except ValueError:
        source_format = None
    if source_format == fmt:
        return FileResponse(source, media_type=media_type, headers=headers)
    body = await asyncio.to_thread(_converted, source, info.version, fmt)
    return Response(body, media_type=media_type, headers=headers)


@lru_cache(maxsize=1)
def _endpoint_doc() -> bytes | None:
    path = project_root() / "docs" / "endpoint.md"
    try:
        return path.read_bytes()
    except OSError:
        return None


@router.get(
    "/docs/endpoint",
    summary="The endpoint documentation (Markdown)",
    response_class=Response,
    responses={
        200: {"content": {"text/markdown": {"schema": {"type": "string"}}}},
        404: ERROR_RESPONSES[404],
    },
)
async def endpoint_doc() -> Response:
    doc = _endpoint_doc()
    if doc is None:
        raise NotFound("docs/endpoint.md is not installed with this copy of kg")
    return Response(doc, media_type="text/markdown")
