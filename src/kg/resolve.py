"""Entity resolution: what a user typed → the one IRI it means, or a clear error.

Accepted, in this order:

    https://w3id.org/gq-kg/id/division/522731   a full IRI (must occur in the data)
    id:division/522731                          the compact form kg prints ({base}id/...)
    522731                                      a GB/T 2260 division code (6, 9 or 12 digits)
    惠水县 惠水 惠水縣 huishui Huìshuǐ Huishui County   a name: see :mod:`kg.search`

A name resolves when one entity ranks strictly first (by match kind, then administrative
level); two equally good candidates are ambiguous (BadParameter naming them). Nothing matching
is NotFound. ``types`` restricts the candidates to instances of those classes (or subclasses),
given as IRIs or ``gq:Term`` forms. The REST API, the named-query catalogue, reconciliation and
``kg query --param`` all resolve through here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from kg.errors import BadParameter, NotFound
from kg.queries import bind, get_query, is_iri, select
from kg.search import (
    GQ,
    MAX_QUERY_CHARS,
    Entry,
    entry_for,
    entry_for_code,
    fold,
    index_for,
    lookup,
)
from kg.store.base import Store

__all__ = ["Resolved", "compact", "expand", "expand_type", "resolve"]

How = Literal["iri", "id", "code", "name"]

_CODE: Final = re.compile(r"^(?:[0-9]{6}|[0-9]{9}|[0-9]{12})$")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_CURIE: Final = re.compile(r"^(id|gq):([A-Za-z0-9_\-./%]+)$")


@dataclass(frozen=True)
class Resolved:
    """The entity a text resolved to."""

    iri: str
    #: Chinese label (``None`` for a resource without labels, e.g. a sentence given by IRI).
    label: str | None
    label_en: str | None
    types: frozenset[str]
    code: str | None
    #: How the text was read.
    how: How
    #: 100 for an IRI, id or code; the search score for a name.
    score: float


def expand(text: str, base: str) -> str | None:
    """``id:x/y`` → ``{base}id/x/y``, ``gq:Term`` → the ontology IRI; None if not such a form."""
    match = _CURIE.match(text)
    if match is None:
        return None
    prefix, local = match.groups()
    if prefix == "gq":
        return GQ + local
    return base + "id/" + local


def compact(iri: str, base: str) -> str:
    """The ``id:`` form of a data IRI, ``gq:`` of an ontology term (others: as they are)."""
    prefix = base + "id/"
    if iri.startswith(prefix):
        return "id:" + iri[len(prefix) :]
    if iri.startswith(GQ) and _CURIE.match("gq:" + iri[len(GQ) :]):
        return "gq:" + iri[len(GQ) :]
    return iri


def expand_type(text: str) -> str:
    """A class given as IRI, ``gq:County`` or plain ``County`` → its IRI; BadParameter if not."""
    text = text.strip()
    match = _CURIE.match(text)
    if match is not None and match[1] == "gq":
        return GQ + match[2]
    if re.fullmatch(r"[A-Z][A-Za-z0-9]{0,80}", text):
        return GQ + text
    if len(text) <= 500 and is_iri(text):
        return text
    raise BadParameter(f"{text[:80]!r} is not a class (an IRI, gq:County or County)")


def _from_entry(entry: Entry, how: How, score: float) -> Resolved:
    return Resolved(entry.iri, entry.label_zh, entry.label_en, entry.types, entry.code, how, score)


def _check_types(resolved: Resolved, types: Sequence[str], text: str) -> Resolved:
    if types and not resolved.types.intersection(types):
        kinds = ", ".join(t.removeprefix(GQ) for t in types)
        raise NotFound(f"{text!r} is not a {kinds}")
    return resolved


async def _by_iri(
    store: Store, iri: str, how: How, types: Sequence[str], text: str, *, base: str
) -> Resolved:
    if len(iri) > 2000 or not is_iri(iri):
        raise BadParameter(f"{text[:80]!r} is not a valid IRI")
    entry = await entry_for(store, iri, base)
    if entry is not None:
        return _check_types(_from_entry(entry, how, 100.0), types, text)
    # Resources without labels (sentences, claims) are not in the index but are real.
    found = await select(store, bind(get_query("resource-exists"), {"resource": iri}))
    if not found.rows:
        raise NotFound(f"no resource {text!r} in the graph")
    if types:
        raise NotFound(f"{text!r} is not a {', '.join(t.removeprefix(GQ) for t in types)}")
    return Resolved(iri, None, None, frozenset(), None, how, 100.0)


async def resolve(store: Store, text: str, *, base: str, types: Sequence[str] = ()) -> Resolved:
    """The one entity ``text`` names (IRI, ``id:`` form, division code or name); ``base`` is
    the data's base IRI (``Settings.base_iri`` of the app or command asking).

    Raises NotFound when nothing matches and BadParameter when the text is malformed or
    ambiguous (the message lists the candidates and how to pick one).
    """
    if not isinstance(text, str):
        raise BadParameter("expected text")
    text = text.strip()
    if not text:
        raise BadParameter("empty name: give an id, a division code or a name")
    if _CONTROL.search(text):
        raise BadParameter("control characters are not allowed in a name")
    wanted = [expand_type(t) for t in types]
    expanded = expand(text, base)
    if text.startswith("id:"):
        if expanded is None:
            raise BadParameter(
                f"{text[:80]!r} is not an id (id:kind/slug, e.g. id:division/522731)"
            )
        return await _by_iri(store, expanded, "id", wanted, text, base=base)
    if expanded is not None:  # gq:Term, an ontology term
        return await _by_iri(store, expanded, "iri", wanted, text, base=base)
    if text.startswith(("http://", "https://", "urn:")):
        return await _by_iri(store, text, "iri", wanted, text, base=base)
    if _CODE.match(text):
        entry = await entry_for_code(store, text, base)
        if entry is None:
            raise NotFound(f"no division with code {text}")
        return _check_types(_from_entry(entry, "code", 100.0), wanted, text)
    index = await index_for(store, base)
    if len(text) > MAX_QUERY_CHARS:
        raise BadParameter(f"a name is at most {MAX_QUERY_CHARS} characters")
    if not fold(text):
        raise BadParameter(f"{text!r} holds no letters or digits to search for")
    hits = await lookup(index, text, types=wanted, limit=6)
    if not hits:
        kinds = f" of type {', '.join(t.removeprefix(GQ) for t in wanted)}" if wanted else ""
        raise NotFound(f"no entity{kinds} named {text!r}")
    top = hits[0]
    rivals = [h for h in hits[1:] if h.match == top.match and h.entry.level == top.entry.level]
    if rivals:
        names = "; ".join(
            f"{h.entry.label} ({compact(h.entry.iri, base)})" for h in [top, *rivals][:5]
        )
        raise BadParameter(f"{text!r} is ambiguous: {names} — give the id or the full name")
    return _from_entry(top.entry, "name", top.score)
