"""Compare answers the way the W3C harnesses do.

Solutions are a multiset (a sequence when the query orders them), terms are compared by term
equality, and blank nodes only need to correspond one-to-one across the whole answer. Graphs are
compared by isomorphism (rdflib.compare).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from decimal import Decimal, InvalidOperation

from rdflib.compare import isomorphic

from tests.w3c.results import XSD, Answer, Row, Term

__all__ = [
    "answers_differ",
    "canonical_numbers",
    "has_top_level_order_by",
    "rows_match",
    "strip_comments",
]

_EXACT = {XSD + "integer", XSD + "decimal"}
_FLOATING = {XSD + "double", XSD + "float"}


def _canonical(term: Term) -> Term:
    """A numeric literal with its value's canonical spelling; any other term unchanged."""
    if term[0] != "literal" or term[2] not in _EXACT | _FLOATING:
        return term
    lex = term[1].strip()
    try:
        if term[2] in _EXACT:
            d = Decimal(lex)
            if not d.is_finite() or (term[2] == XSD + "integer" and "." in lex):
                return term  # ill-typed: compare as written
            text = format(d.normalize(), "f") if d != 0 else "0"
        else:
            f = float(lex.replace("INF", "inf"))
            text = "NaN" if math.isnan(f) else repr(f)
    except (InvalidOperation, ValueError):
        return term
    return ("literal", text, term[2], term[3])


def canonical_numbers(rows: list[Row]) -> list[Row]:
    """Rows whose xsd:integer/decimal/float/double literals are spelled canonically.

    SPARQL defines the values of computed numbers, not their spelling: the W3C files say
    "2.0"^^xsd:decimal and "3.0E4"^^xsd:double where engines print "2" and "30000". Numbers of
    the same datatype are therefore compared by value; the datatype still has to match.
    """
    return [{k: _canonical(v) for k, v in r.items()} for r in rows]


def strip_comments(query: str) -> str:
    """The query without comments and with string contents blanked (so braces in them vanish)."""
    out = []
    pattern = (
        r'"""(?:[^"\\]|\\.|"(?!""))*"""|'
        r"'''(?:[^'\\]|\\.|'(?!''))*'''|"
        r'"(?:[^"\\\n]|\\.)*"|'
        r"'(?:[^'\\\n]|\\.)*'|"
        r"<[^<>\"{}|^`\\\s]*>|#[^\n]*"
    )
    pos = 0
    for m in re.finditer(pattern, query):
        out.append(query[pos : m.start()])
        tok = m.group(0)
        out.append("" if tok.startswith("#") else ('""' if tok[0] in "\"'" else tok))
        pos = m.end()
    out.append(query[pos:])
    return "".join(out)


def has_top_level_order_by(query: str) -> bool:
    """Whether the outermost query has ORDER BY (a subquery's order does not survive)."""
    text = strip_comments(query)
    depth = 0
    for m in re.finditer(r"[{}]|\bORDER\s+BY\b", text, flags=re.IGNORECASE):
        tok = m.group(0)
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
        elif depth == 0:
            return True
    return False


def _bnodes(row: Row) -> bool:
    return any(t[0] == "bnode" for t in row.values())


def _extend(mapping: dict[str, str], used: set[str], exp: Row, act: Row) -> list[str] | None:
    """Map ``exp`` onto ``act``; returns the bnode labels newly mapped, or None on mismatch."""
    if exp.keys() != act.keys():
        return None
    added: list[str] = []
    for var, e in exp.items():
        a = act[var]
        if e[0] != "bnode" or a[0] != "bnode":
            if e != a:
                break
            continue
        known = mapping.get(e[1])
        if known is not None:
            if known != a[1]:
                break
            continue
        if a[1] in used:
            break
        mapping[e[1]] = a[1]
        used.add(a[1])
        added.append(e[1])
    else:
        return added
    for label in added:
        used.discard(mapping.pop(label))
    return None


def _undo(mapping: dict[str, str], used: set[str], added: list[str]) -> None:
    for label in added:
        used.discard(mapping.pop(label))


def rows_match(expected: list[Row], actual: list[Row], ordered: bool) -> bool:
    """Whether the two solution sequences are equal up to a bijection of blank nodes."""
    if len(expected) != len(actual):
        return False
    mapping: dict[str, str] = {}
    used: set[str] = set()
    if ordered:
        return all(
            _extend(mapping, used, e, a) is not None for e, a in zip(expected, actual, strict=True)
        )

    def key(row: Row) -> frozenset[tuple[str, Term]]:
        return frozenset(row.items())

    # Rows without blank nodes must match exactly, as a multiset.
    plain_e = Counter(key(r) for r in expected if not _bnodes(r))
    plain_a = Counter(key(r) for r in actual if not _bnodes(r))
    if plain_e != plain_a:
        return False
    rest_e = sorted((r for r in expected if _bnodes(r)), key=lambda r: -len(r))
    rest_a = [r for r in actual if _bnodes(r)]
    taken = [False] * len(rest_a)

    def search(i: int) -> bool:
        if i == len(rest_e):
            return True
        for j, a in enumerate(rest_a):
            if taken[j]:
                continue
            added = _extend(mapping, used, rest_e[i], a)
            if added is None:
                continue
            taken[j] = True
            if search(i + 1):
                return True
            taken[j] = False
            _undo(mapping, used, added)
        return False

    return search(0)


def answers_differ(
    expected: Answer, actual: Answer, ordered: bool, numbers_by_value: bool = True
) -> str | None:
    """None when ``actual`` is a correct answer, else a short description of the difference."""
    if expected.kind != actual.kind:
        return f"expected a {expected.kind} answer, got {actual.kind}"
    if expected.boolean is not None:
        if expected.boolean != actual.boolean:
            return f"expected {expected.boolean}, got {actual.boolean}"
        return None
    if expected.graph is not None:
        if actual.graph is None:
            return "no graph to compare"
        if not isomorphic(expected.graph, actual.graph):
            return (
                f"graphs not isomorphic ({len(expected.graph)} expected triples, "
                f"{len(actual.graph)} returned)"
            )
        return None
    if expected.rows is None or actual.rows is None:
        return "no solutions to compare"
    if set(expected.variables or []) != set(actual.variables or []):
        return f"variables {sorted(expected.variables or [])} != {sorted(actual.variables or [])}"
    want, got = expected.rows, actual.rows
    if numbers_by_value:
        want, got = canonical_numbers(want), canonical_numbers(got)
    if not rows_match(want, got, ordered):
        return (
            f"solutions differ{' (ordered)' if ordered else ''}: "
            f"{len(expected.rows)} expected, {len(actual.rows)} returned"
        )
    return None
