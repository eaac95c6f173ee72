"""A named query's answer as a table (SELECT) or a yes/no (ASK), for pages that show answers.

The competency-question pages and the home page show what a query returns; this runs a bound
query through the store (guard, deadline, cache) and reads SPARQL JSON back into terms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyoxigraph as ox

from kg.errors import QueryError
from kg.queries import NamedQuery, Term, bind
from kg.store.base import QueryRequest, Store

__all__ = ["Answer", "answer"]

_JSON_RESULTS = "application/sparql-results+json"


@dataclass(frozen=True)
class Answer:
    """SELECT: ``variables`` and ``rows``; ASK: ``boolean`` (rows empty)."""

    variables: tuple[str, ...]
    rows: tuple[Mapping[str, Term], ...]
    boolean: bool | None = None
    truncated: bool = False


async def answer(
    store: Store, query: NamedQuery, values: Mapping[str, str] | None = None, *, max_rows: int = 500
) -> Answer:
    """Run ``query`` with ``values`` bound (defaults otherwise); at most ``max_rows`` rows."""
    result = await store.query(
        QueryRequest(query=bind(query, values or {}), accept=(_JSON_RESULTS,), max_rows=max_rows)
    )
    if result.kind == "graph":
        raise QueryError(f"query {query.name!r} builds a graph; only SELECT and ASK are shown")
    parsed = ox.parse_query_results(result.body, format=ox.QueryResultsFormat.JSON)
    if isinstance(parsed, ox.QueryBoolean):
        return Answer((), (), bool(parsed))
    variables = tuple(v.value for v in parsed.variables)
    rows = tuple(
        {name: term for name in variables if (term := solution[name]) is not None}
        for solution in parsed
    )
    return Answer(variables, rows, truncated=result.truncated)
