"""Compile the curated data (``data/``) and the ontology into the kg dataset.

The authoring format is described in ``docs/data.md``.
"""

from kg.compile.dataset import GRAPH_NAMES, compile_dataset, graph_iri

__all__ = ["GRAPH_NAMES", "compile_dataset", "graph_iri"]
