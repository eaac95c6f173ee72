"""Serialise query answers, capped at ``max_rows``, in every format the endpoint offers.

Everything goes through pyoxigraph's native serialisers (fast, W3C-exact). Capping SELECT
solutions uses one trick: the solutions are first written as SPARQL TSV, where every solution
is exactly one line (newlines inside literals are escaped), through a writer that stops after
``max_rows`` lines; the kept TSV is then parsed back and written in the requested format. TSV
is lossless for RDF terms, so the answer is the same as a direct serialisation, only shorter.

ASK has no standard CSV/TSV form: asking for one raises
:class:`kg.errors.NotAcceptable` (the API answers 406).

Two rules keep every format well-formed:

- **Value size.** A solution whose TSV line is longer than ``max_value_bytes`` (one huge
  literal, in practice) is refused in every format with :class:`kg.errors.ResultTooLarge`
  (the API answers 413), instead of failing in some formats only: the engine's parsers stop
  at 16 MiB per value, so the cap must stay below that.
- **XML 1.0 characters.** XML 1.0 cannot carry NUL, most C0 controls, U+FFFE or U+FFFF, not
  even as character references. An answer holding one is refused in SPARQL XML and RDF/XML
  with :class:`kg.errors.XmlUnsafeResult` (406, naming the formats that can carry it: JSON,
  CSV/TSV, Turtle, N-Triples …); nothing is silently altered.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

import pyoxigraph as ox

from kg.errors import NotAcceptable, ResultTooLarge, XmlUnsafeResult
from kg.sparql.negotiation import (
    CSV,
    JSON_LD,
    N_QUADS,
    N_TRIPLES,
    OFFERED,
    RDF_XML,
    SPARQL_JSON,
    SPARQL_XML,
    TRIG,
    TSV,
    TURTLE,
)
from kg.sparql.types import QueryResult, ResultKind

__all__ = [
    "BOOLEAN_MEDIA_TYPES",
    "GRAPH_MEDIA_TYPES",
    "MAX_VALUE_BYTES",
    "SOLUTION_MEDIA_TYPES",
    "check_xml_chars",
    "choose_media_type",
    "serialize_boolean",
    "serialize_graph",
    "serialize_result",
    "serialize_solutions",
]

#: SELECT answers: canonical media type → pyoxigraph format.
SOLUTION_MEDIA_TYPES: Final[Mapping[str, Any]] = MappingProxyType(
    {
        SPARQL_JSON: ox.QueryResultsFormat.JSON,
        SPARQL_XML: ox.QueryResultsFormat.XML,
        CSV: ox.QueryResultsFormat.CSV,
        TSV: ox.QueryResultsFormat.TSV,
    }
)

#: ASK answers: only the two formats that define a boolean.
BOOLEAN_MEDIA_TYPES: Final[Mapping[str, Any]] = MappingProxyType(
    {
        SPARQL_JSON: ox.QueryResultsFormat.JSON,
        SPARQL_XML: ox.QueryResultsFormat.XML,
    }
)

#: CONSTRUCT/DESCRIBE answers: canonical media type → pyoxigraph RdfFormat.
GRAPH_MEDIA_TYPES: Final[Mapping[str, Any]] = MappingProxyType(
    {
        TURTLE: ox.RdfFormat.TURTLE,
        N_TRIPLES: ox.RdfFormat.N_TRIPLES,
        N_QUADS: ox.RdfFormat.N_QUADS,
        TRIG: ox.RdfFormat.TRIG,
        JSON_LD: ox.RdfFormat.JSON_LD,
        RDF_XML: ox.RdfFormat.RDF_XML,
    }
)

_TABLES: Final[Mapping[ResultKind, Mapping[str, Any]]] = {
    "solutions": SOLUTION_MEDIA_TYPES,
    "boolean": BOOLEAN_MEDIA_TYPES,
    "graph": GRAPH_MEDIA_TYPES,
}
_KIND_NAMES: Final[Mapping[ResultKind, str]] = {
    "solutions": "SELECT",
    "boolean": "ASK",
    "graph": "CONSTRUCT/DESCRIBE",
}
_QUAD_FORMATS: Final = frozenset({N_QUADS, TRIG})

#: Default cap on one solution's TSV line (below the engine parsers' 16 MiB per value).
MAX_VALUE_BYTES: Final = 8 * 1024 * 1024
#: Characters XML 1.0 forbids outright (as UTF-8 bytes); surrogates cannot occur in UTF-8.
_XML_FORBIDDEN: Final = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xef\xbf[\xbe\xbf]")
_XML_TYPES: Final = frozenset({SPARQL_XML, RDF_XML})


def _check_xml(body: bytes, media_type: str, kind: ResultKind) -> None:
    """Refuse an XML answer that would carry a character XML 1.0 cannot (see module doc)."""
    if media_type in _XML_TYPES:
        check_xml_chars(body, media_type, tuple(m for m in OFFERED[kind] if m not in _XML_TYPES))


def check_xml_chars(body: bytes, media_type: str, offered: Sequence[str]) -> None:
    """Raise :class:`XmlUnsafeResult` (naming ``offered``) if ``body`` holds a character XML
    1.0 cannot carry: the XML serialisers write it as is, and no XML parser reads the result."""
    found = _XML_FORBIDDEN.search(body)
    if found is None:
        return
    char = found.group().decode("utf-8", "replace")
    raise XmlUnsafeResult(
        f"the answer holds the character U+{ord(char):04X}, which XML 1.0 cannot carry (not "
        f"even escaped), so it cannot be sent as {media_type}; ask for one of: "
        f"{', '.join(offered)}",
        tuple(offered),
    )


def _too_large(limit: int) -> ResultTooLarge:
    return ResultTooLarge(
        f"a solution of this answer holds a value over the size cap of {limit} bytes "
        "(setting max_value_bytes, KG_MAX_VALUE_BYTES); select a shorter value, e.g. with "
        "SUBSTR or STRLEN"
    )


def choose_media_type(kind: ResultKind, accept: Sequence[str]) -> str:
    """The first of ``accept`` (canonical types, ``*/*`` or ``type/*``) that ``kind`` offers.

    Raises NotAcceptable naming what the kind can be answered in.
    """
    table = _TABLES[kind]
    for wanted in accept:
        media_type = wanted.split(";", 1)[0].strip().lower()
        if media_type in table:
            return media_type
        if media_type == "*/*":
            return OFFERED[kind][0]
        if media_type.endswith("/*"):
            main = media_type[:-1]
            for offered in OFFERED[kind]:
                if offered.startswith(main):
                    return offered
    offered_types = OFFERED[kind]
    hint = ""
    if kind == "boolean" and any(a in (CSV, TSV) for a in accept):
        hint = " (CSV and TSV define no form for a boolean)"
    raise NotAcceptable(
        f"cannot answer {_KIND_NAMES[kind]} as {', '.join(accept) or 'nothing'}{hint}; "
        f"offered: {', '.join(offered_types)}",
        offered_types,
    )


class _Full(Exception):
    """Raised inside pyoxigraph's serialiser to stop writing once the cap is reached."""


class _LineCapWriter:
    """A binary sink keeping at most ``limit`` complete lines, each at most ``line_bytes``."""

    __slots__ = ("buffer", "limit", "line_bytes", "line_start", "lines", "truncated")

    def __init__(self, limit: int, line_bytes: int = 0) -> None:
        self.buffer = bytearray()
        self.limit = limit
        self.line_bytes = line_bytes
        self.line_start = 0  # offset in buffer of the line being written
        self.lines = 0
        self.truncated = False

    def _check_line(self, chunk: bytes) -> None:
        """ResultTooLarge when the line being written grows past ``line_bytes``."""
        last = chunk.rfind(b"\n")
        if last >= 0:
            # The longest complete line ends in this chunk; check each (rare: a long value).
            start = self.line_start - len(self.buffer)
            position = 0
            while (end := chunk.find(b"\n", position)) >= 0:
                if end - start > self.line_bytes:
                    raise _too_large(self.line_bytes)
                start, position = end + 1, end + 1
            self.line_start = len(self.buffer) + last + 1
        elif len(self.buffer) + len(chunk) - self.line_start > self.line_bytes:
            raise _too_large(self.line_bytes)

    def write(self, chunk: bytes) -> int:
        if self.line_bytes:
            self._check_line(chunk)
        count = chunk.count(b"\n")
        if self.lines + count < self.limit:
            self.buffer += chunk
            self.lines += count
            return len(chunk)
        rest = chunk
        if self.lines < self.limit:
            end = -1
            for _ in range(self.limit - self.lines):
                end = chunk.index(b"\n", end + 1)
            self.buffer += chunk[: end + 1]
            self.lines = self.limit
            rest = chunk[end + 1 :]
        if rest:
            # Any byte after the last kept line starts one more solution: cut here.
            self.truncated = True
            raise _Full
        return len(chunk)

    def flush(self) -> None:
        """pyoxigraph flushes its writer; nothing to do for a buffer."""


#: Answers up to this size are written directly in JSON or XML, then counted (the fast path).
DIRECT_BYTES: Final = 4 * 1024 * 1024


class _ByteCapWriter:
    """A binary sink that refuses to grow past ``limit`` bytes."""

    __slots__ = ("buffer", "limit")

    def __init__(self, limit: int) -> None:
        self.buffer = bytearray()
        self.limit = limit

    def write(self, chunk: bytes) -> int:
        if len(self.buffer) + len(chunk) > self.limit:
            raise _Full
        self.buffer += chunk
        return len(chunk)

    def flush(self) -> None:
        """pyoxigraph flushes its writer; nothing to do for a buffer."""


def _count_rows(body: bytes, media_type: str) -> int:
    """Solutions in a complete SPARQL JSON or XML answer, exactly."""
    if media_type == SPARQL_XML:
        # '<' is always escaped in XML text and attributes: every '<result>' is a solution.
        return body.count(b"<result>")
    # Without its strings, a SPARQL JSON answer is all structure: solutions are the objects of
    # the bindings array, and '},{' occurs nowhere else (members start with a key).
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Now every '"' delimits a string: keep what lies between strings.
    skeleton = b"".join(unescaped.split(b'"')[::2])
    if skeleton.rstrip().endswith(b"[]}}"):
        return 0
    return skeleton.count(b"},{") + 1


def serialize_solutions(
    solutions: Any,
    media_type: str,
    max_rows: int,
    rerun: Callable[[], Any] | None = None,
    *,
    max_value_bytes: int = MAX_VALUE_BYTES,
) -> QueryResult:
    """Write SELECT ``solutions`` (pyoxigraph QuerySolutions) as ``media_type``, capped.

    JSON and XML answers up to DIRECT_BYTES are written natively in one pass and counted; a
    longer one is cut through TSV, from ``rerun()`` (the same solutions again) when given.
    """
    if media_type in (SPARQL_JSON, SPARQL_XML):
        fmt = SOLUTION_MEDIA_TYPES[media_type]
        direct = _ByteCapWriter(DIRECT_BYTES)
        try:
            solutions.serialize(direct, format=fmt)
        except _Full:
            if rerun is None:
                raise
            solutions = rerun()
        else:
            body = bytes(direct.buffer)
            rows = _count_rows(body, media_type)
            # No value can be over the cap when the whole answer is not (else: checked below).
            if rows <= max_rows and len(body) <= max_value_bytes:
                _check_xml(body, media_type, "solutions")
                return QueryResult(body, media_type, "solutions", rows=rows, truncated=False)
            solutions = ox.parse_query_results(body, fmt)
    return _capped_through_tsv(solutions, media_type, max_rows, max_value_bytes)


def _capped_through_tsv(
    solutions: Any, media_type: str, max_rows: int, max_value_bytes: int
) -> QueryResult:
    fmt = SOLUTION_MEDIA_TYPES[media_type]
    # The header line, then one line per solution.
    sink = _LineCapWriter(max_rows + 1, max_value_bytes)
    with contextlib.suppress(_Full):
        solutions.serialize(sink, format=ox.QueryResultsFormat.TSV)
    tsv = bytes(sink.buffer)
    rows = max(sink.lines - 1, 0)
    if media_type == TSV:
        body = tsv
    else:
        try:
            parsed = ox.parse_query_results(tsv, ox.QueryResultsFormat.TSV)
            body = parsed.serialize(format=fmt) or b""
        except MemoryError:  # the parser's own 16 MiB cap per value (max_value_bytes above it)
            raise _too_large(max_value_bytes) from None
        _check_xml(body, media_type, "solutions")
    return QueryResult(body, media_type, "solutions", rows=rows, truncated=sink.truncated)


def serialize_boolean(value: bool, media_type: str) -> QueryResult:
    """Write an ASK answer; ``media_type`` must be one of BOOLEAN_MEDIA_TYPES."""
    fmt = BOOLEAN_MEDIA_TYPES[media_type]
    if fmt == ox.QueryResultsFormat.JSON:
        body = b'{"head":{},"boolean":true}' if value else b'{"head":{},"boolean":false}'
    else:
        body = (
            b'<?xml version="1.0"?><sparql xmlns="http://www.w3.org/2005/sparql-results#">'
            b"<head></head><boolean>" + (b"true" if value else b"false") + b"</boolean></sparql>"
        )
    return QueryResult(body, media_type, "boolean")


def serialize_graph(
    triples: Any,
    media_type: str,
    max_rows: int,
    prefixes: Mapping[str, str] | None = None,
) -> QueryResult:
    """Write CONSTRUCT/DESCRIBE ``triples`` (any iterable of Triple or Quad) as ``media_type``,
    at most ``max_rows`` of them.

    ``prefixes`` (prefix → IRI, e.g. the query's own PREFIX lines) shorten Turtle and TriG.
    """
    fmt = GRAPH_MEDIA_TYPES[media_type]
    kept: list[Any] = []
    truncated = False
    for triple in triples:
        if len(kept) == max_rows:
            truncated = True
            break
        kept.append(triple)
    data: list[Any] = kept
    if media_type in _QUAD_FORMATS:
        default = ox.DefaultGraph()
        data = [ox.Quad(t.subject, t.predicate, t.object, default) for t in kept]
    body: bytes | None = None
    if prefixes and media_type in (TURTLE, TRIG, RDF_XML):
        usable = {p: i for p, i in prefixes.items() if p or media_type != RDF_XML}
        try:
            body = ox.serialize(data, format=fmt, prefixes=usable)
        except ValueError:
            body = None  # a prefix pyoxigraph will not write: plain IRIs then
    if body is None:
        body = ox.serialize(data, format=fmt)
    _check_xml(body or b"", media_type, "graph")
    return QueryResult(body or b"", media_type, "graph", rows=len(kept), truncated=truncated)


def serialize_result(
    result: Any,
    accept: Sequence[str],
    max_rows: int,
    prefixes: Mapping[str, str] | None = None,
    rerun: Callable[[], Any] | None = None,
    *,
    max_value_bytes: int = MAX_VALUE_BYTES,
) -> QueryResult:
    """Serialise whatever pyoxigraph returned for a query (boolean, solutions or triples).

    ``rerun`` returns the same answer again (runs the query again): needed only for SELECT
    answers in JSON/XML longer than DIRECT_BYTES.
    """
    if isinstance(result, ox.QueryBoolean):
        return serialize_boolean(bool(result), choose_media_type("boolean", accept))
    if isinstance(result, ox.QuerySolutions):
        media_type = choose_media_type("solutions", accept)
        return serialize_solutions(
            result, media_type, max_rows, rerun, max_value_bytes=max_value_bytes
        )
    return serialize_graph(result, choose_media_type("graph", accept), max_rows, prefixes)
