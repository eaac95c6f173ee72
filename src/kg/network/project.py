"""The graph projected onto networkx: entities as nodes, relations and claims as edges.

Why a projection at all: networkx answers the questions people bring to a network (hubs, paths,
components) and pyvis draws it, but both need plain nodes and edges, while the graph states a
pairing as an n-ary claim node. :func:`load_network` runs the named queries in
``ontology/queries/network/`` and folds every binary claim (pairing, participation, membership,
issuance) into one edge that keeps the claim's level, period, evidence and *every* sentence that
states it; plain relations (gq:partOf, gq:within, …) become edges with the sentence found through
their rdf:Statement (or the subject's own citation while the data has none).

Node ids are full IRIs. Node attributes: ``iri kind label_zh label_en lat long code
member_count unknown``; edge attributes: ``relation claim level start end evidence
relation_text citations weight label`` (see docs/network.md). The graph's own attributes hold
the class table (``classes``) used for legends and type filters.
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import networkx as nx
import pyoxigraph as ox

from kg.config import ONTOLOGY_NS
from kg.errors import BadParameter, ResultTooLarge
from kg.queries import Solutions, Term, bind, bind_batches, get_query, parse_solutions
from kg.store.base import QueryRequest, Store

__all__ = [
    "ClassInfo",
    "Filters",
    "active_in",
    "answer_edges",
    "filter_network",
    "graph_from_edges",
    "graph_from_query",
    "load_among",
    "load_neighbourhood",
    "load_network",
    "load_pairing_network",
    "load_pairings_at",
    "local_name",
    "mark_unknown_counties",
    "network_from_rows",
    "year_of",
]

STATED = "stated"
INFERRED = "inferred"
_EVIDENCE = {f"{ONTOLOGY_NS}Stated": STATED, f"{ONTOLOGY_NS}Inferred": INFERRED}
_JSON_RESULTS = "application/sparql-results+json"
_YEAR = re.compile(r"^(-?\d{4})")
#: Classes whose members are county-level divisions (the recipients of district pairings).
COUNTY_KINDS = frozenset({"County", "AutonomousCounty", "CountyLevelCity"})
DISTRICT_TO_COUNTY = "DistrictToCounty"
#: Plain relations read as "from is inside to": the edge points at the container.
_INFERRED_GRAPH_SUFFIX = "graph/inferred"


@dataclass(frozen=True)
class ClassInfo:
    """A gq: class: its labels and its direct gq: superclasses."""

    name: str
    label_zh: str
    label_en: str
    parents: tuple[str, ...] = ()


@dataclass(frozen=True)
class Filters:
    """What to keep of the projection. Empty sets mean "everything"."""

    #: Keep only nodes within ``hops`` steps of ``center`` (edges read in both directions).
    center: str | None = None
    hops: int = 2
    #: Pairing levels by local name (``DistrictToCounty``); other edges go when this is set.
    levels: frozenset[str] = frozenset()
    #: Node kinds (local class names, a superclass matches its subclasses).
    types: frozenset[str] = frozenset()
    #: Edge relations by local name (``Pairing``, ``partOf``).
    relations: frozenset[str] = frozenset()
    #: Evidence grades (``stated``/``inferred``).
    evidence: frozenset[str] = frozenset()
    #: Keep edges active at some time in these years (inclusive); undated edges stay.
    years: tuple[int, int] | None = None
    #: Drop nodes left without an edge (the centre always stays).
    drop_isolated: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)


def local_name(iri: str) -> str:
    """The part of an IRI after its last ``#`` or ``/``."""
    return re.split(r"[#/]", iri)[-1] if iri else iri


def year_of(value: str | None) -> int | None:
    """The year of an xsd:date, gYearMonth or gYear lexical form (``None`` if there is none)."""
    if not value:
        return None
    match = _YEAR.match(value)
    return int(match[1]) if match else None


def active_in(start: str | None, end: str | None, first: int, last: int) -> bool:
    """Whether a period overlaps the years ``first..last`` (an open end runs on; an unknown
    start is taken as "any time before the end")."""
    start_year, end_year = year_of(start), year_of(end)
    if start_year is not None and start_year > last:
        return False
    return not (end_year is not None and end_year < first)


def _value(term: Term | None) -> str:
    return "" if term is None else str(term.value)


async def _run(store: Store, name: str, queries_dir: Path) -> Solutions:
    return await _run_text(store, get_query(name, queries_dir).text)


async def _run_text(store: Store, text: str) -> Solutions:
    # The project's own queries, bounded by the data: not cut at the endpoint's row cap
    # (KG_MAX_RESULT_ROWS is for what visitors send; a partial projection would draw a wrong
    # network). Deadline and memory limits still apply.
    request = QueryRequest(query=text, accept=(_JSON_RESULTS,), row_cap=False)
    return parse_solutions((await store.query(request)).body)


