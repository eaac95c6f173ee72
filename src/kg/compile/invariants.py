"""Data invariants: the SPARQL queries of ``ontology/invariants/data/`` must return no rows.

They check what SHACL cannot say simply (two nodes that should be one, a claim and its
attestations); the build runs them over the compiled data with pyoxigraph, and every row they
return is a problem of the input.
"""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox
from rdflib import Dataset

from kg.errors import DataIssue

__all__ = ["check_invariants"]


def check_invariants(dataset: Dataset, folder: Path, shown: str) -> list[DataIssue]:
    """One issue per row any invariant of ``folder`` returns over ``dataset``."""
    paths = sorted(folder.glob("*.rq"))
    if not paths:
        return []
    store = ox.Store()
    store.load(dataset.serialize(format="nquads", encoding="utf-8"), format=ox.RdfFormat.N_QUADS)
    issues: list[DataIssue] = []
    for path in paths:
        solutions = store.query(path.read_text(encoding="utf-8"), use_default_graph_as_union=True)
        assert isinstance(solutions, ox.QuerySolutions)
        names = [v.value for v in solutions.variables]
        for row in solutions:
            cells = ", ".join(f"{n}={row[n].value}" for n in names if row[n] is not None)
            issues.append(DataIssue(f"{shown}/{path.name}", None, f"invariant broken: {cells}"))
    return issues
