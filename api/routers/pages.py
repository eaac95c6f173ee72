"""A page at every IRI: ``/id/...`` (HTML, Turtle, JSON-LD, N-Triples, RDF/XML) and
``/ontology`` (the same formats).

Linked Data style: the IRI ``{base}id/division/522731`` is served at ``/id/division/522731``.
The format is chosen by extension (``.html``, ``.ttl``, ``.jsonld``, ``.nt``, ``.rdf``) or by the
``Accept`` header (a browser gets HTML; ``*/*`` too, so a cited URL opens as a page). An unknown
id is a 404: an HTML page for a browser, the JSON error body otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final
from urllib.parse import quote

import pyoxigraph as ox
from fastapi import APIRouter, Request
from starlette.responses import FileResponse, RedirectResponse, Response

from api.caching import cache_headers, etag, not_modified, wants_any
from api.deps import SettingsDep, StoreDep
from api.render import Links, render, templates_signature
from api.routing import GetRoute
from api.state import context_of
from kg.config import ONTOLOGY_NS, Settings
from kg.describe import (
    RDF_TYPE,
    Claim,
    ClaimKind,
    Description,
    Vocabulary,
    describe,
    describe_rdf,
    iri_for_path,
    serialize_triples,
)
from kg.errors import NotAcceptable, NotFound
from kg.sparql.negotiation import rank
from kg.sparql.service_description import DESCRIPTION_MEDIA_TYPES
from kg.store.base import Store

__all__ = ["FORMATS", "has_route", "page_context", "router", "vocabulary_of"]

router = APIRouter(route_class=GetRoute)

HTML: Final = "text/html"
#: Extension → media type, in the server's order of preference for ``*/*``.
FORMATS: Final[dict[str, str]] = {
    "html": HTML,
    "ttl": "text/turtle",
    "jsonld": "application/ld+json",
    "nt": "application/n-triples",
    "rdf": "application/rdf+xml",
}
#: The RDF ones: of an entity and of the ontology (``/ontology.rdf``).
RDF_FORMATS: Final[dict[str, str]] = {e: m for e, m in FORMATS.items() if m != HTML}
_FORMAT_NAMES: Final = {
    "html": "HTML",
    "ttl": "Turtle",
    "jsonld": "JSON-LD",
    "nt": "N-Triples",
    "rdf": "RDF/XML",
}
_LABEL: Final = "http://www.w3.org/2000/01/rdf-schema#label"
_TEXT: Final = ONTOLOGY_NS + "text"

_SECTIONS: Final[tuple[tuple[ClaimKind, str, str, str], ...]] = (
    ("pairing", "pairings", "Pairings 结对帮扶 (as helper and as recipient)", ""),
    (
        "unknown",
        "unknown",
        "No known partner 结对方未知",
        "No source known to kg names a partner at this level (or, where a number of unknown "
        "partners is given, which those partners are); the sentence below records that.",
    ),
    ("statistic", "statistics", "Statistics 统计", ""),
    ("event", "events", "Events 活动", ""),
    ("claim", "claims", "Other claims 其他陈述", ""),
)


async def vocabulary_of(request: Request, store: Store, settings: Settings) -> Vocabulary:
    return await context_of(request).current().vocabulary.get(store, settings)


def has_route(request: Request, prefix: str) -> bool:
    """Whether the app serves paths under ``prefix`` (maps and reconciliation come from
    other routers: pages link them only when they are there)."""
    return any(path.startswith(prefix) for path in _route_paths(request.app.router.routes))


def _route_paths(routes: Iterable[object]) -> Iterator[str]:
    # FastAPI keeps an included router as one _IncludedRouter entry (no .path of its own):
    # look inside it, or no router's path is ever found.
    for route in routes:
        path = getattr(route, "path", None)
        if isinstance(path, str):
            yield path
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _route_paths(getattr(inner, "routes", ()))


@dataclass(frozen=True)
class _NavLink:
    href: str
    text: str


def page_context(request: Request, links: Links, **extra: object) -> dict[str, object]:
    """What every page template needs: links, navigation, the search box's text."""
    nav = []
    if has_route(request, "/maps"):
        nav.append(_NavLink("/maps/", "Maps 地图"))
    if has_route(request, "/reconcile"):
        nav.append(_NavLink("/reconcile", "Reconcile"))
    context: dict[str, object] = {
        "links": links,
        "extra_nav": nav,
        "q": request.query_params.get("q", "")[:200],
        "RDF_TYPE": RDF_TYPE,
        "GQ": ONTOLOGY_NS,
    }
    context.update(extra)
    return context