#: The queries of the projection, run side by side (the store has worker processes).
PROJECTION_QUERIES: Final = (
    "network-classes",
    "network-nodes",
    "network-claims",
    "network-relations",
    "network-documents",
    "network-unknown",
)


async def load_network(store: Store, queries_dir: Path, *, max_claims: int = 0) -> nx.MultiDiGraph:
    """The whole graph projected onto a networkx MultiDiGraph (see the module docstring).

    ``max_claims`` (0: none): a graph with more claims is refused with ResultTooLarge before
    the projection's queries run (``network-size``, milliseconds at 10M quads, where the
    projection ran into the memory limits and the deadline)."""
    if max_claims > 0:
        size = await _run(store, "network-size", queries_dir)
        claims = int(_value(size.rows[0].get("claims")) or 0) if size.rows else 0
        if claims > max_claims:
            raise ResultTooLarge(
                f"the whole network holds {claims:,} claims, more than the {max_claims:,} "
                "the network maps and analysis draw (setting network_max_claims, "
                "KG_NETWORK_MAX_CLAIMS): open one entity's map instead (/maps/entity/{id})"
            )
    answers = await asyncio.gather(*(_run(store, n, queries_dir) for n in PROJECTION_QUERIES))
    rows = dict(zip(PROJECTION_QUERIES, answers, strict=True))
    # Folding 100k claims into a graph takes seconds: off the event loop, in a thread.
    return await asyncio.to_thread(network_from_rows, rows)


async def load_pairings_at(
    store: Store, queries_dir: Path, level: str, *, max_claims: int = 0
) -> nx.MultiDiGraph:
    """The pairings at ``level`` (a local name, ``DistrictToCounty``) as edges between their
    ends, with relation, level, period and claim as the whole projection has them: what the
    periods analysis (:func:`kg.network.analysis.compare_periods`) reads, from one query
    instead of the whole projection (14k rows and 0.5 s at 10M quads, where the whole network
    is past ``KG_NETWORK_MAX_CLAIMS``). More than ``max_claims`` (0: no limit): ResultTooLarge.
    """
    query = get_query("network-pairings-at", queries_dir)
    rows = (await _run_text(store, bind(query, {"level": f"{ONTOLOGY_NS}{level}"}))).rows
    if 0 < max_claims < len(rows):
        raise ResultTooLarge(
            f"{len(rows):,} pairings at level {level}, more than the {max_claims:,} the network "
            "analysis reads (setting network_max_claims, KG_NETWORK_MAX_CLAIMS)"
        )
    graph = nx.MultiDiGraph()
    for row in sorted(rows, key=lambda r: tuple(_value(r.get(k)) for k in _PAIRING_KEYS)):
        source, target = _iri(row.get("source")), _iri(row.get("target"))
        if source is None or target is None:
            continue
        claim = _value(row.get("claim"))
        key = f"{claim} {source} {target}"
        if graph.has_edge(source, target, key):
            continue  # a second start or end: the projection keeps one too
        graph.add_edge(
            source,
            target,
            key=key,
            relation="Pairing",
            claim=claim,
            level=level,
            start=_value(row.get("start")),
            end=_value(row.get("end")),
        )
    return graph


_PAIRING_KEYS: Final = ("claim", "source", "target", "start", "end")


async def load_pairing_network(
    store: Store,
    queries_dir: Path,
    levels: Iterable[str],
    *,
    max_claims: int = 0,
    facts: bool = True,
) -> nx.MultiDiGraph:
    """The pairings at ``levels`` (:func:`load_pairings_at`) with the facts of their ends
    (classes, labels, codes: ``network-nodes-of``), as the whole projection has them: what
    the analyses of some levels read (hubs, components), without projecting the whole
    network. A pairing whose end is no entity of the network is left out, as there.
    ``facts=False``: the edges alone (what the periods analysis reads)."""
    limit = asyncio.Semaphore(_IN_FLIGHT)
    edges = nx.MultiDiGraph()
    for level in sorted(set(levels)):
        edges.add_edges_from(
            (await load_pairings_at(store, queries_dir, level, max_claims=max_claims)).edges(
                keys=True, data=True
            )
        )
    if 0 < max_claims < edges.number_of_edges():
        raise ResultTooLarge(
            f"{edges.number_of_edges():,} pairings at these levels, more than the "
            f"{max_claims:,} the network analysis reads (setting network_max_claims, "
            "KG_NETWORK_MAX_CLAIMS)"
        )
    if not facts:
        return edges
    classes_rows, found = await asyncio.gather(
        _run(store, "network-classes", queries_dir),
        _rows_of(store, queries_dir, "network-nodes-of", "node", list(edges), limit=limit),
    )

    def built() -> nx.MultiDiGraph:
        graph = nx.MultiDiGraph()
        classes = _classes(classes_rows.rows)
        graph.graph["classes"] = classes
        _add_nodes(graph, found, classes)
        graph.add_edges_from(
            (u, v, k, d)
            for u, v, k, d in edges.edges(keys=True, data=True)
            if u in graph and v in graph
        )
        return graph

    return await asyncio.to_thread(built)


