"""Data for the network tests: the real build and a small hostile graph, as N-Quads files."""

from __future__ import annotations

import asyncio
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import networkx as nx
import pyoxigraph as ox

from kg.build import build
from kg.config import Settings, project_root
from kg.network.project import load_network, mark_unknown_counties
from tests.fixtures.memory_store import MemoryStore

BASE = "https://w3id.org/gq-kg/"
ID = f"{BASE}id/"
HOSTILE = Path(__file__).resolve().parent / "fixtures" / "network-hostile.trig"
QUERIES = project_root() / "ontology" / "queries"


def map_data(page: str) -> dict[str, Any]:
    """The data block a map page carries (``kg-map-data``: nodes and edges as drawn)."""
    match = re.search(
        r'<script type="application/json" id="kg-map-data">(.*?)</script>', page, re.S
    )
    assert match, "the map carries its data in a JSON block"
    data: dict[str, Any] = json.loads(match[1])
    return data


def build_real(var_dir: Path) -> Path:
    """``kg build`` of the project's data into ``var_dir``; the dataset's N-Quads file."""
    settings = Settings(base_iri=BASE, var_dir=var_dir)
    build(settings, log=lambda _: None)
    return var_dir / "current" / "dataset.nq"


def hostile_dataset(folder: Path) -> Path:
    """The hostile fixture plus the ontology (for class labels and the hierarchy)."""
    dataset = ox.Dataset(ox.parse(path=str(HOSTILE)))
    ontology = ox.NamedNode(f"{BASE}graph/ontology")
    for triple in ox.parse(path=str(project_root() / "ontology" / "gq.ttl")):
        dataset.add(ox.Quad(triple.subject, triple.predicate, triple.object, ontology))
    target = folder / "hostile.nq"
    ox.serialize(dataset, output=str(target), format=ox.RdfFormat.N_QUADS)
    return target


def load(dataset: Path) -> nx.MultiDiGraph:
    """The projection of ``dataset`` (unknown counties marked), as the server builds it."""

    async def run() -> nx.MultiDiGraph:
        store = MemoryStore(dataset)
        await store.start()
        try:
            graph = await load_network(store, QUERIES)
        finally:
            await store.close()
        mark_unknown_counties(graph)
        return graph

    # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


def truth(dataset: Path, query: str) -> list[ox.QuerySolution]:
    """Rows of ``query`` run directly on the data (the union of its graphs)."""
    store = ox.Store()
    store.bulk_load(path=str(dataset), format=ox.RdfFormat.N_QUADS)
    result = store.query(query, use_default_graph_as_union=True)
    assert isinstance(result, ox.QuerySolutions)
    return list(result)
