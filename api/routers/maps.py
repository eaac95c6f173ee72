"""Network maps (``/maps/…``), network analysis (``/api/network/…``) and network exports
(``/export/network.{gexf,graphml,json}``).

Each route parses its parameters, asks :class:`kg.network.service.NetworkCache` for the
projection of the current data, and calls one core function. Map pages load their scripts from
``/maps/assets/`` (vis-network from the pyvis package, map.js from kg) and carry a route CSP that
allows scripts from this origin only: the map's data sits in a JSON block, never in a script.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Final
from weakref import WeakKeyDictionary

import networkx as nx
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import HTMLResponse, Response

from api.deps import SettingsDep, StoreDep, settings_of
from api.routing import GetRoute, known_parameters_only
from api.schemas import ERROR_RESPONSES
from kg.catalogue import bind_typed
from kg.config import Settings
from kg.errors import BadParameter, NotFound
from kg.network.analysis import (
    bipartite,
    centrality,
    compare_periods,
    components,
    shortest_paths,
)
from kg.network.export import NETWORK_FORMATS, export_network
from kg.network.models import (
    BipartiteAnswer,
    CentralityAnswer,
    ComponentsAnswer,
    PathAnswer,
    PeriodsAnswer,
)
from kg.network.project import graph_from_query, load_pairing_network
from kg.network.render import ASSETS, MapOptions, asset_bytes, render_map, render_page
from kg.network.service import (
    MapRequest,
    NetworkCache,
    build_claim_map,
    build_map,
    check_filters,
    claim_edges,
    entity_neighbourhood,
    parse_lang,
    parse_period,
    resolve_node,
    select_subgraph,
)
from kg.queries import get_query
from kg.rest import resolve_level
from kg.search import GQ, index_for
from kg.store.base import Store

__all__ = ["MAP_CSP", "router"]


# The errors every kg API route may answer, in the one JSON shape (api/schemas.py).
router = APIRouter(
    route_class=GetRoute,
    responses=ERROR_RESPONSES,
    dependencies=[Depends(known_parameters_only)],
)

#: Scripts and styles from this origin only; vis-network draws its icons from data: URLs;
#: the map may be framed by kg's own entity pages.
MAP_CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)

Lang = Annotated[str | None, Query(description="Label language: zh (default) or en")]
Year = Annotated[
    str | None,
    Query(description="Only edges active then: 2019, 2016-2020 (a round) or 2021- (from 2021)"),
]
Levels = Annotated[list[str], Query(description="Pairing levels (DistrictToCounty, …)")]


async def _levels(store: Store, base_iri: str, given: list[str]) -> list[str]:
    """Pairing levels as the network names them (local names), from any form /api/pairings
    takes (``DistrictToCounty``, ``district-county``, ``区对县``…); an unknown one is a
    BadParameter listing the known ones. (An unknown or other-form level used to match
    nothing: an empty network, ``pairings: 0``, for a level that is not one.)"""
    if not any(g.strip() for g in given):
        return []
    index = await index_for(store, base_iri)
    return [
        resolve_level(g.strip(), index, base_iri).iri.removeprefix(GQ) for g in given if g.strip()
    ]


Types = Annotated[list[str], Query(description="Entity classes (County, School, Place, …)")]
Relations = Annotated[list[str], Query(description="Edge relations (Pairing, partOf, …)")]
Evidence = Annotated[list[str], Query(description="Evidence grades: stated, inferred")]


#: One projection cache per served store: a build switch brings a new store (and a new cache),
#: and the old one goes with its store.
_caches: WeakKeyDictionary[Store, NetworkCache] = WeakKeyDictionary()


async def _graph(request: Request, store: Store) -> nx.MultiDiGraph:
    cache = _caches.get(store)
    if cache is None:
        settings: Settings = settings_of(request)
        cache = _caches.setdefault(store, NetworkCache.of(settings))
    return await cache.graph(store)


def _html(body: str) -> Response:
    return Response(
        body,
        media_type="text/html",
        headers={"Content-Security-Policy": MAP_CSP, "X-Content-Type-Options": "nosniff"},
    )


#: The maps listed on /maps/: path, zh/en title, what it shows.
MAP_LINKS: Final = (
    ("/maps/pairings", "结对帮扶网络 Pairings", "districts ↔ counties and every pairing level"),
    ("/maps/pairings?year=2016-2020", "2016–2020年一轮 First round", "pairings active 2016–2020"),
    ("/maps/pairings?year=2021-", "2021年起 From 2021", "pairings active from 2021"),
    ("/maps/network", "合作网络 Whole network", "every entity and relation"),
    ("/maps/geo", "地理网络 Geographic", "entities at their coordinates"),
    (
        "/maps/query?name=network-district-county",
        "查询结果 A query as a map",
        "any SELECT ?source ?target",
    ),
    ("/maps/pairings?lang=en", "Pairings (English labels)", ""),
    ("/api/docs#/default", "网络分析 API Network analysis", "/api/network/… (JSON)"),
    ("/export/network.gexf", "GEXF (Gephi, timeline)", "download"),
    ("/export/network.graphml", "GraphML", "download"),
    ("/export/network.json", "node-link JSON", "download"),
)


@router.get("/maps/", include_in_schema=False)
@router.get("/maps", include_in_schema=False)
async def maps_index() -> Response:
    links = [{"href": href, "text": text, "note": note} for href, text, note in MAP_LINKS]
    return _html(render_page("关系图 Network maps", links))


@router.get("/maps/assets/{name}", include_in_schema=False)
async def map_asset(name: str) -> Response:
    if name not in ASSETS:
        raise NotFound(f"no map asset {name!r}")
    return Response(
        asset_bytes(name),
        media_type=ASSETS[name][2],
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


async def _map(request: Request, store: Store, base_iri: str, map_request: MapRequest) -> Response:
    return await _drawn(await _graph(request, store), map_request, base_iri)


async def _drawn(graph: nx.MultiDiGraph, map_request: MapRequest, base_iri: str) -> Response:
    # Filtering and drawing cost the size of the map (CPU): off the event loop, in a thread.
    rendered = await asyncio.to_thread(build_map, graph, map_request, base_iri)
    response = _html(rendered.html)
    response.headers["X-KG-Nodes"] = str(rendered.nodes)
    return response


@router.get(
    "/maps/pairings",
    summary="Map: districts ↔ counties and every other pairing",
    response_class=HTMLResponse,
)
async def pairings_map(
    *,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    lang: Lang = None,
    year: Year = None,
    level: Levels = [],  # noqa: B006 - FastAPI copies defaults
) -> Response:
    levels = await _levels(store, settings.base_iri, level)
    map_request = MapRequest(kind="pairings", lang=lang or "zh", year=year, levels=levels)
    return await _map(request, store, settings.base_iri, map_request)


@router.get(
    "/maps/network", summary="Map: the whole cooperation network", response_class=HTMLResponse
)
async def network_map(
    *,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    lang: Lang = None,
    year: Year = None,
    level: Levels = [],  # noqa: B006
    type: Types = [],  # noqa: B006
    relation: Relations = [],  # noqa: B006
    evidence: Evidence = [],  # noqa: B006
) -> Response:
    map_request = MapRequest(
        kind="network",
        lang=lang or "zh",
        year=year,
        levels=await _levels(store, settings.base_iri, level),
        types=type,
        relations=relation,
        evidence=evidence,
    )
    return await _map(request, store, settings.base_iri, map_request)


@router.get("/maps/geo", summary="Map: entities at their coordinates", response_class=HTMLResponse)
async def geo_map(
    *,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    lang: Lang = None,
    year: Year = None,
    relation: Relations = [],  # noqa: B006
) -> Response:
    map_request = MapRequest(kind="geo", lang=lang or "zh", year=year, relations=relation)
    return await _map(request, store, settings.base_iri, map_request)


@router.get(
    "/maps/entity/{entity:path}",
    summary="Map: an entity's neighbourhood",
    response_class=HTMLResponse,
)
async def entity_map(
    entity: str,
    *,
    store: StoreDep,
    settings: SettingsDep,
    hops: Annotated[int, Query(ge=1, le=4, description="Steps from the entity")] = 2,
    lang: Lang = None,
    year: Year = None,
) -> Response:
    """One entity's neighbourhood, from its local projection (the entity's edges fetched
    outwards, hop by hop): it does not wait for the projection of the whole graph."""
    try:
        node, graph = await entity_neighbourhood(
            store,
            settings.ontology_dir / "queries",
            entity,
            settings.base_iri,
            hops=hops,
            max_nodes=settings.map_max_nodes,
        )
    except NotFound as exc:
        # Entity pages frame this map: a page that says why reads better there than JSON.
        response = _html(render_page("关系图 Network map", message=exc.message))
        response.status_code = 404
        return response
    if node not in graph:
        # A claim (a pairing's page) is an edge of the network: its two ends and the edge,
        # with its sentences. Anything else that exists but is no node (a sentence, a
        # statistic) gets 200 and says so: every entity page frames this map.
        queries = settings.ontology_dir / "queries"
        edges = await claim_edges(store, queries, node, max_nodes=settings.map_max_nodes)
        if edges is None:
            message = "不在关系网络中 Not part of the network"
            return _html(render_page("关系图 Network map", message=message))
        rendered = await asyncio.to_thread(
            build_claim_map, edges, lang=lang, base_iri=settings.base_iri
        )
        response = _html(rendered.html)
        response.headers["X-KG-Nodes"] = str(rendered.nodes)
        return response
    map_request = MapRequest(kind="entity", entity=node, hops=hops, lang=lang or "zh", year=year)
    return await _drawn(graph, map_request, settings.base_iri)


@router.get(
    "/maps/query",
    summary="Map: the answer of a named query or of your own query",
    response_class=HTMLResponse,
)
async def query_map(
    request: Request,
    *,
    store: StoreDep,
    settings: SettingsDep,
    name: Annotated[str | None, Query(description="A named query (its parameters by name)")] = None,
    query: Annotated[
        str | None, Query(description="SPARQL: a SELECT with ?source ?target, or a CONSTRUCT")
    ] = None,
    lang: Lang = None,
) -> Response:
    """Draws ``?source → ?target`` rows of a SELECT (or a CONSTRUCT's triples) as a map; the
    other query parameters are the named query's parameters."""
    if (name is None) == (query is None):
        raise BadParameter("give name= (a named query) or query= (SPARQL text), not both")
    graphs: tuple[str, ...] = ()
    if name is not None:
        named = get_query(name, settings.ontology_dir / "queries")
        values = {k: v for k, v in request.query_params.items() if k not in {"name", "lang"}}
        text = await bind_typed(store, named, values, base=settings.base_iri)
        title, graphs = named.summary, named.default_graphs(settings.base_iri)
    else:
        text, title = str(query), "SPARQL"
    # The answer's entities only, not the whole projection: drawn at any size of the store.
    graph = await graph_from_query(
        store,
        text,
        settings.ontology_dir / "queries",
        default_graphs=graphs,
        max_nodes=settings.map_max_nodes,
    )
    language = parse_lang(lang)
    options = MapOptions(kind="query", title=title, lang=language, base_iri=settings.base_iri)
    rendered = await asyncio.to_thread(render_map, graph, options)
    response = _html(rendered.html)
    response.headers["X-KG-Nodes"] = str(rendered.nodes)
    return response


async def _pairings(
    store: Store, settings: Settings, levels: list[str], *, facts: bool = True
) -> nx.MultiDiGraph:
    """The pairings of ``levels`` (with their ends' facts, unless ``facts`` is False), not the
    whole projection: an analysis of some levels answered at national scale. A level no
    pairing has is a BadParameter."""
    pairings = await load_pairing_network(
        store,
        settings.ontology_dir / "queries",
        levels,
        max_claims=settings.network_max_claims,
        facts=facts,
    )
    if not pairings.number_of_edges():
        raise BadParameter(
            f"level {levels[0]!r}: no pairing of the network is at this level "
            "(the levels with pairings: /api/pairings/summary and /api/pairings)"
        )
    return pairings


async def _analysed(
    request: Request, store: Store, base_iri: str, year: str | None, level: list[str]
) -> nx.MultiDiGraph:
    levels = await _levels(store, base_iri, level)
    wanted = MapRequest(kind="network", year=year, levels=levels)
    if levels:
        pairings = await _pairings(store, settings_of(request), levels)
        return await asyncio.to_thread(select_subgraph, pairings, wanted, base_iri)
    graph = await _graph(request, store)
    if year is None:
        return graph

    def selected() -> nx.MultiDiGraph:  # both walk the whole projection: off the event loop
        check_filters(graph, wanted)
        return select_subgraph(graph, wanted, base_iri)

    return await asyncio.to_thread(selected)


@router.get("/api/network/centrality", response_model=CentralityAnswer)
async def network_centrality(
    *,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    measure: Annotated[str, Query(description="degree, betweenness or eigenvector")] = "degree",
    top: Annotated[int, Query(ge=1, le=1000)] = 20,
    year: Year = None,
    level: Levels = [],  # noqa: B006
) -> CentralityAnswer:
    """The hubs of the network: entities ranked by a centrality measure."""
    graph = await _analysed(request, store, settings.base_iri, year, level)
    return await asyncio.to_thread(centrality, graph, measure, top)


@router.get("/api/network/components", response_model=ComponentsAnswer)
async def network_components(
    *,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    year: Year = None,
    level: Levels = [],  # noqa: B006
) -> ComponentsAnswer:
    """Connected components, largest first."""
    graph = await _analysed(request, store, settings.base_iri, year, level)
    return await asyncio.to_thread(components, graph, limit)


@router.get("/api/network/path", response_model=PathAnswer)
async def network_path(
    *,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    source: Annotated[str, Query(alias="from", description="IRI, id:…, code or name")],
    target: Annotated[str, Query(alias="to", description="IRI, id:…, code or name")],
    limit: Annotated[int, Query(ge=1, le=10)] = 3,
) -> PathAnswer:
    """How two entities are connected: shortest paths, each hop with its facts and sentences."""
    graph = await _graph(request, store)
    first = await resolve_node(store, graph, source, settings.base_iri, param="from")
    second = await resolve_node(store, graph, target, settings.base_iri, param="to")
    return await asyncio.to_thread(shortest_paths, graph, first, second, limit)


@router.get("/api/network/bipartite", response_model=BipartiteAnswer)
async def network_bipartite(
    request: Request, store: StoreDep, settings: SettingsDep, year: Year = None
) -> BipartiteAnswer:
    """District–county pairings as a two-sided network, and its projection on districts."""
    graph = await _analysed(request, store, settings.base_iri, year, [])
    return await asyncio.to_thread(bipartite, graph)


@router.get("/api/network/periods", response_model=PeriodsAnswer)
async def network_periods(
    store: StoreDep,
    settings: SettingsDep,
    period: Annotated[
        list[str], Query(description="Periods to compare (default: 2016-2020 and 2021-)")
    ] = [],  # noqa: B006
    level: Annotated[str, Query(description="Pairing level")] = "DistrictToCounty",
) -> PeriodsAnswer:
    """District–county pairings per period, and what changed from one period to the next."""
    level = (await _levels(store, settings.base_iri, [level]) or ["DistrictToCounty"])[0]
    graph = await _pairings(store, settings, [level], facts=False)
    if not period:
        return await asyncio.to_thread(compare_periods, graph, level=level)
    spans = []
    for value in period:
        years = parse_period(value)
        if years is None:
            raise BadParameter("period: give YYYY, YYYY-YYYY or YYYY- (an empty one says nothing)")
        spans.append((value, *years))
    return await asyncio.to_thread(compare_periods, graph, spans, level=level)


@router.get(
    "/export/network.{fmt}",
    summary="The network as GEXF, GraphML or node-link JSON",
    response_class=Response,
    responses={200: {"content": {media: {} for media in NETWORK_FORMATS.values()}}},
)
async def network_export(
    fmt: str, request: Request, store: StoreDep, settings: SettingsDep, year: Year = None
) -> Response:
    if fmt not in NETWORK_FORMATS:
        raise NotFound(f"no network export as .{fmt}; one of {', '.join(NETWORK_FORMATS)}")
    graph = await _analysed(request, store, settings.base_iri, year, [])
    return Response(
        await asyncio.to_thread(export_network, graph, fmt),
        media_type=NETWORK_FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="kg-network.{fmt}"'},
    )
