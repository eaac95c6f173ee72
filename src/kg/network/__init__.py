"""The knowledge graph as a network: projection onto networkx, analysis, maps, exports.

``project`` turns the graph into a networkx MultiDiGraph (entities as nodes, claims and relations
as edges with their sentences); ``analysis`` answers network questions; ``render`` draws maps
with pyvis's vis-network from an escaping template; ``export`` writes GEXF/GraphML/JSON;
``service`` ties them to a store for the web layer and the CLI. Nothing here imports FastAPI.

This package itself imports nothing: the names below are what a command line or a router needs
before it knows whether it will draw anything (networkx and pyvis load with the modules).
"""

from typing import Final

__all__ = ["MAP_KINDS", "MEASURES", "NETWORK_FORMATS"]

#: The kinds of map (``kg map KIND``, ``/map/KIND``); ``query`` maps are drawn apart.
MAP_KINDS: Final[tuple[str, ...]] = ("pairings", "network", "entity", "geo")
#: Centrality measures of ``kg network`` and ``/api/network/centrality``.
MEASURES: Final[tuple[str, ...]] = ("degree", "betweenness", "eigenvector")
#: Network export format → media type.
NETWORK_FORMATS: Final[dict[str, str]] = {
    "gexf": "application/gexf+xml",
    "graphml": "application/graphml+xml",
    "json": "application/json",
}
