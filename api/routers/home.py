"""The home page and the competency questions: the everyday answers at a glance.

``/``: the district ↔ county table (a county without a known partner says "unknown", with the
sentence that records it when the graph has one), the aggregate pairing levels, counts by class,
and links to everything else. ``/cq`` lists the competency questions; ``/cq/{name}`` shows one:
its question, its SPARQL and its answer, run live through the store. ``/search?q=`` is the
search box's page (no JavaScript needed), over :func:`kg.search.search`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pyoxigraph as ox
from fastapi import APIRouter, Request
from starlette.responses import Response

from api.deps import SettingsDep, StoreDep
from api.render import Links, period_bound, render
from api.routers.pages import has_route, not_found_page, page_context, vocabulary_of
from api.routing import GetRoute
from kg.answers import Answer, answer
from kg.config import ONTOLOGY_NS, Settings
from kg.describe import Value
from kg.errors import BadParameter, DataError, UnknownQuery
from kg.queries import NamedQuery, Term, get_query, load_queries
from kg.rest import class_types
from kg.search import MAX_QUERY_CHARS, current_index, index_for, search
from kg.store.base import Store

__all__ = ["router"]

router = APIRouter(route_class=GetRoute)

#: How many rows of an answer a question's page shows.
MAX_ANSWER_ROWS: Final = 500


@dataclass
class CountyRow:
    """One county of the table: its partners (pairings) or the claims that none is known."""

    county: Value
    code: str
    partners: list[dict[str, Value | str | None]] = field(default_factory=list)
    unknowns: dict[str, list[Value]] = field(default_factory=dict)
    #: The period each record of an unknown covers ("2021", None): none given, any time.
    unknown_periods: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)


def _v(
    row: dict[str, Term], name: str, zh: str | None = None, en: str | None = None
) -> Value | None:
    term = row.get(name)
    if term is None:
        return None
    label_zh = row.get(zh) if zh else None
    label_en = row.get(en) if en else None
    return Value(
        term,
        label_zh.value if label_zh is not None else None,
        label_en.value if label_en is not None else None,
    )


def _text(row: dict[str, Term], name: str) -> str | None:
    term = row.get(name)
    return term.value if term is not None else None


def _counties(found: Answer) -> list[CountyRow]:
    counties: dict[str, CountyRow] = {}
    seen: set[tuple[str, str]] = set()
    for raw in found.rows:
        row = dict(raw)
        county = _v(row, "county", "countyZh", "countyEn")
        if county is None:
            continue
        entry = counties.setdefault(
            county.term.value, CountyRow(county, row["code"].value if "code" in row else "")
        )
        if "pairing" in row:
            key = (county.term.value, row["pairing"].value)
            if key not in seen:
                seen.add(key)
                entry.partners.append(
                    {
                        "pairing": _v(row, "pairing"),
                        "partner": _v(row, "partner", "partnerZh", "partnerEn"),
                        "start": period_bound(
                            _text(row, "periodStart"), _text(row, "startPrecision")
                        ),
                        "end": period_bound(_text(row, "periodEnd"), _text(row, "endPrecision")),
                        "evidence": _v(row, "evidence"),
                    }
                )
        if "unknown" in row:
            entry.unknown_periods[row["unknown"].value] = (
                _text(row, "periodStart")
                and period_bound(_text(row, "periodStart"), _text(row, "startPrecision")),
                _text(row, "periodEnd")
                and period_bound(_text(row, "periodEnd"), _text(row, "endPrecision")),
            )
            sentences = entry.unknowns.setdefault(row["unknown"].value, [])
            if "sentence" in row:
                text = row.get("sentenceText")
                sentence = Value(row["sentence"], text=text.value if text is not None else None)
                if sentence not in sentences:
                    sentences.append(sentence)
    return sorted(counties.values(), key=lambda c: c.code)


@dataclass
class Aggregate:
    pairing: Value
    level: Value | None
    helper: Value | None
    helper_count: str
    recipient: Value | None
    recipient_count: str
    sentences: list[Value] = field(default_factory=list)


def _aggregates(found: Answer) -> list[Aggregate]:
    out: dict[str, Aggregate] = {}
    for raw in found.rows:
        row = dict(raw)
        pairing = _v(row, "pairing")
        if pairing is None:
            continue
        entry = out.get(pairing.term.value)
        if entry is None:
            entry = out[pairing.term.value] = Aggregate(
                pairing,
                _v(row, "level", "levelZh", "levelEn"),
                _v(row, "helper", "helperZh"),
                row["helperCount"].value if "helperCount" in row else "?",
                _v(row, "recipient", "recipientZh"),
                row["recipientCount"].value if "recipientCount" in row else "?",
            )
        if "sentence" in row:
            text = row.get("sentenceText")
            sentence = Value(row["sentence"], text=text.value if text is not None else None)
            if sentence not in entry.sentences:
                entry.sentences.append(sentence)
    return list(out.values())


def competency_questions(settings: Settings) -> list[NamedQuery]:
    """The ``ontology/queries/cq/*.rq`` files, by name."""
    folder = settings.ontology_dir / "queries" / "cq"
    if not folder.is_dir():
        return []
    return list(load_queries(folder).values())


@dataclass(frozen=True)
class _Link:
    href: str
    text: str
    note: str = ""


def _site_links(request: Request) -> list[_Link]:
    links = [
        _Link("/query", "SPARQL query editor 查询", "YASGUI over this server's /sparql"),
        _Link("/api/docs", "API documentation", "OpenAPI (Swagger UI), offline"),
        _Link("/ontology", "Ontology 本体", "every class and property, with definitions"),
        _Link("/dataset.nq", "Dump: N-Quads", "the whole dataset, one named graph per source"),
        _Link("/dataset.trig", "Dump: TriG", ""),
        _Link("/sparql", "SPARQL endpoint", "SPARQL 1.1 Protocol"),
        _Link("/docs/endpoint", "Endpoint documentation", "formats, limits, errors"),
    ]
    if has_route(request, "/maps"):
        links.insert(1, _Link("/maps/", "Network maps 关系图", "pairings as a network"))
    if has_route(request, "/reconcile"):
        links.append(_Link("/reconcile", "OpenRefine reconciliation", "W3C Reconciliation API"))
    return links


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
async def home(request: Request, settings: SettingsDep, store: StoreDep) -> Response:
    vocabulary = await vocabulary_of(request, store, settings)
    folder = settings.ontology_dir / "queries"
    counties, aggregates, classes = await asyncio.gather(
        answer(store, get_query("page-home-counties", folder)),
        answer(store, get_query("page-home-aggregates", folder)),
        _class_counts(store, settings.base_iri, folder),
    )
    # The graph's own classes: the inferred superclasses from other vocabularies (schema:Place,
    # prov:Activity ...) would repeat the same resources under other names.
    counts = [(cls, str(n)) for cls, n in classes if cls.startswith(ONTOLOGY_NS)]
    context = page_context(
        request,
        Links(settings, vocabulary),
        counties=_counties(counties),
        aggregates=_aggregates(aggregates),
        counts=counts,
        questions=competency_questions(settings),
        site_links=_site_links(request),
    )
    return render("home.html", context)


async def _class_counts(store: Store, base: str, folder: Path) -> list[tuple[str, int]]:
    """``stats-entities-by-class``: as the build answered it (kept in its search index file),
    else asked of the store (a whole-graph aggregate: 4 s at 10M quads)."""
    index = await current_index(store, base)
    if index is not None and index.class_counts is not None:
        return index.class_counts
    found = await answer(store, get_query("stats-entities-by-class", folder))
    return [
        (row["class"].value, int(row["count"].value))
        for row in found.rows
        if isinstance(row.get("class"), ox.NamedNode) and isinstance(row.get("count"), ox.Literal)
    ]


@router.api_route("/cq", methods=["GET", "HEAD"], include_in_schema=False)
async def questions(request: Request, settings: SettingsDep, store: StoreDep) -> Response:
    vocabulary = await vocabulary_of(request, store, settings)
    context = page_context(
        request, Links(settings, vocabulary), questions=competency_questions(settings)
    )
    return render("cq_list.html", context)


@router.api_route("/cq/{name}", methods=["GET", "HEAD"], include_in_schema=False)
async def question(name: str, request: Request, settings: SettingsDep, store: StoreDep) -> Response:
    vocabulary = await vocabulary_of(request, store, settings)
    links = Links(settings, vocabulary)
    found = {q.name: q for q in competency_questions(settings)}
    query = found.get(name)
    if query is None:
        return not_found_page(request, links, f"no competency question {name!r}")
    try:
        result = await answer(store, query, max_rows=MAX_ANSWER_ROWS)
    except (UnknownQuery, DataError) as exc:  # pragma: no cover - the files are validated
        return not_found_page(request, links, exc.message)
    rows = [[_cell(row.get(v)) for v in result.variables] for row in result.rows]
    context = page_context(request, links, query=query, result=result, rows=rows)
    return render("cq.html", context)


def _cell(term: Term | None) -> Value | None:
    return Value(term) if term is not None else None


@router.api_route("/search", methods=["GET", "HEAD"], include_in_schema=False)
async def search_page(request: Request, settings: SettingsDep, store: StoreDep) -> Response:
    """The search box without JavaScript: names in Chinese, pinyin or English (kg.search)."""
    vocabulary = await vocabulary_of(request, store, settings)
    links = Links(settings, vocabulary)
    text = request.query_params.get("q", "").strip()[:MAX_QUERY_CHARS]
    kind = request.query_params.get("type", "").strip()
    error = None
    try:  # a class of the ontology, or the page says so (a typo found nothing, silently)
        types = class_types(await index_for(store, settings.base_iri), kind)
    except BadParameter as exc:
        error, types = exc.message, []
    hits = []
    if text and error is None:
        hits = await search(store, text, base=settings.base_iri, types=types, limit=50)
    context = page_context(request, links, hits=hits, text=text, kind=kind, error=error)
    return render("search.html", context, status=400 if error else 200)
