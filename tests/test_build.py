"""The build: canonical N-Quads, the build folder, the atomic switch, reuse, pruning, failure."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pyoxigraph as ox
import pytest
import rdflib
from rdflib.term import Node

from kg.build import (
    KEEP_BUILDS,
    build,
    canonical_nquads,
    current_build,
    publish,
    read_manifest,
)
from kg.config import Settings
from kg.errors import BuildError, StoreUnavailable

BASE = "https://w3id.org/gq-kg/"
ARTICLE = rdflib.URIRef(f"{BASE}graph/article")
ONTOLOGY = rdflib.URIRef(f"{BASE}graph/ontology")
P = rdflib.URIRef("https://w3id.org/gq-kg/ontology#p")


def dataset(order: int = 1, extra: int = 0) -> rdflib.Dataset:
    """A small dataset with blank nodes, built in either order."""
    ds = rdflib.Dataset()
    article, ontology = ds.graph(ARTICLE), ds.graph(ONTOLOGY)
    triples: list[tuple[rdflib.Graph, tuple[Node, Node, Node]]] = []
    for i in range(5 + extra):
        node = rdflib.BNode()  # fresh, random labels on every call
        triples.append((article, (rdflib.URIRef(f"{BASE}id/x/{i}"), P, node)))
        triples.append((article, (node, P, rdflib.Literal(f"值{i}", lang="zh"))))
    triples.append((ontology, (P, rdflib.RDFS.label, rdflib.Literal("p", lang="en"))))
    triples.append((article, (P, rdflib.RDFS.label, rdflib.Literal("p", lang="en"))))
    for graph, triple in triples[::order]:
        graph.add(triple)
    return ds


def test_canonical_nquads_is_deterministic_and_sorted() -> None:
    first = canonical_nquads(dataset())
    assert first == canonical_nquads(dataset(order=-1))
    lines = first.splitlines()
    assert lines == sorted(lines)
    assert len(lines) == 12
    assert b"_:N" not in first  # rdflib's random labels are gone
    # And it is the same data.
    parsed = list(ox.parse(first, format=ox.RdfFormat.N_QUADS))
    assert len(parsed) == 12


def test_canonical_nquads_rejects_terms_rdflib_lets_through() -> None:
    ds = rdflib.Dataset()
    ds.graph(ARTICLE).add((rdflib.URIRef("https://x/a b"), P, rdflib.Literal("x")))
    with pytest.raises(BuildError, match="invalid RDF"):
        canonical_nquads(ds)


def test_publish_writes_dataset_store_manifest_and_current(tmp_path: Path) -> None:
    nquads = canonical_nquads(dataset())
    messages: list[str] = []
    result = publish(tmp_path, nquads, base_iri=BASE, log=messages.append)

    assert not result.unchanged
    folder = tmp_path / "builds" / result.build_id
    assert result.path == folder
    assert (folder / "dataset.nq").read_bytes() == nquads
    digest = hashlib.sha256(nquads).hexdigest()
    assert result.build_id.endswith(f"Z-{digest[:12]}")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest == read_manifest(folder) == dict(result.manifest)
    assert manifest["sha256"] == digest
    assert manifest["base_iri"] == BASE
    assert manifest["triples"] == 12
    assert manifest["graphs"] == {str(ARTICLE): 11, str(ONTOLOGY): 1}
    assert set(manifest) >= {"build_id", "created", "kg_version"}
    # current is a relative symlink to the build, so var/ can move.
    assert os.readlink(tmp_path / "current") == f"builds/{result.build_id}"
    assert current_build(tmp_path) == folder
    assert any("current -> builds/" in m for m in messages)
    # The store answers queries.
    store = ox.Store.read_only(str(folder / "store"))
    assert len(list(store.quads_for_pattern(None, None, None, ox.NamedNode(str(ARTICLE))))) == 11


def test_same_data_is_reported_unchanged(tmp_path: Path) -> None:
    first = publish(tmp_path, canonical_nquads(dataset()), base_iri=BASE, log=lambda _: None)
    messages: list[str] = []
    again = publish(tmp_path, canonical_nquads(dataset(-1)), base_iri=BASE, log=messages.append)
    assert again.unchanged
    assert again.build_id == first.build_id
    assert messages == [f"unchanged: the current build {first.build_id} holds the same dataset"]
    assert [p.name for p in (tmp_path / "builds").iterdir() if not p.name.startswith(".")] == [
        first.build_id
    ]


def test_old_builds_are_pruned_but_never_the_current(tmp_path: Path) -> None:
    ids = [
        publish(
            tmp_path, canonical_nquads(dataset(extra=n)), base_iri=BASE, log=lambda _: None
        ).build_id
        for n in range(5)
    ]
    kept = sorted(p.name for p in (tmp_path / "builds").iterdir() if not p.name.startswith("."))
    assert kept == sorted(ids[-KEEP_BUILDS:])
    assert current_build(tmp_path).name == ids[-1]


def test_failed_publish_leaves_the_current_build_and_no_partial_folder(tmp_path: Path) -> None:
    good = publish(tmp_path, canonical_nquads(dataset()), base_iri=BASE, log=lambda _: None)
    with pytest.raises(BuildError, match="cannot write the build"):
        publish(tmp_path, b"<not n-quads\n", base_iri=BASE, log=lambda _: None)
    assert current_build(tmp_path) == good.path
    leftovers = [p.name for p in (tmp_path / "builds").iterdir() if p.name != ".lock"]
    assert leftovers == [good.build_id]


def test_a_store_that_cannot_be_written_stops_the_search_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The search index is written from the file beside the engine's load: when the store
    fails, the build fails at once with a clear error, its index is stopped and nothing is
    left behind (no partial folder, no thread)."""
    import threading

    import pyoxigraph

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pyoxigraph, "Store", full)
    with pytest.raises(BuildError, match="No space left on device"):
        publish(tmp_path, canonical_nquads(dataset()), base_iri=BASE, log=lambda _: None)
    assert [p.name for p in (tmp_path / "builds").iterdir()] == [".lock"]
    assert not [t for t in threading.enumerate() if t.name.startswith("kg-search-index")]


