"""Network timings on the synthetic pairing network: projection, maps, centrality, paths.

    python -m bench.network [--sizes 10000 100000 1000000] [--name NAME]

For each size the generator (:mod:`bench.generate`) writes the data once under
``var/bench/network-<size>/``; the store is pyoxigraph in this process (no worker processes, no
HTTP), so the figures are what the server spends on top of answering SPARQL. Measured:

- ``project``: the five ``network-*`` queries and building the networkx graph (once per data
  version on a server: the projection is cached);
- ``entity_2hop``: an entity's 2-hop map from the cached projection, HTML included;
- ``map_1000``: a 1,000-node map (breadth-first from one district) rendered to HTML;
- ``degree`` / ``betweenness`` / ``eigenvector``: centrality over the whole projection
  (betweenness sampled with k=500 above 2,000 nodes);
- ``path``: shortest paths between two districts, with their facts.

Results go to ``bench/results/<date>-network[-NAME].{json,md}``. The machine is shared while
these run: treat single figures as rough.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import networkx as nx
from tests.fixtures.memory_store import MemoryStore

from bench.generate import DEFAULT_BASE, generate, load_meta
from kg.config import project_root
from kg.network.analysis import centrality, shortest_paths
from kg.network.project import load_network, mark_unknown_counties
from kg.network.render import MapOptions, render_map
from kg.network.service import MapRequest, build_map

__all__ = ["main"]

ROOT = project_root()
QUERIES = ROOT / "ontology" / "queries"
RESULTS = ROOT / "bench" / "results"


def _timed(work: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Best of ``repeat`` wall-clock runs, in milliseconds, and the last result."""
    best = float("inf")
    result: Any = None
    for _ in range(repeat):
        began = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - began)
    return round(best * 1000, 1), result


async def _project(dataset: Path) -> tuple[float, nx.MultiDiGraph]:
    store = MemoryStore(dataset, max_rows=10_000_000)
    await store.start()
    try:
        began = time.perf_counter()
        graph = await load_network(store, QUERIES)
        mark_unknown_counties(graph)
        return round((time.perf_counter() - began) * 1000, 1), graph
    finally:
        await store.close()


def _bfs_nodes(graph: nx.MultiDiGraph, start: str, count: int) -> list[str]:
    undirected = graph.to_undirected(as_view=True)
    order = [start, *(v for _, v in nx.bfs_edges(undirected, start))]
    return order[:count]


def measure(size: int) -> dict[str, Any]:
    dataset = ROOT / "var" / "bench" / f"network-{size}" / "dataset.nq"
    meta = load_meta(dataset)
    if meta is None or meta.triples < size * 0.9:
        meta = generate(dataset, triples=size)
    project_ms, graph = asyncio.run(_project(dataset))
    first, last = meta.districts[0], meta.districts[-1]
    row: dict[str, Any] = {
        "quads": meta.triples,
        "nodes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
        "project_ms": project_ms,
    }
    request = MapRequest(kind="entity", entity=first, hops=2)
    row["entity_2hop_ms"], rendered = _timed(lambda: build_map(graph, request, DEFAULT_BASE))
    row["entity_2hop_nodes"] = rendered.nodes
    thousand = graph.subgraph(_bfs_nodes(graph, first, 1000)).copy()
    thousand.graph.update(graph.graph)
    options = MapOptions(kind="network", title="1000", base_iri=DEFAULT_BASE)
    row["map_1000_ms"], rendered = _timed(lambda: render_map(thousand, options))
    row["map_1000_nodes"] = rendered.nodes
    row["map_1000_bytes"] = len(rendered.html.encode("utf-8"))
    for measure_name in ("degree", "betweenness", "eigenvector"):
        row[f"{measure_name}_ms"], _ = _timed(partial(centrality, graph, measure_name, 20), 1)
    row["path_ms"], answer = _timed(lambda: shortest_paths(graph, first, last, 3))
    row["path_length"] = answer.length
    return row


def _markdown(rows: dict[int, dict[str, Any]]) -> str:
    columns = [
        ("quads", "quads"),
        ("nodes", "nodes"),
        ("edges", "edges"),
        ("project_ms", "projection ms"),
        ("entity_2hop_ms", "2-hop map ms"),
        ("entity_2hop_nodes", "2-hop nodes"),
        ("map_1000_ms", "1,000-node map ms"),
        ("degree_ms", "degree ms"),
        ("betweenness_ms", "betweenness ms"),
        ("eigenvector_ms", "eigenvector ms"),
        ("path_ms", "path ms"),
    ]
    lines = [
        "| " + " | ".join(title for _, title in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in rows.values():
        lines.append("| " + " | ".join(str(row.get(key, "")) for key, _ in columns) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.network", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--name", default="", help="suffix of the result files")
    args = parser.parse_args(argv)
    rows: dict[int, dict[str, Any]] = {}
    for size in args.sizes:
        rows[size] = measure(size)
        print(json.dumps({str(size): rows[size]}), flush=True)
    stem = f"{dt.date.today().isoformat()}-network{'-' + args.name if args.name else ''}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    table = _markdown(rows)
    (RESULTS / f"{stem}.md").write_text(
        "# Network timings (bench/network.py)\n\n"
        "In-process pyoxigraph, best of 3 (centrality: 1 run); shared 2-core machine.\n\n" + table,
        encoding="utf-8",
    )
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
