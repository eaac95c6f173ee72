"""Write the one N-Quads file the server under test is started on.

Every data file of every selected test goes into its own named graph: the file's W3C IRI for
query tests, the graph name the manifest's label gives for protocol tests. Tests then pick their
dataset per request with ``default-graph-uri``/``named-graph-uri``; nothing is ever updated.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import rdflib

from tests.w3c.manifest import DataFile, ProtocolTest, QueryTest, Test, file_iri
from tests.w3c.rdfio import exact_literals, parse_graph

__all__ = ["data_files", "write_nquads"]


def data_files(tests: Iterable[Test]) -> list[DataFile]:
    """Every (file, graph) pair the tests need, once each, sorted by graph name."""
    seen: dict[str, DataFile] = {}
    for t in tests:
        files: tuple[DataFile, ...] = ()
        if isinstance(t, QueryTest):
            files = t.default_graphs + t.named_graphs
        elif isinstance(t, ProtocolTest):
            files = t.graph_data
        for f in files:
            known = seen.setdefault(f.graph, f)
            if known.path != f.path:
                raise ValueError(f"graph <{f.graph}> named for both {known.path} and {f.path}")
    return [seen[k] for k in sorted(seen)]


def write_nquads(tests: Iterable[Test], out: Path) -> int:
    """Write the data of ``tests`` to ``out`` (N-Quads); returns the number of quads."""
    ds = rdflib.Dataset()
    count = 0
    for f in data_files(tests):
        g = parse_graph(f.path, base=file_iri(f.path.parent.name, f.path.name))
        target = ds.graph(rdflib.URIRef(f.graph))
        for triple in g:
            target.add(triple)
            count += 1
    out.parent.mkdir(parents=True, exist_ok=True)
    with exact_literals():
        ds.serialize(destination=out, format="nquads", encoding="utf-8")
    return count