#: The most entities a local projection gathers before it gives up (see load_neighbourhood).
MAX_NEIGHBOURHOOD_NODES: Final = 5000
#: Queries of one neighbourhood in flight at once: enough to keep the store's workers busy,
#: few enough not to fill its queue (query_queue) with one visitor's batches.
_IN_FLIGHT: Final = 4
_PART_OF = f"{ONTOLOGY_NS}partOf"
_PAIRING = f"{ONTOLOGY_NS}Pairing"


async def _rows_of(
    store: Store,
    queries_dir: Path,
    name: str,
    param: str,
    iris: Iterable[str],
    *,
    limit: asyncio.Semaphore,
) -> list[Mapping[str, Term]]:
    """The rows of the named query ``name`` for a set of IRIs, in batches run side by side;
    identical rows once (a row touching two IRIs of the set comes once per IRI)."""
    # In batches of the query's own ``#+ batch:`` (a UNION started from the bound values only
    # while they are few: see network-claims-of).
    texts = bind_batches(get_query(name, queries_dir), param, sorted(set(iris)))

    async def run(text: str) -> Solutions:
        async with limit:
            return await _run_text(store, text)

    answers = await asyncio.gather(*(run(text) for text in texts))
    return _unique(row for answer in answers for row in answer.rows)


def _iri(term: Term | None) -> str | None:
    return term.value if isinstance(term, ox.NamedNode) else None


def _ends(rows: Iterable[Mapping[str, Term]]) -> set[str]:
    return {
        iri for row in rows for iri in (_iri(row.get("source")), _iri(row.get("target"))) if iri
    }


async def load_neighbourhood(
    store: Store,
    queries_dir: Path,
    center: str,
    *,
    hops: int,
    max_nodes: int = MAX_NEIGHBOURHOOD_NODES,
) -> nx.MultiDiGraph:
    """The projection restricted to the entities within ``hops`` steps of ``center`` (edges
    read both ways, whatever they are), with every edge among them: what an entity's map
    needs, fetched from ``center`` outwards instead of projecting the whole graph.

    Filtering it with :func:`filter_network` (centre ``center``, at most ``hops`` steps) gives
    what filtering the whole projection (after :func:`mark_unknown_counties`) gives: a filter
    only removes edges and nodes, so the filtered neighbourhood lies inside this one. The
    number of queries grows with ``hops`` and the size of the neighbourhood, not of the store.
    An empty graph when ``center`` is no entity of the network; ResultTooLarge when more than
    ``max_nodes`` entities are within reach (ask for fewer hops).
    """
    too_many = (
        f"the map of {center} at {hops} hops reaches more than {max_nodes} entities: "
        "ask for fewer hops"
    )
    return await _load_local(
        store, queries_dir, {center}, hops=hops, max_nodes=max_nodes, too_many=too_many
    )


async def load_among(
    store: Store,
    queries_dir: Path,
    iris: Iterable[str],
    *,
    max_nodes: int = MAX_NEIGHBOURHOOD_NODES,
) -> nx.MultiDiGraph:
    """The projection restricted to the entities among ``iris`` (what is no entity of the
    network is left out), with every edge among them: what a map of a query's answer needs
    to know about its nodes, fetched for them only instead of projecting the whole graph
    (the same as :func:`load_neighbourhood` at 0 hops around each). ResultTooLarge when they
    are more than ``max_nodes`` entities."""
    too_many = f"the answer names more than {max_nodes} entities: narrow the query"
    return await _load_local(
        store, queries_dir, set(iris), hops=0, max_nodes=max_nodes, too_many=too_many
    )


