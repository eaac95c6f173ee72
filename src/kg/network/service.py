"""What the web layer and the CLI share: the projection cached per store version, entity ids,
period parameters, and one function per map kind.

The projection of the whole graph is built once per data version (the store's version changes
with every build) and filtered per request: a map or an analysis is then a networkx operation on
an in-memory graph, not a round of SPARQL queries. An entity's map is the exception
(:func:`entity_neighbourhood`): it fetches the entity's neighbourhood only, so it answers in
milliseconds where projecting the whole graph would not answer at all (10M quads).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import networkx as nx

from kg.errors import BadParameter, NotFound
from kg.network import MAP_KINDS
from kg.network.project import (
    MAX_NEIGHBOURHOOD_NODES,
    Filters,
    filter_network,
    load_among,
    load_neighbourhood,
    load_network,
    mark_unknown_counties,
)
from kg.store.base import Store

if TYPE_CHECKING:
    from kg.config import Settings
    from kg.network.render import RenderedMap

__all__ = [
    "MAP_KINDS",
    "MapRequest",
    "NetworkCache",
    "build_map",
    "check_filters",
    "claim_edges",
    "entity_neighbourhood",
    "entity_text",
    "find_node",
    "parse_lang",
    "parse_period",
    "resolve_node",
    "select_subgraph",
]

_CODE = re.compile(r"^[0-9]{6}$")
#: The path of an entity page under /id/ (kind/slug/…), not a URL, id: form or name.
_PAGE_PATH = re.compile(r"^[A-Za-z][\w.~%-]*(?:/[\w.~%-]+)+$")
_PERIOD = re.compile(r"^(\d{4})(?:(-)(\d{4})?)?$")
_TITLES: Final[dict[str, tuple[str, str]]] = {
    "pairings": ("广黔协作结对帮扶网络", "Guangzhou–Qiannan pairings"),
    "network": ("广黔协作合作网络", "The Guangzhou–Qiannan cooperation network"),
    "entity": ("{}的关系网络", "Network around {}"),
    "geo": ("广黔协作地理网络", "The cooperation network on the map"),
}
MAX_HOPS = 4


class NetworkCache:
    """The projection of one store, rebuilt when the store's version changes."""

    def __init__(self, queries_dir: Path, *, max_claims: int = 0) -> None:
        self.queries_dir = queries_dir
        #: A bigger network is refused (413) before it is projected (0: no limit).
        self.max_claims = max_claims
        self._version: str | None = None
        self._graph: nx.MultiDiGraph | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def of(cls, settings: Settings) -> NetworkCache:
        """The cache of the queries and claim cap ``settings`` name (routes and commands)."""
        return cls(settings.ontology_dir / "queries", max_claims=settings.network_max_claims)

    async def graph(self, store: Store) -> nx.MultiDiGraph:
        version = (await store.info()).version
        async with self._lock:
            if self._graph is None or version != self._version:
                graph = await load_network(store, self.queries_dir, max_claims=self.max_claims)
                await asyncio.to_thread(mark_unknown_counties, graph)
                self._graph, self._version = graph, version
            return self._graph


def find_node(graph: nx.MultiDiGraph, text: str, base_iri: str) -> str:
    """The node ``text`` names: a full IRI, an ``id:`` form, a GB/T 2260 code or an exact
    Chinese or English label. NotFound if none; BadParameter if a label is ambiguous."""
    text = text.strip()
    if not text:
        raise BadParameter("give an entity: an IRI, id:…, a division code or a name")
    if text in graph:
        return str(text)
    if text.startswith("id:") and f"{base_iri}id/{text[3:]}" in graph:
        return f"{base_iri}id/{text[3:]}"
    if f"{base_iri}id/{text}" in graph:  # the path of an entity page: /id/division/522731
        return f"{base_iri}id/{text}"
    if _CODE.match(text):
        coded = [n for n, d in graph.nodes(data=True) if d.get("code") == text]
        if coded:
            return str(coded[0])
    named = sorted(
        n
        for n, d in graph.nodes(data=True)
        if text in (d.get("label_zh"), d.get("label_en"))
        or text.casefold() == str(d.get("label_en", "")).casefold()
    )
    if len(named) == 1:
        return str(named[0])
    if len(named) > 1:
        raise BadParameter(f"{text!r} names {len(named)} entities: {', '.join(named[:5])}")
    raise NotFound(f"no entity {text!r} in the network")


async def resolve_node(
    store: Store, graph: nx.MultiDiGraph, text: str, base_iri: str, *, param: str | None = None
) -> str:
    """The network node ``text`` names, as the REST API reads ids, codes and names
    (:func:`kg.resolve.resolve`: pinyin, traditional characters, English too). NotFound when
    the entity exists but is not part of the network (a sentence, a statistic). ``param``: the
    request parameter ``text`` came from, named in the error messages."""
    try:
        return await _resolve_node(store, graph, text, base_iri)
    except (BadParameter, NotFound) as exc:
        if param is None:
            raise
        raise type(exc)(f"parameter {param!r}: {exc.message}") from None


