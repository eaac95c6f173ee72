"""The knowledge graph as a network: projection onto networkx, analysis, maps, exports.

``project`` turns the graph into a networkx MultiDiGraph (entities as nodes, claims and relations
as edges with their sentences); ``analysis`` answers network questions; ``render`` draws maps
with pyvis's vis-network from an escaping template; ``export`` writes GEXF/GraphML/JSON;
``service`` ties them to a store for the web layer and the CLI. Nothing here imports FastAPI.
"""

from kg.network.project import Filters, filter_network, load_network

__all__ = ["Filters", "filter_network", "load_network"]