async def _load_local(
    store: Store,
    queries_dir: Path,
    starts: set[str],
    *,
    hops: int,
    max_nodes: int,
    too_many: str,
) -> nx.MultiDiGraph:
    limit = asyncio.Semaphore(_IN_FLIGHT)
    classes_rows = asyncio.ensure_future(_run(store, "network-classes", queries_dir))
    try:
        facts = await _rows_of(store, queries_dir, "network-nodes-of", "node", starts, limit=limit)
        nodes: set[str] = {_value(r.get("node")) for r in facts}
        if len(nodes) > max_nodes:
            raise ResultTooLarge(too_many)
        frontier = set(nodes)
        claims: list[Mapping[str, Term]] = []
        relations: list[Mapping[str, Term]] = []
        # One more round than hops: the edges of the last ring (among the set and to the
        # containers and partners mark_unknown_counties looks at).
        for step in range(hops + 1):
            if not frontier:
                break
            found_claims, found_relations = await asyncio.gather(
                _rows_of(store, queries_dir, "network-claims-of", "node", frontier, limit=limit),
                _rows_of(store, queries_dir, "network-relations-of", "node", frontier, limit=limit),
            )
            claims.extend(found_claims)
            relations.extend(found_relations)
            if step == hops:
                break
            reached = (_ends(found_claims) | _ends(found_relations)) - nodes
            # Only entities walk on: the whole projection has no edge through a sentence,
            # a literal's holder or a concept.
            new_facts = await _rows_of(
                store, queries_dir, "network-nodes-of", "node", reached, limit=limit
            )
            facts.extend(new_facts)
            frontier = {_value(r.get("node")) for r in new_facts}
            nodes |= frontier
            if len(nodes) > max_nodes:
                raise ResultTooLarge(too_many)
        claims = _unique(claims)
        relations = _unique(relations)
        # mark_unknown_counties looks at a county's partOf container (for its code) and at
        # the helpers of the pairings it receives: bring those ends in, then drop them.
        extra = {
            target
            for row in relations
            if _value(row.get("property")) == _PART_OF
            and _value(row.get("source")) in nodes
            and (target := _iri(row.get("target")))
        } | {
            source
            for row in claims
            if _value(row.get("kind")) == _PAIRING
            and _value(row.get("target")) in nodes
            and (source := _iri(row.get("source")))
        }
        extra -= nodes
        extra_facts = await _rows_of(
            store, queries_dir, "network-nodes-of", "node", extra, limit=limit
        )
        drawn = nodes | {_value(r.get("node")) for r in extra_facts}
        claims = [r for r in claims if _both_in(r, drawn)]
        relations = [r for r in relations if _both_in(r, drawn)]
        sources = {_value(r.get("source")) for r in relations}
        citations = await _rows_of(
            store, queries_dir, "network-relation-citations-of", "source", sources, limit=limit
        )
        relations = _cited(relations, citations)
        unknown = await _rows_of(
            store, queries_dir, "network-unknown-of", "party", nodes, limit=limit
        )
        documents = {
            iri for row in (*claims, *relations, *unknown) if (iri := _iri(row.get("document")))
        }
        titles = await _rows_of(
            store, queries_dir, "network-documents-of", "document", documents, limit=limit
        )
        classes = await classes_rows
    finally:
        if not classes_rows.done():
            classes_rows.cancel()
    variables: tuple[str, ...] = ()
    rows = {
        "network-classes": classes,
        "network-nodes": Solutions(variables, (*facts, *extra_facts)),
        "network-claims": Solutions(variables, tuple(claims)),
        "network-relations": Solutions(variables, tuple(relations)),
        "network-documents": Solutions(variables, tuple(titles)),
        "network-unknown": Solutions(variables, tuple(unknown)),
    }

    def folded() -> nx.MultiDiGraph:  # up to max_nodes entities: off the event loop
        whole = network_from_rows(rows)
        mark_unknown_counties(whole)
        graph: nx.MultiDiGraph = whole.subgraph(nodes).copy()
        graph.graph.update(whole.graph)
        return graph

    return await asyncio.to_thread(folded)


_CITATION_VARIABLES: Final = ("evidence", "sentence", "via", "text", "document")


def _cited(
    relations: Iterable[Mapping[str, Term]], citations: Iterable[Mapping[str, Term]]
) -> list[Mapping[str, Term]]:
    """network-relations-of rows joined with their network-relation-citations-of rows, as
    network-relations' ``OPTIONAL { statement UNION subject UNION derived }`` joins them: one
    row per sentence found (the triple's statements first), the bare relation when none is."""
    stated: dict[tuple[str, str, str], list[Mapping[str, Term]]] = defaultdict(list)
    of_subject: dict[str, list[Mapping[str, Term]]] = defaultdict(list)
    for row in citations:
        source = _value(row.get("source"))
        if _value(row.get("via")) == "statement":
            stated[source, _value(row.get("property")), _value(row.get("target"))].append(row)
        else:
            of_subject[source].append(row)
    rows: list[Mapping[str, Term]] = []
    for relation in relations:
        source = _value(relation.get("source"))
        key = (source, _value(relation.get("property")), _value(relation.get("target")))
        found = [*stated.get(key, ()), *of_subject.get(source, ())]
        if not found:
            rows.append(relation)
        for citation in found:
            extra = {k: v for k, v in citation.items() if k in _CITATION_VARIABLES}
            rows.append({**relation, **extra})
    return rows