async def _resolve_node(store: Store, graph: nx.MultiDiGraph, text: str, base_iri: str) -> str:
    try:
        return find_node(graph, text, base_iri)  # IRIs, id: forms, codes, exact labels
    except NotFound:
        pass
    from kg.resolve import resolve  # noqa: PLC0415 - builds a search index on first use

    resolved = await resolve(store, text, base=base_iri)
    if resolved.iri not in graph:
        raise NotFound(f"{text!r} ({resolved.iri}) is not an entity of the network")
    return resolved.iri


def entity_text(text: str) -> str:
    """An entity as the map routes and commands take it, in a form :func:`kg.resolve.resolve`
    reads: the path of an entity page (``division/522731``, what /id/ pages frame) becomes
    ``id:division/522731``; IRIs, ``id:`` forms, codes and names stay as they are."""
    text = text.strip()
    return f"id:{text}" if _PAGE_PATH.match(text) else text


async def entity_neighbourhood(
    store: Store,
    queries_dir: Path,
    text: str,
    base_iri: str,
    *,
    hops: int,
    max_nodes: int = MAX_NEIGHBOURHOOD_NODES,
) -> tuple[str, nx.MultiDiGraph]:
    """The entity ``text`` names and its local projection (:func:`load_neighbourhood`): what
    an entity's map needs, without projecting the whole graph.

    The entity is resolved through the search index (ids, codes, names, pinyin): NotFound
    when nothing is named so, BadParameter when the name is ambiguous. An entity that exists
    but is not part of the network comes back with an empty graph (``iri not in graph``)."""
    if not 1 <= hops <= MAX_HOPS:
        raise BadParameter(f"hops must be between 1 and {MAX_HOPS}")
    from kg.resolve import resolve  # noqa: PLC0415 - builds a search index on first use

    resolved = await resolve(store, entity_text(text), base=base_iri)
    graph = await load_neighbourhood(
        store, queries_dir, resolved.iri, hops=hops, max_nodes=max_nodes
    )
    return resolved.iri, graph


async def claim_edges(
    store: Store, queries_dir: Path, claim: str, *, max_nodes: int = MAX_NEIGHBOURHOOD_NODES
) -> nx.MultiDiGraph | None:
    """The edge(s) a claim (a pairing, participation, membership, issuance) is drawn as, with
    its two ends, from the projection of those ends (:func:`load_among`); None when ``claim``
    is no claim with two entity ends. What a claim's page frames instead of an entity map."""
    from kg.queries import bind, get_query, select  # noqa: PLC0415

    query = get_query("network-claim-ends", queries_dir)
    found = await select(store, bind(query, {"claim": claim}))
    ends = {
        term.value
        for row in found.rows
        for term in (row.get("source"), row.get("target"))
        if term is not None
    }
    if not ends:
        return None
    graph = await load_among(store, queries_dir, ends, max_nodes=max_nodes)
    graph.remove_edges_from(
        [(u, v, k) for u, v, k, d in graph.edges(keys=True, data=True) if d.get("claim") != claim]
    )
    graph.remove_nodes_from([n for n in list(graph) if graph.degree(n) == 0])
    return graph if graph.number_of_edges() else None


def build_claim_map(
    edges: nx.MultiDiGraph, *, lang: str | None, base_iri: str, self_contained: bool = False
) -> RenderedMap:
    """The map of a claim (:func:`claim_edges`), titled by its two ends."""
    from kg.network.render import MapOptions, render_map  # noqa: PLC0415 - pyvis: maps only

    language = parse_lang(lang)
    source, target = next(iter(edges.edges()))
    names = [
        (edges.nodes[n].get("label_en") if language == "en" else "")
        or edges.nodes[n].get("label_zh")
        or n
        for n in (source, target)
    ]
    options = MapOptions(
        kind="query",
        title=" — ".join(names),
        lang=language,
        self_contained=self_contained,
        base_iri=base_iri,
    )
    return render_map(edges, options)


def parse_period(value: str | None) -> tuple[int, int] | None:
    """``2019`` → that year; ``2016-2020`` → those years; ``2021-`` → from 2021 on."""
    if value is None or not value.strip():
        return None
    match = _PERIOD.match(value.strip())
    if not match:
        raise BadParameter(f"year {value!r}: expected YYYY, YYYY-YYYY or YYYY- (2016-2020, 2021-)")
    first = int(match[1])
    if not match[2]:
        return first, first
    last = int(match[3]) if match[3] else 9999
    if last < first:
        raise BadParameter(f"year {value!r}: the period ends before it starts")
    return first, last


def parse_lang(value: str | None) -> str:
    if value in (None, ""):
        return "zh"
    if value not in ("zh", "en"):
        raise BadParameter(f"lang {value!r}: zh or en")
    return str(value)


def _set(values: Sequence[str]) -> frozenset[str]:
    return frozenset(v.strip() for item in values for v in item.split(",") if v.strip())


_EVIDENCE: Final = frozenset({"stated", "inferred"})


