"""Counts that describe the dataset, each from one named query run on a :class:`Store`.

Every query in :data:`STATS_QUERIES` answers rows of a key (a class, a grade, a graph, a unit)
and a count; adding a section means adding a ``.rq`` file and its name here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from kg.queries import bind, get_query, select
from kg.store.base import Store

__all__ = ["STATS_QUERIES", "Section", "collect_stats"]

#: Section key → named query. The graph counts are the service description's own query.
STATS_QUERIES: Mapping[str, str] = {
    "entities_by_class": "stats-entities-by-class",
    "claims_by_evidence": "stats-claims-by-evidence",
    "triples_by_graph": "void-graphs",
    "statistics_by_unit": "stats-statistics-by-unit",
}


@dataclass(frozen=True)
class Section:
    """One count table: ``rows`` pairs a key (IRI or text) with its count."""

    key: str
    summary: str
    columns: tuple[str, str]
    rows: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        return sum(count for _, count in self.rows)

    def as_json(self) -> dict[str, Any]:
        key, count = self.columns
        return {
            "summary": self.summary,
            "total": self.total,
            "rows": [{key: k, count: n} for k, n in self.rows],
        }


async def collect_stats(store: Store, queries_dir: Path) -> list[Section]:
    """Run every stats query through ``store``, in :data:`STATS_QUERIES` order."""
    sections = []
    for key, name in STATS_QUERIES.items():
        query = get_query(name, queries_dir)
        answer = await select(store, bind(query, {}))
        label, count = answer.variables[0], answer.variables[-1]
        rows = tuple((_text(row.get(label)), _integer(row.get(count))) for row in answer.rows)
        sections.append(Section(key, query.summary, (label, count), rows))
    return sections


def _text(term: object) -> str:
    if isinstance(term, ox.NamedNode | ox.Literal):
        return str(term.value)
    return "" if term is None else str(term)


def _integer(term: object) -> int:
    return int(term.value) if isinstance(term, ox.Literal) else 0
