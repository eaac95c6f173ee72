"""Network analysis over the projection: hubs, components, paths with their facts, periods.

Every measure reads edges in both directions: "Guangzhou helps Qiannan" and "Qiannan is helped by
Guangzhou" connect the same two places, and a path question ("how is 黄埔区 connected to
三都水族自治县?") does not care which way the sentence points. Parallel edges (two sources, a
pairing and a plain relation) count once for centrality; a path hop lists all of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from itertools import islice, pairwise
from typing import Any, Final, Literal

import networkx as nx

from kg.errors import BadParameter, NotFound
from kg.network import MEASURES
from kg.network.models import (
    BipartiteAnswer,
    BipartitePair,
    Centrality,
    CentralityAnswer,
    Citation,
    Component,
    ComponentsAnswer,
    Fact,
    Hop,
    NodeRef,
    PathAnswer,
    PeriodsAnswer,
    PeriodSummary,
    SharedPartners,
)
from kg.network.project import (
    COUNTY_KINDS,
    DISTRICT_TO_COUNTY,
    active_in,
)

__all__ = [
    "MEASURES",
    "ROUNDS",
    "bipartite",
    "centrality",
    "compare_periods",
    "components",
    "node_ref",
    "shortest_paths",
]

Measure = Literal["degree", "betweenness", "eigenvector"]
#: The two rounds of district–county pairing (2016–2020, and the one from 2021).
ROUNDS: Final[tuple[tuple[str, int, int], ...]] = (("2016-2020", 2016, 2020), ("2021-", 2021, 2100))
#: Rounds of power iteration for eigenvector centrality.
EIGENVECTOR_ITERATIONS = 200
#: Paths listed at most (all shortest paths can be exponentially many).
MAX_PATHS = 10


def node_ref(graph: nx.MultiDiGraph, node: str) -> NodeRef:
    data = graph.nodes[node]
    return NodeRef(
        id=node,
        kind=data.get("kind", ""),
        label_zh=data.get("label_zh", ""),
        label_en=data.get("label_en", ""),
    )


def _simple(graph: nx.MultiDiGraph) -> nx.Graph:
    simple = nx.Graph()
    simple.add_nodes_from(graph.nodes)
    simple.add_edges_from((u, v) for u, v in graph.edges() if u != v)
    return simple


def centrality(graph: nx.MultiDiGraph, measure: str, top: int = 20) -> CentralityAnswer:
    """The ``top`` entities by degree, betweenness or eigenvector centrality."""
    if measure not in MEASURES:
        raise BadParameter(f"unknown measure {measure!r}; one of {', '.join(MEASURES)}")
    if top < 1:
        raise BadParameter("top must be at least 1")
    simple = _simple(graph)
    scores: Mapping[str, float]
    if simple.number_of_nodes() == 0:
        scores = {}
    elif measure == "degree":
        scores = nx.degree_centrality(simple)
    elif measure == "betweenness":
        # Exact up to 1,000 nodes; sampled from 100 sources (fixed seed, repeatable) above,
        # where exact costs O(nm): 30 s at 7,000 nodes.
        k = None if simple.number_of_nodes() <= 1000 else 100
        scores = nx.betweenness_centrality(simple, k=k, seed=7)
    else:
        scores = _eigenvector(simple)
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:top]
    return CentralityAnswer(
        measure=measure,
        nodes=simple.number_of_nodes(),
        edges=simple.number_of_edges(),
        ranking=[
            Centrality(node=node_ref(graph, n), score=round(s, 6), degree=simple.degree(n))
            for n, s in ranked
        ],
    )


def _eigenvector(simple: nx.Graph) -> dict[str, float]:
    """Eigenvector centrality by power iteration on A + I (which converges on bipartite and
    disconnected graphs too), at most EIGENVECTOR_ITERATIONS rounds.

    networkx's own iterates to a tight tolerance: on the tree-like pairing network that takes
    thousands of rounds (32 s at 7,000 nodes); the ranking is stable long before."""
    nodes = list(simple)
    index = {n: i for i, n in enumerate(nodes)}
    neighbours = [[index[m] for m in simple.neighbors(n)] for n in nodes]
    x = [1.0 / len(nodes)] * len(nodes)
    for _ in range(EIGENVECTOR_ITERATIONS):
        y = [x[i] + sum(x[j] for j in around) for i, around in enumerate(neighbours)]
        norm = math.sqrt(sum(v * v for v in y)) or 1.0
        y = [v / norm for v in y]
        change = sum(abs(a - b) for a, b in zip(x, y, strict=True))
        x = y
        if change < len(nodes) * 1e-8:
            break
    return dict(zip(nodes, x, strict=True))


def components(graph: nx.MultiDiGraph, limit: int = 50) -> ComponentsAnswer:
    """Connected components (edges in both directions), largest first."""
    parts = sorted(
        (sorted(c) for c in nx.weakly_connected_components(graph)),
        key=lambda members: (-len(members), members[0]),
    )
    return ComponentsAnswer(
        count=len(parts),
        components=[
            Component(size=len(members), members=[node_ref(graph, n) for n in members])
            for members in parts[:limit]
        ],
    )


def facts_between(graph: nx.MultiDiGraph, a: str, b: str) -> list[Fact]:
    """Every edge between ``a`` and ``b``, either way, as facts with their citations."""
    found: list[Fact] = []
    for source, target in ((a, b), (b, a)):
        for data in (graph.get_edge_data(source, target) or {}).values():
            found.append(edge_fact(source, target, data))
    return found


def edge_fact(source: str, target: str, data: Mapping[str, Any]) -> Fact:
    return Fact(
        relation=data.get("relation", ""),
        source=source,
        target=target,
        claim=data.get("claim", ""),
        level=data.get("level", ""),
        start=data.get("start", ""),
        end=data.get("end", ""),
        evidence=data.get("evidence", ""),
        relation_text=data.get("relation_text", ""),
        citations=[Citation(**c) for c in data.get("citations", [])],
    )


def shortest_paths(graph: nx.MultiDiGraph, source: str, target: str, limit: int = 3) -> PathAnswer:
    """Up to ``limit`` shortest paths, each hop with the facts (and sentences) behind it."""
    for node in (source, target):
        if node not in graph:
            raise NotFound(f"{node} is not an entity of the network")
    if not 1 <= limit <= MAX_PATHS:
        raise BadParameter(f"limit must be between 1 and {MAX_PATHS}")
    undirected = graph.to_undirected(as_view=True)
    try:
        found = list(islice(nx.all_shortest_paths(undirected, source, target), limit))
    except nx.NetworkXNoPath:
        found = []
    return PathAnswer(
        source=node_ref(graph, source),
        target=node_ref(graph, target),
        length=len(found[0]) - 1 if found else None,
        paths=[
            [
                Hop(
                    source=node_ref(graph, a),
                    target=node_ref(graph, b),
                    facts=facts_between(graph, a, b),
                )
                for a, b in pairwise(path)
            ]
            for path in found
        ],
    )


def _district_county_edges(
    graph: nx.MultiDiGraph,
) -> Iterable[tuple[str, str, Mapping[str, Any]]]:
    for u, v, data in graph.edges(data=True):
        if data.get("relation") == "Pairing" and data.get("level") == DISTRICT_TO_COUNTY:
            yield u, v, data


def bipartite(graph: nx.MultiDiGraph) -> BipartiteAnswer:
    """The district–county pairing network as two sides, and its projection on districts:
    two districts are linked by the number of counties both have helped."""
    periods: dict[tuple[str, str], list[str]] = {}
    for u, v, data in _district_county_edges(graph):
        span = f"{data.get('start') or '?'}/{data.get('end') or ''}"
        periods.setdefault((u, v), []).append(span)
    districts = sorted({u for u, _ in periods})
    counties = sorted(
        {v for _, v in periods}
        | {n for n, d in graph.nodes(data=True) if d.get("unknown") and d["kind"] in COUNTY_KINDS}
    )
    two_sided = nx.Graph()
    two_sided.add_nodes_from(districts, side=0)
    two_sided.add_nodes_from(counties, side=1)
    two_sided.add_edges_from(periods)
    projected = nx.bipartite.weighted_projected_graph(two_sided, districts)
    shared = sorted(
        ([*sorted((a, b)), d["weight"]] for a, b, d in projected.edges(data=True)),
        key=lambda row: (-row[2], row[0], row[1]),
    )
    return BipartiteAnswer(
        districts=[node_ref(graph, n) for n in districts],
        counties=[node_ref(graph, n) for n in counties],
        pairs=[
            BipartitePair(
                district=node_ref(graph, u), county=node_ref(graph, v), periods=sorted(spans)
            )
            for (u, v), spans in sorted(periods.items())
        ],
        projection=[
            SharedPartners(first=node_ref(graph, a), second=node_ref(graph, b), shared=int(w))
            for a, b, w in shared
        ],
    )


def compare_periods(
    graph: nx.MultiDiGraph,
    periods: Sequence[tuple[str, int, int]] = ROUNDS,
    level: str = DISTRICT_TO_COUNTY,
) -> PeriodsAnswer:
    """Pairings at ``level`` active in each period, and what changed from one to the next."""
    summaries: list[PeriodSummary] = []
    before: set[tuple[str, str]] = set()
    for name, first, last in periods:
        if first > last:
            raise BadParameter(f"period {name!r}: {first} is after {last}")
        active = {
            (u, v)
            for u, v, d in graph.edges(data=True)
            if d.get("relation") == "Pairing"
            and d.get("level") == level
            and active_in(d.get("start"), d.get("end"), first, last)
        }
        summaries.append(
            PeriodSummary(
                period=name,
                first_year=first,
                last_year=last,
                pairings=len(active),
                helpers=len({u for u, _ in active}),
                recipients=len({v for _, v in active}),
                pairs=sorted(active),
                added=sorted(active - before) if summaries else [],
                ended=sorted(before - active) if summaries else [],
            )
        )
        before = active
    return PeriodsAnswer(level=level, periods=summaries)
