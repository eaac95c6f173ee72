"""The query preparation every store shares: guard, query form, caps, deadline.

The embedded store and the remote store both call :func:`prepare_query` before their engine
sees a text, so the same text is refused, capped and timed the same way whichever engine runs it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from kg.config import Settings
from kg.errors import QuerySyntaxError
from kg.sparql import guard
from kg.sparql.results import choose_media_type
from kg.sparql.types import QueryRequest, ResultKind

__all__ = ["KINDS", "NO_ROW_CAP", "PreparedQuery", "prepare_query", "prepare_update"]

#: The result kind of each query form.
KINDS: Final[dict[str, ResultKind]] = {
    "SELECT": "solutions",
    "ASK": "boolean",
    "CONSTRUCT": "graph",
    "DESCRIBE": "graph",
}

#: The row cap of a request with ``row_cap=False`` (more rows than any store holds).
NO_ROW_CAP: Final = 1 << 62


@dataclass(frozen=True)
class PreparedQuery:
    """A guarded query with its effective limits."""

    shape: guard.QueryShape
    #: None when the guard found no form keyword (the engine then reports the syntax error).
    kind: ResultKind | None
    max_rows: int
    timeout: float
    max_value_bytes: int


async def prepare_query(
    request: QueryRequest,
    settings: Settings,
    graphs: Collection[str],
    *,
    refuse_unknown_graphs: bool = True,
    allow_service: bool | None = None,
) -> PreparedQuery:
    """Guard ``request`` (raises the guard's errors), refuse an update or an unacceptable
    format early, and work out its row cap and deadline.

    The guard runs off the event loop for long texts (:func:`guard.check_off_loop`).
    ``allow_service`` overrides the setting (False when the workers could not be isolated)."""
    shape = await guard.check_off_loop(
        request.query,
        settings,
        graphs,
        default_graph_uris=request.default_graph_uris,
        named_graph_uris=request.named_graph_uris,
        base_iri=request.base_iri,
        refuse_unknown_graphs=refuse_unknown_graphs,
        allow_service=allow_service,
    )
    if shape.is_update:
        raise QuerySyntaxError("this is a SPARQL Update, not a query: send it as an update")
    kind = KINDS.get(shape.form or "")
    if kind is not None:
        choose_media_type(kind, request.accept)  # refuse early, without a round trip
    max_rows = settings.max_result_rows if request.row_cap else NO_ROW_CAP
    if request.max_rows is not None:
        max_rows = min(max(request.max_rows, 0), max_rows)
    timeout = request.timeout if request.timeout is not None else settings.query_timeout
    return PreparedQuery(shape, kind, max_rows, timeout, settings.max_value_bytes)


async def prepare_update(
    update: str,
    settings: Settings,
    graphs: Collection[str],
    *,
    allow_service: bool | None = None,
) -> float:
    """Guard an update (raises the guard's errors or QuerySyntaxError for a query); its deadline."""
    shape = await guard.check_off_loop(update, settings, graphs, allow_service=allow_service)
    if shape.form is not None and not shape.is_update:
        raise QuerySyntaxError("this is a query, not a SPARQL Update")
    return settings.query_timeout