def _unique(rows: Iterable[Mapping[str, Term]]) -> list[Mapping[str, Term]]:
    seen: set[tuple[tuple[str, str], ...]] = set()
    kept: list[Mapping[str, Term]] = []
    for row in rows:
        key = tuple(sorted((k, str(v)) for k, v in row.items()))
        if key not in seen:
            seen.add(key)
            kept.append(row)
    return kept


def _both_in(row: Mapping[str, Term], nodes: set[str]) -> bool:
    return _value(row.get("source")) in nodes and _value(row.get("target")) in nodes


def network_from_rows(rows: Mapping[str, Solutions]) -> nx.MultiDiGraph:
    """Build the projection from the answers of the ``network-*`` queries (by query name)."""
    graph = nx.MultiDiGraph()
    classes = _classes(rows["network-classes"].rows)
    graph.graph["classes"] = classes
    titles = {
        _value(r.get("document")): _value(r.get("title")) for r in rows["network-documents"].rows
    }
    _add_nodes(graph, rows["network-nodes"].rows, classes)
    _add_claims(graph, rows["network-claims"].rows, titles)
    _add_relations(graph, rows["network-relations"].rows, titles)
    if "network-unknown" in rows:
        _add_unknowns(graph, rows["network-unknown"].rows, titles)
    # Citations in a fixed order (document, then sentence number), not the engine's row
    # order: the same edge reads the same whether projected whole or around one entity.
    for _, _, data in graph.edges(data=True):
        data["citations"].sort(key=_citation_order)
    for _, data in graph.nodes(data=True):
        if "unknown_citations" in data:
            data["unknown_citations"].sort(key=_citation_order)
    return graph


