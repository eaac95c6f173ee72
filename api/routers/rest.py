"""``/api/…``: the REST API — pairings, entities, statistics, search and the query catalogue.

Each route validates and bounds its parameters, calls one function of :mod:`kg.rest` (which
runs named queries from ``ontology/queries/api/`` through the store, its guard and its cache)
and renders the model as JSON or CSV (:mod:`api.tabular`). Errors go through ``api/errors.py``:
a refused value is 422 naming the parameter, an unknown id 404.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from api.deps import SettingsDep, StoreDep
from api.routing import GetRoute, known_parameters_only
from api.schemas import ERROR_RESPONSES
from api.tabular import CSV_RESPONSES, Format, render
from kg import rest as answers
from kg.catalogue import CatalogueEntry, catalogue
from kg.errors import BadParameter
from kg.models import (
    EntityAnswer,
    EntityList,
    NamedQueryInfo,
    NamedQueryList,
    NamedQueryResult,
    PairingsAnswer,
    PairingSummaryAnswer,
    ParamInfo,
    Ref,
    SearchAnswer,
    StatisticsAnswer,
)
from kg.search import MAX_LIMIT, MAX_QUERY_CHARS

__all__ = ["router"]

router = APIRouter(
    route_class=GetRoute,
    prefix="/api",
    tags=["REST API"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(known_parameters_only)],
)

#: Longest id, code, name or IRI a parameter takes.
MAX_NAME: Final = 500
_NAME_DOC: Final = "an IRI, the id: form (id:division/522731), a GB/T 2260 code or a name"
_RESERVED: Final = frozenset({"format"})

FormatParam = Annotated[
    Format | None,
    Query(description="json (default) or csv; Accept: text/csv works too"),
]


def _name(description: str, examples: list[str]) -> object:
    return Query(description=f"{description}: {_NAME_DOC}", max_length=MAX_NAME, examples=examples)


@router.get(
    "/pairings",
    response_model=PairingsAnswer,
    responses=CSV_RESPONSES,
    summary="Pairings (结对), filtered; 'unknown' when no source names one",
)
async def pairings(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    *,
    party: Annotated[str | None, _name("either side", ["惠水县", "huishui", "522731"])] = None,
    helper: Annotated[str | None, _name("the helping side", ["白云区"])] = None,
    recipient: Annotated[str | None, _name("the helped side", ["luodian"])] = None,
    level: Annotated[
        str | None,
        Query(
            description="pairing level: DistrictToCounty, SchoolToSchool, … (or gq: form, IRI)",
            max_length=200,
            examples=["DistrictToCounty"],
        ),
    ] = None,
    year: Annotated[
        int | None, Query(ge=1900, le=2100, description="active in this year", examples=[2023])
    ] = None,
    evidence: Annotated[
        Literal["stated", "inferred"] | None, Query(description="evidence grade")
    ] = None,
    format: FormatParam = None,
) -> Response:
    answer = await answers.list_pairings(
        store,
        base=settings.base_iri,
        party=party,
        helper=helper,
        recipient=recipient,
        level=level,
        year=year,
        evidence_grade=evidence,
    )
    # One table: the party's pairings, then those of its groups (via.* columns), then the
    # explicit unknowns; ``record`` says which a row is.
    records: list[dict[str, object]] = [
        {"record": kind, **item.model_dump(mode="json")}
        for kind, items in (
            ("pairing", answer.pairings),
            ("group-pairing", answer.group_pairings),
            ("unknown", answer.unknown),
        )
        for item in items
    ]
    return render(request, answer, records, format)


@router.get(
    "/pairings/summary",
    response_model=PairingSummaryAnswer,
    responses=CSV_RESPONSES,
    summary="Aggregate pairings (282 ↔ 328 schools, 76 ↔ 76 hospitals …) with their sentences",
)
async def pairings_summary(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    format: FormatParam = None,
) -> Response:
    answer = await answers.pairing_summary(store, base=settings.base_iri)
    return render(request, answer, answer.levels, format)


@router.get(
    "/entities",
    response_model=EntityList,
    responses=CSV_RESPONSES,
    summary="Entities of a class, optionally matching a name (paginated)",
)
async def entities(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    *,
    type: Annotated[
        str | None,
        Query(description="a class: County, gq:County or its IRI", max_length=300),
    ] = None,
    q: Annotated[
        str | None, Query(description="a name to match", max_length=MAX_QUERY_CHARS)
    ] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=answers.MAX_PAGE)] = 50,
    format: FormatParam = None,
) -> Response:
    answer = await answers.list_entities(
        store, base=settings.base_iri, type_=type, q=q, offset=offset, limit=limit
    )
    return render(request, answer, answer.entities, format)


@router.get(
    "/entities/{id:path}",
    response_model=EntityAnswer,
    responses=CSV_RESPONSES,
    summary="One entity with every fact about it (both directions) and the citations",
)
async def entity(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    *,
    id: Annotated[
        str,
        Path(
            description=f"{_NAME_DOC}; also division/522731",
            max_length=MAX_NAME,
            examples=["division/522731"],
        ),
    ],
    format: FormatParam = None,
) -> Response:
    text = id.strip()
    if "/" in text and not text.startswith(("id:", "http:", "https:", "urn:", "gq:")):
        text = "id:" + text.removeprefix("/").removeprefix("id/")
    answer = await answers.entity_facts(store, text, base=settings.base_iri)
    return render(request, answer, answer.facts, format)


@router.get(
    "/statistics",
    response_model=StatisticsAnswer,
    responses=CSV_RESPONSES,
    summary="Statistics by measure, subject, unit and year: value, unit, original wording, source",
)
async def statistics(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    *,
    measure: Annotated[str | None, _name("the measure", ["id:measure/paired-schools"])] = None,
    subject: Annotated[str | None, _name("what is counted", ["广州282所学校"])] = None,
    unit: Annotated[
        str | None, Query(description="PersonTime, gq:Person, an IRI …", max_length=300)
    ] = None,
    year: Annotated[int | None, Query(ge=1900, le=2100)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=answers.MAX_PAGE)] = answers.MAX_PAGE,
    format: FormatParam = None,
) -> Response:
    answer = await answers.statistics(
        store,
        base=settings.base_iri,
        measure=measure,
        subject=subject,
        unit=unit,
        year=year,
        offset=offset,
        limit=limit,
    )
    return render(request, answer, answer.statistics, format)


@router.get(
    "/search",
    response_model=SearchAnswer,
    responses=CSV_RESPONSES,
    summary="Search by Chinese (simplified or traditional), pinyin, English name or code",
)
async def search(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    *,
    q: Annotated[
        str,
        Query(min_length=1, max_length=MAX_QUERY_CHARS, examples=["惠水", "luodian", "海珠"]),
    ],
    type: Annotated[
        str | None, Query(description="only instances of this class", max_length=300)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
    format: FormatParam = None,
) -> Response:
    answer = await answers.search_entities(
        store, q, base=settings.base_iri, type_=type, limit=limit
    )
    return render(request, answer, answer.hits, format)


def _info(request: Request, entry: CatalogueEntry) -> NamedQueryInfo:
    params = [
        ParamInfo(name=p.name, type=p.type, required=p.required, default=p.default)
        for p in entry.params
    ]
    return NamedQueryInfo(
        name=entry.name,
        summary=entry.summary,
        description=entry.description,
        tags=list(entry.tags),
        params=params,
        url=str(request.url_for("named_query", name=entry.name)),
    )


@router.get(
    "/queries",
    response_model=NamedQueryList,
    responses=CSV_RESPONSES,
    summary="The named and competency queries, with their parameters",
)
async def queries(
    request: Request,
    settings: SettingsDep,
    format: FormatParam = None,
) -> Response:
    found = [_info(request, e) for e in catalogue(settings.ontology_dir / "queries")]
    answer = NamedQueryList(count=len(found), queries=found)
    return render(request, answer, found, format)


@router.get(
    "/queries/{name}",
    name="named_query",
    response_model=NamedQueryResult,
    responses=CSV_RESPONSES,
    summary="Run a named query; parameters (?name=value) take IRIs, id: forms, codes or names",
)
async def named_query(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    name: Annotated[str, Path(max_length=120, pattern=r"^[A-Za-z0-9_.\-]+$")],
    format: FormatParam = None,
) -> Response:
    values: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in _RESERVED:
            continue
        if key in values:
            raise BadParameter(f"parameter {key!r} given more than once")
        values[key] = value
    answer = await answers.run_catalogue_query(store, name, values, base=settings.base_iri)
    # In CSV a resource is its IRI, as in SPARQL's own CSV results.
    records = [
        {k: v.iri if isinstance(v, Ref) else v for k, v in row.items()} for row in answer.rows
    ]
    return render(request, answer, records, format, columns=answer.variables)
