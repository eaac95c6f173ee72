"""The query guard: look at a query before any native parser does, and refuse the dangerous ones.

A small SPARQL lexer (strings in all four quote forms with escapes, IRIs, prefixed names,
comments, after decoding ``\\uXXXX``/``\\UXXXXXXXX`` escapes as the SPARQL grammar says) finds:
the query form, the deepest bracket nesting, SERVICE and LOAD keywords, and the FROM / FROM
NAMED / USING graphs with PREFIX and BASE resolved. :func:`check` then refuses:

- nesting deeper than ``max_query_depth`` (QueryTooComplex): pyoxigraph 0.5.13's recursive
  parser overflows the stack and kills the process at about 2,150 nested ``{`` (4,650 ``(``)
  on an 8 MiB stack; workers run with a bigger stack, the guard stops far below either;
- SERVICE unless ``allow_service``, LOAD always (ForbiddenQuery): both make the engine fetch
  URLs;
- FROM / FROM NAMED / USING IRIs, and the protocol's default-graph-uri / named-graph-uri, that
  are not graphs of the store, unless ``allow_remote_from`` (ForbiddenQuery) — only where the
  engine may dereference them (``refuse_unknown_graphs``: remote engines such as Virtuoso can).
  pyoxigraph never fetches a graph name, so for the embedded store an unknown graph is simply
  an empty graph, as the SPARQL dataset rules say;
- text over ``max_request_bytes`` (QueryTooLarge).

The lexer errs on the side of refusing: an unterminated string or an ``<`` that is not an IRI
is read as punctuation, so what follows is still scanned for keywords.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Final
from urllib.parse import urljoin

from kg.config import Settings
from kg.errors import ForbiddenQuery, QuerySyntaxError, QueryTooComplex, QueryTooLarge

__all__ = ["QUERY_FORMS", "UPDATE_OPERATIONS", "QueryShape", "check", "inspect"]

#: Keywords that start a read query.
QUERY_FORMS: Final = frozenset({"SELECT", "ASK", "CONSTRUCT", "DESCRIBE"})
#: Keywords that start an update operation.
UPDATE_OPERATIONS: Final = frozenset(
    {"INSERT", "DELETE", "LOAD", "CLEAR", "CREATE", "DROP", "COPY", "MOVE", "ADD", "WITH"}
)

_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")

_PN_LOCAL_ESC = r"\\[_~.\-!$&'()*+,;=/?#@%]"
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n\r]*)
  | (?P<string>'''(?:[^'\\]|\\.|'(?!''))*'''
             |\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\"
             |'(?:[^'\\\n\r]|\\.)*'
             |"(?:[^"\\\n\r]|\\.)*")
  | (?P<iri><[^<>"{}|^`\\\x00-\x20]*>)
  | (?P<var>[?$]\w+)
  | (?P<pname>(?:[^\W\d_][\w\-.]*)?:(?:[\w\-.:%]|"""
    + _PN_LOCAL_ESC
    + r""")*)
  | (?P<word>\w+)
  | (?P<open>[{(\[])
  | (?P<close>[})\]])
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_LOCAL_UNESCAPE = re.compile(_PN_LOCAL_ESC)


@dataclass(frozen=True)
class QueryShape:
    """What the guard learnt about a query or update without parsing it."""

    #: SELECT, ASK, CONSTRUCT, DESCRIBE, UPDATE, or None when no form keyword was found.
    form: str | None
    #: Deepest nesting of ``{``, ``(`` and ``[``.
    depth: int
    service: bool = False
    load: bool = False
    #: FROM (and USING) graph IRIs, resolved.
    from_graphs: tuple[str, ...] = ()
    #: FROM NAMED (and USING NAMED) graph IRIs, resolved.
    from_named_graphs: tuple[str, ...] = ()
    #: The update operations at the top level, in order (INSERT, DELETE, LOAD …).
    operations: tuple[str, ...] = ()
    #: PREFIX declarations: prefix (without the colon) → IRI.
    prefixes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: False when ``depth`` is an upper bound (brackets in strings and IRIs counted too).
    depth_exact: bool = True

    @property
    def is_update(self) -> bool:
        return self.form == "UPDATE"

    @property
    def has_dataset(self) -> bool:
        """True when the text chooses its own dataset (FROM / FROM NAMED / USING)."""
        return bool(self.from_graphs or self.from_named_graphs)


def _decode_escapes(text: str) -> str:
    if "\\u" not in text and "\\U" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        code = int(match.group(1) or match.group(2), 16)
        if code > 0x10FFFF:
            raise QuerySyntaxError(f"invalid escape {match.group(0)!r}: no such code point")
        return chr(code)

    return _ESCAPE.sub(replace, text)


def _resolve(iri: str, base: str | None) -> str:
    if base is None or re.match(r"[A-Za-z][A-Za-z0-9+.\-]*:", iri):
        return iri
    return urljoin(base, iri)


#: Any of these (in the lower-cased text) sends a query through the full lexer.
_NEEDS_LEXER: Final = ("service", "load", "from", "using", "\\u")
#: The prologue (PREFIX/BASE declarations, comments) and the first keyword, in lower case.
_PROLOGUE = re.compile(
    r"(?:\s|\#[^\n\r]*|prefix\s*(?:[^\W\d_][\w\-.]*)?:\s*<[^<>\s]*>|base\s*<[^<>\s]*>)*"
    r"(select|ask|construct|describe|insert|delete|clear|create|drop|copy|move|add|with)(?![\w:])"
)
_PREFIX_DECL = re.compile(r"prefix\s*([^\W\d_][\w\-.]*|):\s*<([^<>\s]*)>", re.IGNORECASE)
_BRACKET = re.compile(r"[{}()\[\]]")


def _fast_inspect(text: str, lowered: str) -> QueryShape:
    """The shape of a text without SERVICE, LOAD, FROM, USING or escapes: no lexer needed.

    The depth counts every bracket, also those in strings, IRIs and comments: an upper bound
    (``depth_exact`` false) that :func:`check` refines with the lexer only when it is too high.
    """
    form: str | None = None
    prefixes: dict[str, str] = {}
    found = _PROLOGUE.match(lowered)
    if found is not None:
        keyword = found.group(1).upper()
        form = keyword if keyword in QUERY_FORMS else "UPDATE"
        prologue = text[: found.start(1)]
        if "prefix" in lowered[: found.start(1)]:
            prefixes = {m.group(1): m.group(2) for m in _PREFIX_DECL.finditer(prologue)}
    opens = text.count("{") + text.count("(") + text.count("[")
    depth = opens
    if opens > 16:
        depth = level = 0
        for bracket in _BRACKET.finditer(text):
            level = level + 1 if bracket.group() in "{([" else max(level - 1, 0)
            depth = max(depth, level)
    return QueryShape(
        form=form, depth=depth, prefixes=MappingProxyType(prefixes), depth_exact=False
    )


@lru_cache(maxsize=4096)
def inspect(text: str, base_iri: str | None = None) -> QueryShape:
    """Lex ``text`` (a query or an update) and describe it. Never runs the native parser.

    Cached: the same texts come again and again. A text without any of SERVICE, LOAD, FROM,
    USING or a ``\\u`` escape (nothing in it can reach out) takes a regex-only fast path.
    """
    lowered = text.lower()
    if not any(word in lowered for word in _NEEDS_LEXER):
        shape = _fast_inspect(text, lowered)
        if shape.form != "UPDATE":  # updates are rare: the lexer lists their operations
            return shape
    return _lex(text, base_iri)


def _lex(text: str, base_iri: str | None) -> QueryShape:
    decoded = _decode_escapes(text)
    form: str | None = None
    depth = 0
    max_depth = 0
    service = False
    load = False
    from_graphs: list[str] = []
    from_named: list[str] = []
    operations: list[str] = []
    prefixes: dict[str, str] = {}
    base = base_iri
    # A small state machine over meaningful tokens: what the previous keywords expect next.
    expect: str | None = None  # "prefix-name", "prefix-iri", "base", "from", "from-graph"
    pending_prefix = ""
    named = False
    for match in _TOKEN.finditer(decoded):
        kind = match.lastgroup
        if kind in ("ws", "comment"):
            continue
        value = match.group()
        if kind == "open":
            depth += 1
            max_depth = max(max_depth, depth)
            expect = None
            continue
        if kind == "close":
            depth = max(depth - 1, 0)
            expect = None
            continue
        if kind == "pname" and value.endswith(".") and not value.endswith("\\."):
            value = value.rstrip(".")  # a local name cannot end with '.': it ends the triple
        if expect == "prefix-name":
            expect = "prefix-iri" if kind == "pname" and value.endswith(":") else None
            pending_prefix = value[:-1]
            continue
        if expect == "prefix-iri":
            if kind == "iri":
                prefixes[pending_prefix] = _resolve(value[1:-1], base)
            expect = None
            continue
        if expect == "base":
            if kind == "iri":
                base = _resolve(value[1:-1], base)
            expect = None
            continue
        if expect in ("from", "from-graph"):
            if expect == "from" and kind == "word" and value.upper() == "NAMED":
                named = True
                expect = "from-graph"
                continue
            graph = _graph_iri(kind, value, prefixes, base)
            if graph is not None:
                (from_named if named else from_graphs).append(graph)
            expect = None
            named = False
            if graph is not None:
                continue
        if kind != "word":
            continue
        keyword = value.upper()
        if keyword == "SERVICE":
            service = True
        elif keyword == "LOAD":
            load = True
        if keyword == "PREFIX":
            expect = "prefix-name"
        elif keyword == "BASE":
            expect = "base"
        elif keyword in ("FROM", "USING"):
            expect = "from"
            named = False
        if depth == 0:
            if form is None and keyword in QUERY_FORMS:
                form = keyword
            elif form in (None, "UPDATE") and keyword in UPDATE_OPERATIONS:
                form = "UPDATE"
                operations.append(keyword)
    return QueryShape(
        form=form,
        depth=max_depth,
        service=service,
        load=load,
        from_graphs=tuple(from_graphs),
        from_named_graphs=tuple(from_named),
        operations=tuple(operations),
        prefixes=MappingProxyType(prefixes),
    )


def _graph_iri(
    kind: str | None, value: str, prefixes: Mapping[str, str], base: str | None
) -> str | None:
    if kind == "iri":
        return _resolve(value[1:-1], base)
    if kind == "pname":
        prefix, _, local = value.partition(":")
        namespace = prefixes.get(prefix)
        if namespace is None:
            # Unknown prefix: the parser will refuse it; still report it as an unknown graph.
            return value
        return namespace + _LOCAL_UNESCAPE.sub(lambda m: m.group()[1:], local)
    return None


def _size_check(text: str, settings: Settings) -> None:
    limit = settings.max_request_bytes
    # Characters never outnumber UTF-8 bytes, and a character is at most 4 bytes.
    if len(text) > limit or (
        len(text) * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit
    ):
        raise QueryTooLarge(
            f"the query is over {limit} bytes (setting max_request_bytes, KG_MAX_REQUEST_BYTES)"
        )


def check(
    text: str,
    settings: Settings,
    known_graphs: Collection[str],
    *,
    default_graph_uris: Sequence[str] = (),
    named_graph_uris: Sequence[str] = (),
    base_iri: str | None = None,
    refuse_unknown_graphs: bool = True,
) -> QueryShape:
    """Refuse what the settings do not allow; return the shape of an acceptable query.

    ``refuse_unknown_graphs=False`` is for engines that never dereference graph names (the
    embedded pyoxigraph store): there an unknown graph is an empty one and is not refused.

    Raises QueryTooLarge, QueryTooComplex or ForbiddenQuery with a message that says what was
    refused and which setting would allow it.
    """
    _size_check(text, settings)
    shape = inspect(text, base_iri)
    if shape.depth > settings.max_query_depth and not shape.depth_exact:
        shape = _lex(text, base_iri)
    if shape.depth > settings.max_query_depth:
        raise QueryTooComplex(
            f"the query nests brackets {shape.depth} deep; at most {settings.max_query_depth} "
            "are accepted (setting max_query_depth, KG_MAX_QUERY_DEPTH)"
        )
    if shape.load:
        raise ForbiddenQuery("LOAD is not allowed: it makes the server fetch a URL")
    if shape.service and not settings.allow_service:
        raise ForbiddenQuery(
            "SERVICE (federated query) is disabled: it makes the server fetch a URL "
            "(setting allow_service, KG_ALLOW_SERVICE=true enables it)"
        )
    if refuse_unknown_graphs and not settings.allow_remote_from:
        known = set(known_graphs)
        for what, graphs in (
            ("FROM", shape.from_graphs),
            ("FROM NAMED", shape.from_named_graphs),
            ("default-graph-uri", default_graph_uris),
            ("named-graph-uri", named_graph_uris),
        ):
            for graph in graphs:
                if graph not in known:
                    raise ForbiddenQuery(
                        f"{what} <{graph}> is not a graph of this store; other graphs are not "
                        "fetched (setting allow_remote_from, KG_ALLOW_REMOTE_FROM=true "
                        "lets the engine decide)"
                    )
    return shape
