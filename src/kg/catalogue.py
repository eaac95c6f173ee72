"""The named queries as a catalogue: list them, bind user-typed values, run them.

:func:`kg.queries.bind` takes values already in their type's syntax; people type ``惠水``,
``522731`` or ``id:division/440111`` (the form kg prints). :func:`bind_typed` resolves every
``iri`` parameter through :func:`kg.resolve.resolve` first, so ``id:division/440111`` means the
district and does not slip through as an IRI with the scheme ``id:`` (that used to match
nothing: 0 rows, silently). An unknown query or parameter is an error, never an empty answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kg.errors import BadParameter
from kg.queries import NamedQuery, Param, bind, load_queries
from kg.resolve import resolve
from kg.store.base import Store

__all__ = ["CatalogueEntry", "bind_typed", "catalogue"]

#: The longest parameter value looked at.
MAX_VALUE_CHARS = 2000


@dataclass(frozen=True)
class CatalogueEntry:
    """One named query as the catalogue lists it."""

    name: str
    summary: str
    description: str
    params: tuple[Param, ...]
    tags: tuple[str, ...]
    text: str


def catalogue(directory: Path) -> list[CatalogueEntry]:
    """Every named query under ``directory`` (named and competency queries), sorted by name."""
    return [_entry(q) for q in load_queries(directory).values()]


def _entry(query: NamedQuery) -> CatalogueEntry:
    return CatalogueEntry(
        query.name, query.summary, query.description, query.params, query.tags, query.text
    )


async def bind_typed(
    store: Store, query: NamedQuery, values: Mapping[str, str], *, base: str
) -> str:
    """``query`` bound to ``values`` as users type them; ``iri`` values go through resolve
    (``base``: the data's base IRI).

    Raises BadParameter (unknown parameter, malformed or ambiguous value, naming the
    parameter) or NotFound (a name or id that is not in the graph).
    """
    resolved: dict[str, str] = {}
    for name, value in values.items():
        param = query.param(name)  # BadParameter for a parameter the query does not take
        if len(value) > MAX_VALUE_CHARS:
            raise BadParameter(f"parameter {name!r}: at most {MAX_VALUE_CHARS} characters")
        if param.type == "iri" and value.strip():
            try:
                resolved[name] = (await resolve(store, value, base=base)).iri
            except BadParameter as exc:
                raise BadParameter(f"parameter {name!r}: {exc.message}") from None
        else:
            resolved[name] = value
    return bind(query, resolved)