def _choose(path: str, accept: str | None) -> tuple[str, str]:
    """(path without a format extension, media type)."""
    stem, dot, ext = path.rpartition(".")
    if dot and ext in FORMATS and "/" not in ext:
        return stem, FORMATS[ext]
    ranked = rank(accept, tuple(FORMATS.values()))
    if not ranked:
        offered = ", ".join(FORMATS.values())
        raise NotAcceptable(f"a resource is served as {offered}", tuple(FORMATS.values()))
    return path, ranked[0]


def not_found_page(request: Request, links: Links, message: str) -> Response:
    # Vary: Accept: a client asking for JSON gets the JSON error at the same URL.
    return render(
        "error.html",
        page_context(request, links, status=404, heading="Not found 未找到", message=message),
        status=404,
        headers={"Vary": "Accept"},
    )


_GROUP_SECTION: Final = {
    "id": "group-pairings",
    "title": "Pairings via a group 所在群体的结对",
    "note": (
        "Pairings of a group this resource is a member of, each of the group as a whole: the "
        "source does not say which member pairs with which, so no pairing of this resource "
        "itself follows from it."
    ),
}


def _sections(d: Description) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for kind, anchor, title, note in _SECTIONS:
        claims: list[Claim] = d.claims_of(kind)
        if claims:
            out.append({"id": anchor, "title": title, "note": note, "claims": claims})
        if kind == "pairing" and d.group_pairings:  # right after the resource's own
            out.append({**_GROUP_SECTION, "group_pairings": d.group_pairings})
    return out


def _alternates(path: str) -> list[dict[str, str]]:
    return [
        {"name": _FORMAT_NAMES[ext], "media_type": media, "href": f"/id/{path}.{ext}"}
        for ext, media in RDF_FORMATS.items()
    ]


def _link_header(path: str) -> str:
    """``Link`` to the RDF formats of the resource at ``path`` (``/id/…``, ``/ontology``)."""
    # Percent-encoded: a header value is Latin-1 without controls, a path may be any text
    # (an IRI with Chinese letters; a CR from %0D in the request).
    target = quote(path, safe="/:@!$&'()*+,;=~")
    return ", ".join(
        f'<{target}.{ext}>; rel="alternate"; type="{media}"' for ext, media in RDF_FORMATS.items()
    )