def _citation_order(citation: Mapping[str, str]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Document, then sentence, comparing the numbers in them as numbers (s/2-1 < s/10-1)."""
    return tuple(
        (re.sub(r"\d+", "", value), tuple(int(n) for n in re.findall(r"\d+", value)))
        for value in (citation["document"], citation["sentence"])
    )


def _add_unknowns(
    graph: nx.MultiDiGraph, rows: Iterable[Mapping[str, Term]], titles: Mapping[str, str]
) -> None:
    """gq:NoKnownPartner claims: the party is marked unknown at that level, with the citation.
    Not a party the map shows paired at that level: a record of a later round (都匀市 from 2021,
    paired with 黄埔区 in 2016-2020) does not make a drawn partner unknown; nor a count of
    partners besides the known ones (南沙区's two more counties in 2016-2020): the party has a
    known partner."""
    for row in rows:
        party = _value(row.get("party"))
        if party not in graph or row.get("unknownCount") is not None:
            continue
        level = local_name(_value(row.get("level")))
        if any(
            d.get("relation") == "Pairing" and d.get("level") == level
            for _, _, d in (*graph.in_edges(party, data=True), *graph.out_edges(party, data=True))
        ):
            continue
        node = graph.nodes[party]
        node["unknown"] = True
        levels = set(filter(None, node.get("unknown_levels", "").split()))
        levels.add(level)
        node["unknown_levels"] = " ".join(sorted(levels))
        citations: list[dict[str, str]] = node.setdefault("unknown_citations", [])
        _add_citation(citations, _citation(row, titles))


def _classes(rows: Iterable[Mapping[str, Term]]) -> dict[str, ClassInfo]:
    parents: dict[str, set[str]] = defaultdict(set)
    labels: dict[str, tuple[str, str]] = {}
    for row in rows:
        name = local_name(_value(row.get("class")))
        if row.get("super") is not None:
            parents[name].add(local_name(_value(row.get("super"))))
        zh, en = labels.get(name, ("", ""))
        labels[name] = (zh or _value(row.get("labelZh")), en or _value(row.get("labelEn")))
    return {
        name: ClassInfo(name, zh, en, tuple(sorted(parents[name])))
        for name, (zh, en) in sorted(labels.items())
    }


def ancestors(kind: str, classes: Mapping[str, ClassInfo]) -> set[str]:
    """``kind`` and every gq: superclass of it."""
    seen: set[str] = set()
    todo = [kind]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        info = classes.get(name)
        if info is not None:
            todo.extend(info.parents)
    return seen


def _most_specific(kinds: set[str], classes: Mapping[str, ClassInfo]) -> str:
    # A class that is a superclass of another of the node's classes is less specific: drop it.
    # Materialised entailment gives nodes all their superclasses; the asserted one stays.
    inherited: set[str] = set()
    for kind in kinds:
        inherited |= ancestors(kind, classes) - {kind}
    best = sorted(kinds - inherited) or sorted(kinds)
    return best[0]


def _add_nodes(
    graph: nx.MultiDiGraph, rows: Iterable[Mapping[str, Term]], classes: Mapping[str, ClassInfo]
) -> None:
    kinds: dict[str, set[str]] = defaultdict(set)
    attrs: dict[str, dict[str, Any]] = {}
    for row in rows:
        iri = _value(row.get("node"))
        kinds[iri].add(local_name(_value(row.get("class"))))
        current = attrs.setdefault(
            iri,
            {
                "iri": iri,
                "label_zh": "",
                "label_en": "",
                "lat": None,
                "long": None,
                "code": "",
                "member_count": None,
                "unknown": False,
            },
        )
        current["label_zh"] = current["label_zh"] or _value(row.get("labelZh"))
        current["label_en"] = current["label_en"] or _value(row.get("labelEn"))
        current["code"] = current["code"] or _value(row.get("code"))
        for key, var in (("lat", "lat"), ("long", "long")):
            if current[key] is None and row.get(var) is not None:
                current[key] = _number(row.get(var))
        if current["member_count"] is None and row.get("memberCount") is not None:
            count = _number(row.get("memberCount"))
            current["member_count"] = int(count) if count is not None else None
    for iri, values in attrs.items():
        values["kind"] = _most_specific(kinds[iri], classes)
        graph.add_node(iri, **values)


def _number(term: Term | None) -> float | None:
    if not isinstance(term, ox.Literal):
        return None
    try:
        return float(term.value)
    except ValueError:
        return None


def _evidence(term: Term | None) -> str:
    value = _value(term)
    return _EVIDENCE.get(value, local_name(value).lower())


def _citation(row: Mapping[str, Term], titles: Mapping[str, str]) -> dict[str, str] | None:
    sentence = _value(row.get("sentence"))
    if not sentence:
        return None
    document = _value(row.get("document"))
    return {
        "sentence": sentence,
        "text": _value(row.get("text")),
        "document": document,
        "document_title": titles.get(document, ""),
    }


def _add_citation(target: list[dict[str, str]], citation: dict[str, str] | None) -> None:
    if citation is not None and all(c["sentence"] != citation["sentence"] for c in target):
        target.append(citation)


def _add_claims(
    graph: nx.MultiDiGraph, rows: Iterable[Mapping[str, Term]], titles: Mapping[str, str]
) -> None:
    claims: dict[str, dict[str, Any]] = {}
    for row in rows:
        claim = _value(row.get("claim"))
        source, target = _value(row.get("source")), _value(row.get("target"))
        if source not in graph or target not in graph:
            continue  # a role filled by a non-entity (a literal, a sentence): nothing to draw
        edge = claims.setdefault(
            f"{claim} {source} {target}",
            {
                "source": source,
                "target": target,
                "relation": local_name(_value(row.get("kind"))),
                "claim": claim,
                "level": local_name(_value(row.get("level"))),
                "start": _value(row.get("start")),
                "end": _value(row.get("end")),
                "evidence": _evidence(row.get("evidence")),
                "relation_text": _value(row.get("relationText")),
                "citations": [],
            },
        )
        _add_citation(edge["citations"], _citation(row, titles))
    for key, edge in sorted(claims.items()):
        source, target = edge.pop("source"), edge.pop("target")
        edge["weight"], edge["label"] = _weight(graph, source, target)
        graph.add_edge(source, target, key=key, **edge)


def _weight(graph: nx.MultiDiGraph, source: str, target: str) -> tuple[float, str]:
    """An aggregate pairing (282 schools ↔ 328 schools) weighs as many as its larger side and is
    labelled with both counts; a pairing of two single entities weighs 1."""
    counts = [graph.nodes[n].get("member_count") for n in (source, target)]
    if all(c is None for c in counts):
        return 1.0, ""
    left, right = (str(c) if c is not None else "1" for c in counts)
    return float(max(c or 1 for c in counts)), f"{left} ↔ {right}"


def _add_relations(
    graph: nx.MultiDiGraph, rows: Iterable[Mapping[str, Term]], titles: Mapping[str, str]
) -> None:
    # Prefer the strongest citation: the triple's own rdf:Statement, then the subject's claim
    # sentence, then the sentence the subject was derived from.
    rank = {"statement": 0, "subject": 1, "derived": 2, "": 3}
    edges: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        source, target = _value(row.get("source")), _value(row.get("target"))
        if source not in graph or target not in graph or source == target:
            continue
        relation = local_name(_value(row.get("property")))
        key = (source, relation, target)
        inferred_graph = _value(row.get("graph")).endswith(_INFERRED_GRAPH_SUFFIX)
        via = _value(row.get("via"))
        edge = edges.setdefault(
            key,
            {
                "relation": relation,
                "claim": "",
                "level": "",
                "start": "",
                "end": "",
                "evidence": INFERRED if inferred_graph else "",
                "relation_text": "",
                "citations": [],
                "weight": 1.0,
                "label": "",
                "_rank": 3,
                "_asserted": not inferred_graph,
            },
        )
        if not inferred_graph and not edge["_asserted"]:
            edge["_asserted"] = True  # asserted somewhere: not only entailed
            edge["evidence"] = ""
        citation = _citation(row, titles)
        if citation is None:
            continue
        if rank[via] < edge["_rank"]:
            edge["_rank"] = rank[via]
            edge["citations"] = []
        if rank[via] == edge["_rank"]:
            _add_citation(edge["citations"], citation)
            grade = _evidence(row.get("evidence"))
            if grade and edge["_asserted"]:
                edge["evidence"] = grade
    for (source, relation, target), edge in sorted(edges.items()):
        del edge["_rank"], edge["_asserted"]
        if not edge["evidence"]:
            edge["evidence"] = STATED if edge["citations"] else ""
        graph.add_edge(source, target, key=f"{relation} {source} {target}", **edge)


def mark_unknown_counties(graph: nx.MultiDiGraph, prefecture_code: str = "522700") -> list[str]:
    """Mark the county-level divisions of a prefecture that no district-to-county pairing
    reaches (``unknown=True``); returns their ids. Unknown stays unknown: no partner is drawn."""
    prefectures = [n for n, d in graph.nodes(data=True) if d.get("code") == prefecture_code]
    marked: list[str] = []
    for prefecture in prefectures:
        for county, _, data in graph.in_edges(prefecture, data=True):
            if data.get("relation") != "partOf":
                continue
            if graph.nodes[county].get("kind") not in COUNTY_KINDS:
                continue
            paired = any(
                d.get("relation") == "Pairing" and d.get("level") == DISTRICT_TO_COUNTY
                for _, _, d in graph.in_edges(county, data=True)
            )
            if not paired:
                graph.nodes[county]["unknown"] = True
                marked.append(county)
    return sorted(marked)


def filter_network(graph: nx.MultiDiGraph, filters: Filters) -> nx.MultiDiGraph:
    """A copy of ``graph`` keeping what ``filters`` asks for.

    With a centre, only its neighbourhood is visited (walking kept edges and kept nodes), so an
    entity's map costs the size of its neighbourhood, not of the whole graph."""
    classes: Mapping[str, ClassInfo] = graph.graph.get("classes", {})

    def node_kept(node: str) -> bool:
        if not filters.types or node == filters.center:
            return True
        return bool(ancestors(graph.nodes[node].get("kind", ""), classes) & filters.types)

    if filters.center is not None:
        nodes = _neighbourhood(graph, filters, node_kept)
    else:
        nodes = {n for n in graph if node_kept(n)}
    result: nx.MultiDiGraph = graph.subgraph(nodes).copy()
    result.graph.update(graph.graph)
    result.remove_edges_from(
        [
            (u, v, key)
            for u, v, key, data in result.edges(keys=True, data=True)
            if not _edge_kept(data, filters)
        ]
    )
    if filters.drop_isolated:
        # Unknown counties have no pairing edge by definition: they stay, shown as unknown.
        result.remove_nodes_from(
            [
                n
                for n, d in list(result.nodes(data=True))
                if result.degree(n) == 0 and n != filters.center and not d.get("unknown")
            ]
        )
    return result


def _neighbourhood(
    graph: nx.MultiDiGraph, filters: Filters, node_kept: Callable[[str], bool]
) -> set[str]:
    center = filters.center
    assert center is not None
    seen = {center}
    frontier = [center]
    for _ in range(filters.hops):
        reached: list[str] = []
        for node in frontier:
            steps = [(v, d) for _, v, d in graph.out_edges(node, data=True)] + [
                (u, d) for u, _, d in graph.in_edges(node, data=True)
            ]
            for other, data in steps:
                if other not in seen and node_kept(other) and _edge_kept(data, filters):
                    seen.add(other)
                    reached.append(other)
        frontier = reached
    return seen


def _edge_kept(data: Mapping[str, Any], filters: Filters) -> bool:
    if filters.levels and data.get("level") not in filters.levels:
        return False
    if filters.relations and data.get("relation") not in filters.relations:
        return False
    if filters.evidence and data.get("evidence") not in filters.evidence:
        return False
    if filters.years is not None and (data.get("start") or data.get("end")):
        return active_in(data.get("start"), data.get("end"), *filters.years)
    return True


_NTRIPLES = "application/n-triples"
_RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"


#: One edge of a query's answer: source, relation, target, label, source and target labels.
AnswerEdge = tuple[str, str, str, str, str, str]


async def graph_from_query(
    store: Store,
    text: str,
    queries_dir: Path,
    *,
    default_graphs: tuple[str, ...] = (),
    max_nodes: int = MAX_NEIGHBOURHOOD_NODES,
) -> nx.MultiDiGraph:
    """The answer of a user's (or a named) query as a network.

    A SELECT needs ``?source`` and ``?target`` (optionally ``?relation``, ``?label`` for the edge,
    ``?sourceLabel``/``?targetLabel``); a CONSTRUCT or DESCRIBE gives one edge per triple whose
    object is a resource (rdfs:label triples label the nodes). The entities of the answer keep
    the projection's types, labels, coordinates and citations, fetched for them only
    (:func:`load_among`, at most ``max_nodes`` of them): a small answer is drawn at once
    whatever the size of the store. ``default_graphs``: the query's default graph (a named
    query's ``#+ default-graph:``).
    """
    edges, iris = await answer_edges(store, text, default_graphs=default_graphs)
    known = await load_among(store, queries_dir, iris, max_nodes=max_nodes)
    return await asyncio.to_thread(graph_from_edges, edges, known)


async def answer_edges(
    store: Store, text: str, *, default_graphs: tuple[str, ...] = ()
) -> tuple[list[AnswerEdge], set[str]]:
    """The edges of a query's answer (see :func:`graph_from_query`) and the IRIs among their
    ends."""
    request = QueryRequest(
        query=text, accept=(_JSON_RESULTS, _NTRIPLES), default_graph_uris=default_graphs
    )
    result = await store.query(request)
    if result.truncated:
        # The visitor's own query: a partial answer would draw a wrong network without saying so.
        raise ResultTooLarge(
            f"the query's answer was cut at {result.rows} rows (setting max_result_rows, "
            "KG_MAX_RESULT_ROWS); a map of part of it would be wrong: narrow the query"
        )
    # Up to max_result_rows rows (100,000) to parse: off the event loop, in a thread.
    return await asyncio.to_thread(_edges_of, result.kind, result.body)


def _edges_of(kind: str, body: bytes) -> tuple[list[AnswerEdge], set[str]]:
    if kind == "solutions":
        solutions = parse_solutions(body)
        if not {"source", "target"} <= set(solutions.variables):
            raise BadParameter(
                "a SELECT drawn as a network needs the variables ?source and ?target"
            )
        rows: list[AnswerEdge] = [
            (
                _value(row.get("source")),
                local_name(_value(row.get("relation"))) or "related",
                _value(row.get("target")),
                _value(row.get("label")),
                _value(row.get("sourceLabel")),
                _value(row.get("targetLabel")),
            )
            for row in solutions.rows
            if row.get("source") is not None and row.get("target") is not None
        ]
        iris = {
            iri
            for row in solutions.rows
            if row.get("source") is not None and row.get("target") is not None
            for iri in (_iri(row.get("source")), _iri(row.get("target")))
            if iri
        }
    elif kind == "graph":
        labels: dict[str, str] = {}
        rows = []
        iris = set()
        for triple in ox.parse(body, format=ox.RdfFormat.N_TRIPLES):
            subject, obj = str(triple.subject.value), triple.object
            if triple.predicate.value == _RDFS_LABEL and isinstance(obj, ox.Literal):
                labels.setdefault(subject, obj.value)
            elif isinstance(obj, ox.NamedNode | ox.BlankNode):
                rows.append((subject, local_name(triple.predicate.value), obj.value, "", "", ""))
                iris.update(t.value for t in (triple.subject, obj) if isinstance(t, ox.NamedNode))
        rows = [(s, p, o, lab, labels.get(s, ""), labels.get(o, "")) for s, p, o, lab, _, _ in rows]
    else:
        raise BadParameter("an ASK query has no network to draw: use SELECT or CONSTRUCT")
    return rows, iris


def graph_from_edges(rows: Iterable[AnswerEdge], known: nx.MultiDiGraph | None) -> nx.MultiDiGraph:
    """The network of a query's edges; nodes and edges the projection ``known`` has keep its
    types, labels, coordinates and citations."""
    graph = nx.MultiDiGraph()
    graph.graph["classes"] = known.graph.get("classes", {}) if known is not None else {}
    for source, relation, target, label, source_label, target_label in rows:
        for node, node_label in ((source, source_label), (target, target_label)):
            if node in graph:
                continue
            if known is not None and node in known:
                graph.add_node(node, **known.nodes[node])
            else:
                graph.add_node(
                    node, iri=node, kind="", label_zh=node_label or local_name(node), label_en=""
                )
        citations: list[dict[str, str]] = []
        evidence = ""
        if known is not None:
            for data in (known.get_edge_data(source, target) or {}).values():
                if data.get("relation") == relation or relation == "related":
                    citations.extend(data.get("citations", []))
                    evidence = evidence or data.get("evidence", "")
        graph.add_edge(
            source,
            target,
            key=f"{relation} {source} {target} {label}",
            relation=relation,
            claim="",
            level="",
            start="",
            end="",
            evidence=evidence,
            relation_text="",
            citations=citations,
            weight=1.0,
            label=label,
        )
    return graph