def _types_of(graph: nx.MultiDiGraph) -> frozenset[str]:
    classes = graph.graph.get("classes", {})
    kinds = {d.get("kind", "") for _, d in graph.nodes(data=True)}
    return frozenset(k for k in {*classes, *kinds} if k)


def _known(
    what: str, given: frozenset[str], known_values: Callable[[], frozenset[str]]
) -> frozenset[str]:
    """``given`` when every value is one of ``known_values()`` (asked only when something is
    given); else a BadParameter naming them. An unknown type or evidence grade used to keep
    nothing: an empty map, read as "no such pairings" when it was a misspelling."""
    if not given:
        return given
    known = known_values()
    unknown = sorted(given - known)
    if unknown:
        shown = ", ".join(sorted(known)[:60]) + (" …" if len(known) > 60 else "")
        raise BadParameter(f"{what} {unknown[0][:80]!r}: not one of the network's ({shown})")
    return given


@dataclass(frozen=True)
class MapRequest:
    """One map, as a user asks for it (query parameters or command-line options)."""

    kind: str
    entity: str | None = None
    hops: int = 2
    lang: str = "zh"
    year: str | None = None
    levels: Sequence[str] = ()
    types: Sequence[str] = ()
    relations: Sequence[str] = ()
    evidence: Sequence[str] = ()
    self_contained: bool = False
    asset_url: str = "/maps/assets"


def select_subgraph(graph: nx.MultiDiGraph, request: MapRequest, base_iri: str) -> nx.MultiDiGraph:
    """The part of the projection a map or an analysis of ``request`` looks at."""
    if request.kind not in MAP_KINDS:
        raise BadParameter(f"unknown map {request.kind!r}; one of {', '.join(MAP_KINDS)}")
    if not 1 <= request.hops <= MAX_HOPS:
        raise BadParameter(f"hops must be between 1 and {MAX_HOPS}")
    center = None
    if request.kind == "entity":
        if not request.entity:
            raise BadParameter("the entity map needs an entity")
        center = find_node(graph, request.entity, base_iri)
    # Types and grades are checked against the ontology's classes and the grades there are
    # (complete in a neighbourhood too); levels and relations against the whole projection
    # only (check_filters): a neighbourhood may lack a valid one.
    relations = _set(request.relations)
    if request.kind == "pairings" and not relations:
        relations = frozenset({"Pairing"})
    filters = Filters(
        center=center,
        hops=request.hops,
        levels=_set(request.levels),
        types=_known("type", _set(request.types), lambda: _types_of(graph)),
        relations=relations,
        evidence=_known("evidence", _set(request.evidence), lambda: _EVIDENCE),
        years=parse_period(request.year),
    )
    selected = filter_network(graph, filters)
    if request.kind != "pairings":
        # Unknown counties belong on the pairing map; elsewhere only when connected.
        selected.remove_nodes_from(
            [n for n in list(selected) if selected.degree(n) == 0 and n != center]
        )
    return selected


def check_filters(graph: nx.MultiDiGraph, request: MapRequest) -> None:
    """BadParameter for a filter value of ``request`` that nothing in ``graph``, the whole
    projection, has (not a neighbourhood: a level may be absent there and valid)."""
    _check_filter(graph, "level", _set(request.levels))
    _check_filter(graph, "relation", _set(request.relations))
    # type= and evidence= are checked by select_subgraph (_known), for every map.


def _check_filter(graph: nx.MultiDiGraph, attribute: str, wanted: frozenset[str]) -> None:
    """BadParameter for a filter value no edge of the network has (``level=districttocounty``
    or a typo kept nothing and answered an empty map, an empty ranking: a 200 that looked
    like an answer). The message lists the values there are."""
    if not wanted:
        return
    present = {d.get(attribute) for _, _, d in graph.edges(data=True)} - {None, ""}
    missing = sorted(wanted - present)
    if missing:
        there = ", ".join(sorted(present)) or "none"
        raise BadParameter(
            f"{attribute} {missing[0][:80]!r}: no edge of the network has it ({attribute} "
            f"values there: {there})"
        )


def build_map(graph: nx.MultiDiGraph, request: MapRequest, base_iri: str) -> RenderedMap:
    """The map ``request`` asks for (HTML, node and edge counts)."""
    from kg.network.render import MapOptions, render_map  # noqa: PLC0415 - pyvis: maps only

    lang = parse_lang(request.lang)
    check_filters(graph, request)
    selected = select_subgraph(graph, request, base_iri)
    zh, en = _TITLES[request.kind]
    title = en if lang == "en" else zh
    if request.kind == "entity" and request.entity:
        center = find_node(graph, request.entity, base_iri)
        data = graph.nodes[center]
        name = (data.get("label_en") if lang == "en" else "") or data.get("label_zh") or center
        title = title.format(name)
    return render_map(
        selected,
        MapOptions(
            kind=request.kind,
            title=title,
            lang=lang,
            self_contained=request.self_contained,
            asset_url=request.asset_url,
            geo=request.kind == "geo",
            period=(request.year or "").strip(),
            base_iri=base_iri,
        ),
    )