@router.api_route("/id/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
async def resource(path: str, request: Request, settings: SettingsDep, store: StoreDep) -> Response:
    stem, media_type = _choose(path, request.headers.get("accept"))
    # One answer per data version, resource, format and page code: revalidation is a 304.
    served = context_of(request).current()
    version = (await store.info()).version
    tag = etag(
        version, "id", stem, media_type, templates_signature(), str(has_route(request, "/maps"))
    )
    headers = {
        **cache_headers(request, tag, served.last_modified()),
        "Link": _link_header(f"/id/{stem}"),
    }
    if not_modified(request, tag):
        return Response(status_code=304, headers=headers)
    if media_type != HTML:
        iri = iri_for_path(settings, stem)
        body = await describe_rdf(store, settings, iri, media_type)
        if wants_any(request):  # If-None-Match: * and the resource exists
            return Response(status_code=304, headers=headers)
        charset = "; charset=utf-8" if media_type == "text/turtle" else ""
        return Response(body, media_type=media_type + charset, headers=headers)
    vocabulary = await vocabulary_of(request, store, settings)
    links = Links(settings, vocabulary)
    try:
        iri = iri_for_path(settings, stem)
        d = await describe(store, settings, iri, vocabulary)
    except NotFound as exc:
        return not_found_page(request, links, exc.message)  # no ETag: not a representation
    if wants_any(request):  # If-None-Match: * and the resource exists
        return Response(status_code=304, headers=headers)
    title = " · ".join([*d.labels("zh"), *d.labels("en")]) or links.short(d.iri)
    facts = [f for f in d.facts if f.property not in {RDF_TYPE, _LABEL, _TEXT}]
    texts = [f.value.term.value for f in d.facts if f.property == _TEXT]
    map_src = f"/maps/entity/{stem}" if has_route(request, "/maps/entity") else None
    context = page_context(
        request,
        links,
        d=d,
        title=title,
        facts=facts,
        text=texts[0] if texts else None,
        claim_sections=_sections(d),
        formats=_alternates(stem),
        map_src=map_src,
    )
    return render("resource.html", context, headers=headers)


#: Where the dataset and its named graphs are described: the service description at /sparql
#: (VoID: counts, partitions, each graph's triples), in these formats.
_DESCRIBED_IN: Final = (HTML, *DESCRIPTION_MEDIA_TYPES)


def _see_description(request: Request) -> Response:
    """303 to the description: /sparql for RDF, the home page (links, dumps) for a browser."""
    ranked = rank(request.headers.get("accept"), _DESCRIBED_IN)
    if not ranked:
        raise NotAcceptable(f"described as {', '.join(_DESCRIBED_IN)}", _DESCRIBED_IN)
    target = "/" if ranked[0] == HTML else "/sparql"
    return RedirectResponse(target, status_code=303, headers={"Vary": "Accept"})


@router.api_route("/dataset", methods=["GET", "HEAD"], include_in_schema=False)
async def dataset_iri(request: Request) -> Response:
    """``{base}dataset``, the VoID dataset of the service description, dereferences to it."""
    return _see_description(request)


@router.api_route("/graph/{name:path}", methods=["GET", "HEAD"], include_in_schema=False)
async def graph_iri(
    name: str, request: Request, settings: SettingsDep, store: StoreDep
) -> Response:
    """A named graph's IRI (``{base}graph/article``) dereferences to the description listing
    it (its ``sd:name``, ``void:triples``); a name that is no graph of the store is a 404."""
    iri = f"{settings.base_iri}graph/{name}"
    if iri not in (await store.info()).named_graphs:
        raise NotFound(f"no named graph <{iri}>; the graphs are listed at /sparql")
    return _see_description(request)


_ONTOLOGY_LINK: Final = _link_header("/ontology")


@router.api_route("/ontology", methods=["GET", "HEAD"], include_in_schema=False)
async def ontology(request: Request, settings: SettingsDep, store: StoreDep) -> Response:
    """Every term of the ontology on one page, each at ``/ontology#Term``; or the ontology in an
    RDF format by ``Accept`` (Protégé and rdflib ask for RDF/XML), like an entity's IRI."""
    offered = (HTML, *RDF_FORMATS.values())
    ranked = rank(request.headers.get("accept"), offered)
    if not ranked:
        raise NotAcceptable(f"the ontology is served as {', '.join(offered)}", offered)
    if ranked[0] != HTML:
        return _ontology_file(request, settings, ranked[0])
    vocabulary = await vocabulary_of(request, store, settings)
    links = Links(settings, vocabulary)
    ours = sorted(
        (t for t in vocabulary.terms.values() if t.iri.startswith(ONTOLOGY_NS) and t.local_name),
        key=lambda t: t.local_name,
    )
    groups: dict[str, list[object]] = {}
    for term in ours:
        groups.setdefault(_term_group(term.types), []).append(term)
    order = ["Classes 类", "Properties 属性", "Concepts 概念", "Other terms 其他"]
    context = page_context(
        request,
        links,
        groups=[(name, groups[name]) for name in order if name in groups],
        ontology_ns=ONTOLOGY_NS,
    )
    return render("ontology.html", context, headers={"Vary": "Accept", "Link": _ONTOLOGY_LINK})


def _term_group(types: tuple[str, ...]) -> str:
    joined = " ".join(types)
    if "Class" in joined:
        return "Classes 类"
    if "Property" in joined:
        return "Properties 属性"
    if "Concept" in joined:
        return "Concepts 概念"
    return "Other terms 其他"


@router.api_route("/ontology.{ext}", methods=["GET", "HEAD"], include_in_schema=False)
async def ontology_as(ext: str, request: Request, settings: SettingsDep) -> Response:
    if ext not in RDF_FORMATS:
        raise NotFound(
            f"no ontology as .{ext}; available: " + ", ".join(f"/ontology.{e}" for e in RDF_FORMATS)
        )
    return _ontology_file(request, settings, RDF_FORMATS[ext])


def _ontology_file(request: Request, settings: Settings, media_type: str) -> Response:
    path = settings.ontology_dir / "gq.ttl"
    if not path.is_file():
        raise NotFound(f"the ontology file {path} is not installed with this copy of kg")
    # Vary: /ontology answers HTML or RDF at one URL (the Turtle lacked it: a shared cache
    # could hand the Turtle to a browser).
    headers = {"Vary": "Accept", "Link": _ONTOLOGY_LINK}
    stat = path.stat()
    # A tag of the file's version and the format: every format revalidates to a 304.
    headers["ETag"] = etag(f"{stat.st_mtime_ns}-{stat.st_size}", media_type, settings.base_iri)
    if not_modified(request, headers["ETag"], exists=True):
        return Response(status_code=304, headers=headers)
    if media_type == "text/turtle":  # the file as written, comments included
        return FileResponse(path, media_type="text/turtle; charset=utf-8", headers=headers)
    body = _ontology_in(path, stat.st_mtime_ns, stat.st_size, media_type, settings.base_iri)
    return Response(body, media_type=media_type, headers=headers)


@lru_cache(maxsize=8)
def _ontology_in(path: Path, mtime_ns: int, size: int, media_type: str, base_iri: str) -> bytes:
    """The ontology file in another RDF format (once per version of the file)."""
    del mtime_ns, size  # part of the cache key only
    triples = [
        ox.Triple(q.subject, q.predicate, q.object)
        for q in ox.parse(path=path, format=ox.RdfFormat.TURTLE)
    ]
    return serialize_triples(triples, media_type, base_iri)
