"""Export the current build's dataset in any RDF format, streaming.

The build's ``dataset.nq`` is already sorted, canonical N-Quads: exporting N-Quads copies it
byte for byte, every other format streams it through pyoxigraph's serialiser. Formats that
cannot hold named graphs (Turtle, N-Triples, RDF/XML) get the union of the graphs.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

import pyoxigraph as ox

from kg.build import DATASET_FILE, current_build, read_manifest
from kg.errors import BadParameter
from kg.prefixes import PREFIXES as ALL_PREFIXES

__all__ = ["FORMATS", "PREFIXES", "export", "export_file"]

#: CLI format name → pyoxigraph format.
FORMATS: Mapping[str, ox.RdfFormat] = {
    "jsonld": ox.RdfFormat.JSON_LD,
    "nquads": ox.RdfFormat.N_QUADS,
    "ntriples": ox.RdfFormat.N_TRIPLES,
    "rdfxml": ox.RdfFormat.RDF_XML,
    "trig": ox.RdfFormat.TRIG,
    "turtle": ox.RdfFormat.TURTLE,
}

#: Prefixes written into Turtle/TriG/RDF-XML: the compiler's, plus rdf and owl.
PREFIXES: Mapping[str, str] = ALL_PREFIXES


def export(var_dir: Path, fmt: str, output: BinaryIO) -> None:
    """Write the current build's dataset to ``output`` in format ``fmt`` (a :data:`FORMATS` key)."""
    rdf_format = FORMATS.get(fmt)
    if rdf_format is None:
        raise BadParameter(f"unknown export format {fmt!r} (one of: {', '.join(FORMATS)})")
    folder = current_build(var_dir)
    dataset = folder / DATASET_FILE
    if rdf_format == ox.RdfFormat.N_QUADS:
        with dataset.open("rb") as source:
            shutil.copyfileobj(source, output)
        return
    quads = ox.parse(path=str(dataset), format=ox.RdfFormat.N_QUADS)
    data: Iterable[ox.Quad] | Iterable[ox.Triple] = (
        quads if rdf_format.supports_datasets else _union(quads)
    )
    prefixes = {**PREFIXES, **_data_prefix(folder)}
    ox.serialize(data, output, rdf_format, prefixes=prefixes)


def _data_prefix(folder: Path) -> dict[str, str]:
    """``id:`` for the build's entity IRIs, when its base IRI is a usable one."""
    namespace = f"{read_manifest(folder).get('base_iri', '')}id/"
    try:
        ox.NamedNode(namespace)
    except ValueError:
        return {}
    return {"id": namespace}


def export_file(var_dir: Path, fmt: str, path: Path) -> None:
    """Export to a file, written next to it first and renamed, so a failure leaves no torso."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("wb") as output:
            export(var_dir, fmt, output)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _union(quads: Iterable[ox.Quad]) -> Iterator[ox.Triple]:
    # dataset.nq is sorted by line, so the copies of one triple in several graphs are adjacent:
    # comparing with the previous triple removes them without holding the dataset in memory.
    previous: ox.Triple | None = None
    for quad in quads:
        triple = quad.triple
        if triple != previous:
            yield triple
        previous = triple
