"""Turning solution rows into answer models: labels for IRIs, citations grouped per claim.

A claim may be stated in several sentences (one node per real-world pairing, cited by each
source), so a query returns one row per citation and :func:`group_rows` folds them back into
one record per claim with a list of :class:`~kg.models.Citation`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, Literal

import pyoxigraph as ox

from kg.models import Citation, Period, Precision, Ref
from kg.queries import Term
from kg.resolve import compact
from kg.search import GQ, SearchIndex

__all__ = [
    "citations",
    "evidence",
    "group_rows",
    "literal",
    "make_ref",
    "period",
    "ref_of",
]

Grade = Literal["stated", "inferred"]
_GRADES: Final[dict[str, Grade]] = {GQ + "Stated": "stated", GQ + "Inferred": "inferred"}


def make_ref(iri: str, index: SearchIndex, base: str) -> Ref:
    """A Ref for ``iri`` with the labels the index knows (none for unlabelled resources)."""
    entry = index.describe(iri)
    if entry is None:
        return Ref(iri=iri, id=compact(iri, base))
    return Ref(
        iri=iri,
        id=compact(iri, base),
        label=entry.label_zh,
        label_en=entry.label_en,
        code=entry.code,
    )


def ref_of(row: Mapping[str, Term], name: str, index: SearchIndex, base: str) -> Ref | None:
    term = row.get(name)
    return make_ref(term.value, index, base) if isinstance(term, ox.NamedNode) else None


def literal(row: Mapping[str, Term], name: str) -> str | None:
    """The lexical form of a bound variable (IRIs as their text too), else None."""
    term = row.get(name)
    return None if term is None else term.value


def evidence(row: Mapping[str, Term], name: str = "evidence") -> Grade | None:
    """``gq:Stated`` → "stated", ``gq:Inferred`` → "inferred" (else None)."""
    term = row.get(name)
    return _GRADES.get(term.value) if isinstance(term, ox.NamedNode) else None


_PRECISIONS: Final[dict[str, Precision]] = {
    GQ + "YearPrecision": "year",
    GQ + "MonthPrecision": "month",
    GQ + "DayPrecision": "day",
    GQ + "Unknown": "unknown",
}


def period(row: Mapping[str, Term]) -> Period:
    """The period of a claim row (periodStart/End, their precisions, periodText)."""

    def date(name: str) -> str | None:
        term = row.get(name)
        return term.value if isinstance(term, ox.Literal) else None  # gq:Unknown: no date

    def precision(name: str) -> Precision:
        term = row.get(name)
        return _PRECISIONS.get(term.value) if isinstance(term, ox.NamedNode) else None

    return Period(
        start=date("periodStart"),
        start_precision=precision("startPrecision"),
        end=date("periodEnd"),
        end_precision=precision("endPrecision"),
        text=literal(row, "periodText"),
    )


def citations(rows: Iterable[Mapping[str, Term]]) -> list[Citation]:
    """The distinct citations of a claim's rows, in sentence order; a reference pairing's
    carry their row's grades (``?citationEvidence``, ``?citationReferenceEvidence``)."""
    seen: dict[tuple[str | None, ...], Citation] = {}
    for row in rows:
        sentence = literal(row, "sentence")
        if sentence is None:
            continue
        cite = Citation(
            sentence=sentence,
            text=literal(row, "text"),
            document=literal(row, "document"),
            url=literal(row, "url"),
            evidence=evidence(row, "citationEvidence"),
            reference_evidence=evidence(row, "citationReferenceEvidence"),
        )
        seen.setdefault((cite.sentence, cite.document, cite.url), cite)
    return [seen[k] for k in sorted(seen, key=lambda k: tuple(x or "" for x in k))]


def group_rows(rows: Iterable[Mapping[str, Term]], key: str) -> dict[str, list[Mapping[str, Term]]]:
    """Rows grouped by the value of ``key`` (first-seen order)."""
    groups: dict[str, list[Mapping[str, Term]]] = {}
    for row in rows:
        term = row.get(key)
        if term is not None:
            groups.setdefault(term.value, []).append(row)
    return groups
