"""``/reconcile``: the W3C Reconciliation API (0.2) for OpenRefine.

``GET /reconcile`` answers the service manifest; ``queries=<json>`` (GET parameter or POST
form field, as OpenRefine sends it) a batch of queries; ``/preview?id=`` a small HTML card
(every text escaped); ``/suggest/{entity,type,property}?prefix=`` the suggest services. JSONP
(``callback=``) is refused with a message: browsers reach this service through CORS.

OpenRefine shows the preview in an ``<iframe>`` of its own page (http://127.0.0.1:3333, another
origin): the site-wide ``frame-ancestors 'self'`` made the browser refuse it, so the preview
carries its own policy (:data:`PREVIEW_CSP`), framable by the origins CORS allows (a card with
no script, form or link: nothing to click-jack), and no inline style.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from typing import Annotated, Any, Final
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from api.deps import SettingsDep, StoreDep
from api.protocol import read_body
from api.routing import GetRoute
from api.schemas import ERROR_RESPONSES
from api.urls import public_base
from kg.errors import BadParameter, NotFound
from kg.reconcile import (
    manifest,
    parse_batch,
    reconcile_batch,
    suggest_entities,
    suggest_properties,
    suggest_types,
)
from kg.search import index_for

__all__ = ["router"]

router = APIRouter(
    route_class=GetRoute,
    prefix="/reconcile",
    tags=["Reconciliation (OpenRefine)"],
    responses=ERROR_RESPONSES,
)

_FORM: Final = "application/x-www-form-urlencoded"
_MAX_BODY: Final = 1_000_000
_QUERIES_DOC: Final = (
    'A JSON object of queries: {"q0": {"query": "惠水", "type": "gq:County", "limit": 3}}'
)
_BATCH_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            _FORM: {
                "schema": {
                    "type": "object",
                    "properties": {"queries": {"type": "string", "description": _QUERIES_DOC}},
                    "required": ["queries"],
                }
            }
        },
    }
}
_BATCH_RESPONSE: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "the manifest, or {key: {result: [candidates]}} for a batch",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def _refuse_jsonp(callback: str | None) -> None:
    if callback is not None:
        raise BadParameter(
            "parameter 'callback': JSONP is not supported; this service allows CORS, "
            "so call it with a plain GET or POST"
        )


async def _answer(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    queries: str | None,
    single: str | None,
) -> Response:
    base = settings.base_iri
    if queries is not None:
        batch = parse_batch(queries)
        answer = await reconcile_batch(store, batch, base)
        body = {k: {"result": [c.model_dump() for c in v["result"]]} for k, v in answer.items()}
        return JSONResponse(body)
    if single is not None:  # the oldest protocol form: one query, one result list
        batch = parse_batch(
            single if single.lstrip().startswith("{") else f'{{"q": {_quote(single)}}}'
        )
        answer = await reconcile_batch(store, {"q": batch[next(iter(batch))]}, base)
        return JSONResponse({"result": [c.model_dump() for c in answer["q"]["result"]]})
    service = public_base(request, settings) + "reconcile"
    return JSONResponse(manifest(service, public_base(request, settings), base))


def _quote(text: str) -> str:
    return json.dumps(text)


@router.get("", responses=_BATCH_RESPONSE, summary="Service manifest, or a batch of queries")
async def reconcile_get(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    *,
    queries: Annotated[str | None, Query(description=_QUERIES_DOC, max_length=_MAX_BODY)] = None,
    query: Annotated[str | None, Query(description="one query (old form)", max_length=2000)] = None,
    callback: Annotated[str | None, Query(description="JSONP: refused", max_length=200)] = None,
) -> Response:
    _refuse_jsonp(callback)
    return await _answer(request, store, settings, queries, query)


@router.post(
    "",
    responses=_BATCH_RESPONSE,
    openapi_extra=_BATCH_BODY,
    summary="A batch of queries (form field 'queries', as OpenRefine sends it)",
)
async def reconcile_post(request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await read_body(request, _MAX_BODY)
    if content_type not in {_FORM, ""}:
        raise BadParameter(f"send the queries as {_FORM} (queries=<json>), not {content_type}")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise BadParameter("the form is not valid UTF-8") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key in fields:
            raise BadParameter(f"parameter {key!r} given more than once")
        fields[key] = value
    _refuse_jsonp(fields.get("callback"))
    if "queries" not in fields and "query" not in fields:
        raise BadParameter("parameter 'queries' is missing (queries=<json>)")
    return await _answer(request, store, settings, fields.get("queries"), fields.get("query"))


@router.get(
    "/preview",
    response_class=HTMLResponse,
    summary="A small HTML card of one entity (for OpenRefine's preview)",
)
async def preview(
    store: StoreDep,
    settings: SettingsDep,
    id: Annotated[str, Query(min_length=1, max_length=500, examples=["division/522731"])],
) -> Response:
    index = await index_for(store, settings.base_iri)
    entry = index.entry(settings.base_iri + "id/" + id.removeprefix("id:"))
    if entry is None:
        raise NotFound(f"no entity {id[:80]!r}")
    kinds = ", ".join(sorted(t.rsplit("#", 1)[-1] for t in entry.types if "gq-kg/ontology#" in t))
    lines = [
        f"<strong>{html.escape(entry.label_zh or entry.iri)}</strong>",
        html.escape(entry.label_en or ""),
        html.escape(kinds),
        f"code {html.escape(entry.code)}" if entry.code else "",
        f"<code>{html.escape(entry.iri)}</code>",
    ]
    body = "<br>".join(x for x in lines if x)
    page = (
        '<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>'
        f"{html.escape(entry.label_zh or entry.iri)}</title><style>{_PREVIEW_STYLE}</style>"
        f"</head><body>{body}</body></html>"
    )
    return HTMLResponse(
        page, headers={"Content-Security-Policy": _preview_policy(settings.cors_origins)}
    )


#: The card's only style, allowed by its hash (no inline style attribute: the CSP refuses
#: those, and Chromium logged the refusal on every card).
_PREVIEW_STYLE: Final = "body{font-family:sans-serif;font-size:13px;margin:4px}"
_PREVIEW_STYLE_HASH: Final = base64.b64encode(
    hashlib.sha256(_PREVIEW_STYLE.encode()).digest()
).decode()
_ORIGIN: Final = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+")
#: The preview's policy without its frame-ancestors: nothing but the page and its one style.
PREVIEW_CSP: Final = (
    f"default-src 'none'; style-src 'sha256-{_PREVIEW_STYLE_HASH}'; base-uri 'none'; "
    "form-action 'none'"
)


def _preview_policy(cors_origins: list[str]) -> str:
    """PREVIEW_CSP, framable by whoever may call the service (``cors_origins``): OpenRefine
    shows the card in an iframe of its own page, another origin, which the site's
    ``frame-ancestors 'self'`` refused. A configured value that is no origin is left out
    rather than breaking the header."""
    if "*" in cors_origins:
        return f"{PREVIEW_CSP}; frame-ancestors *"
    origins = [o.rstrip("/") for o in cors_origins if _ORIGIN.fullmatch(o.rstrip("/"))]
    ancestors = " ".join(["'self'", *origins])
    return f"{PREVIEW_CSP}; frame-ancestors {ancestors}"


_PREFIX = Annotated[str, Query(max_length=200, description="the text typed so far")]
_CURSOR = Annotated[int, Query(ge=0, le=1000)]


@router.get("/suggest/entity", summary="Entities whose name starts with (or contains) a prefix")
async def suggest_entity(
    store: StoreDep, settings: SettingsDep, prefix: _PREFIX = "", cursor: _CURSOR = 0
) -> dict[str, list[dict[str, str]]]:
    if not prefix.strip():
        return {"result": []}
    found = await suggest_entities(store, prefix, settings.base_iri, limit=cursor + 10)
    return {"result": found[cursor:]}


@router.get("/suggest/type", summary="Classes whose name starts with a prefix")
async def suggest_type(
    store: StoreDep, settings: SettingsDep, prefix: _PREFIX = "", cursor: _CURSOR = 0
) -> dict[str, list[dict[str, str]]]:
    found = await suggest_types(store, prefix, settings.base_iri, limit=cursor + 10)
    return {"result": found[cursor:]}


@router.get("/suggest/property", summary="Properties a query may use (the division code)")
async def suggest_property(
    prefix: _PREFIX = "", cursor: _CURSOR = 0
) -> dict[str, list[dict[str, str]]]:
    return {"result": suggest_properties(prefix)[cursor:]}