def test_no_current_build_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="run `kg build` first"):
        current_build(tmp_path)


# --- the real data ------------------------------------------------------------------------


def test_build_of_the_project_data(tmp_path: Path) -> None:
    """compile (data/, ontology/) → validate → publish, then the same again is unchanged."""
    settings = Settings(var_dir=tmp_path / "var")
    result = build(settings, log=lambda _: None)
    assert not result.unchanged
    graphs = result.manifest["graphs"]
    for name in ("ontology", "sources", "article", "reference"):
        assert graphs.get(f"{settings.base_iri}graph/{name}", 0) > 0, name
    assert (result.path / "store").is_dir()
    assert current_build(settings.var_dir) == result.path
    again = build(settings, log=lambda _: None)
    assert again.unchanged
    assert again.build_id == result.build_id


def test_the_manifest_counts_every_graph_as_the_store_holds_it(tmp_path: Path) -> None:
    """One engine count per graph, side by side: the default graph, named graphs, a blank-node
    graph and a quad repeated in the file are counted as the store holds them."""
    text = (
        f'<{BASE}id/a> <{BASE}p> "1" .\n'
        f'<{BASE}id/a> <{BASE}p> "2" <{ARTICLE}> .\n'
        f'<{BASE}id/a> <{BASE}p> "2" <{ARTICLE}> .\n'
        f'<{BASE}id/b> <{BASE}p> "3" <{ARTICLE}> .\n'
        f'<{BASE}id/b> <{BASE}p> "3" <{ONTOLOGY}> .\n'
        f'<{BASE}id/c> <{BASE}p> "4" _:g .\n'
    ).encode()
    result = publish(tmp_path / "var", text, base_iri=BASE, log=lambda _: None)
    store = ox.Store.read_only(str(tmp_path / "var" / "current" / "store"))
    expected: dict[str, int] = {}
    for quad in store:
        graph = quad.graph_name
        key = (
            "default"
            if isinstance(graph, ox.DefaultGraph)
            else graph.value
            if isinstance(graph, ox.NamedNode)
            else str(graph)
        )
        expected[key] = expected.get(key, 0) + 1
    assert result.manifest["graphs"] == expected
    assert expected["default"] == 1
    assert expected[str(ARTICLE)] == 2
    assert result.manifest["triples"] == len(store) == 5
