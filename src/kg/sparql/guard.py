"""The query guard: look at a query before any native parser does, and refuse the dangerous ones.

One tokenizer (:mod:`kg.sparql.tokens`, the SPARQL 1.1 grammar's terminals, linear time) reads
the text; a small state machine over its tokens finds the query form, the deepest bracket
nesting, SERVICE and LOAD keywords, and the FROM / FROM NAMED / USING graphs with PREFIX and
BASE resolved. :func:`check` then refuses:

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
- text over ``max_request_bytes`` (QueryTooLarge); a string that never ends
  (QuerySyntaxError: nothing after it could be read safely).

Two readings, because engines differ: the SPARQL spec decodes ``\\uXXXX`` escapes in the whole
text before parsing, pyoxigraph decodes them only inside IRIs and strings (``'\\u0027'`` is a
one-character string to pyoxigraph, the start of a long string to the spec). A text with an
escape is read both ways and what either reading finds counts.

Keywords are read as the engines read them, glued or not: pyoxigraph takes ``1SERVICE``,
``trueSERVICE``, ``ASKFROM`` or ``PREFIXex:`` as two tokens. No SPARQL keyword contains
"service" or "load", so a word or a prefix that contains either is taken for that keyword
(a query that uses such a prefix name is refused: rename the prefix).
"""

from __future__ import annotations

import asyncio
import functools
import re
import sys
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final
from urllib.parse import urljoin

from kg.config import Settings
from kg.errors import ForbiddenQuery, QuerySyntaxError, QueryTooComplex, QueryTooLarge
from kg.sizedcache import SizedCache
from kg.sparql import tokens
from kg.sparql.tokens import Kind

__all__ = ["QUERY_FORMS", "UPDATE_OPERATIONS", "QueryShape", "check", "check_off_loop", "inspect"]

#: Keywords that start a read query.
QUERY_FORMS: Final = frozenset({"SELECT", "ASK", "CONSTRUCT", "DESCRIBE"})
#: Keywords that start an update operation.
UPDATE_OPERATIONS: Final = frozenset(
    {"INSERT", "DELETE", "LOAD", "CLEAR", "CREATE", "DROP", "COPY", "MOVE", "ADD", "WITH"}
)
#: A form or update keyword at the start of a (possibly glued) word, upper case.
_LEADING_FORM: Final = re.compile("|".join(sorted(QUERY_FORMS | UPDATE_OPERATIONS, key=len)[::-1]))
#: Keywords that may be glued in front of a prefixed name at the top level (``FROMex:g``),
#: by state: what the engine would read before the prefixed name.
_GLUE: Final = ("PREFIX", "FROM", "USING", "ASK", "CONSTRUCT")

#: Texts longer than this are guarded in a thread (:func:`check_off_loop`): linear is still
#: up to a second for a hostile megabyte, and the event loop keeps serving meanwhile.
OFF_LOOP_CHARS: Final = 64 * 1024

#: BASE declarations accepted in one text (an update has one prologue per operation).
_MAX_BASES: Final = 256

#: Bytes the shape cache may hold: an entry costs twice its text's size in memory (the key,
#: and at most as much again for the IRIs its shape copies out of it).
CACHE_BYTES: Final = 16 * 1024 * 1024


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
    #: Kept for callers of the former two-path guard: the one tokenizer's depth is exact.
    depth_exact: bool = True

    @property
    def is_update(self) -> bool:
        return self.form == "UPDATE"

    @property
    def has_dataset(self) -> bool:
        """True when the text chooses its own dataset (FROM / FROM NAMED / USING)."""
        return bool(self.from_graphs or self.from_named_graphs)


def _resolve(iri: str, base: str | None) -> str:
    if base is None or re.match(r"[A-Za-z][A-Za-z0-9+.\-]*:", iri):
        return iri
    return urljoin(base, iri)


class _Reader:
    """The state machine over one reading's tokens: what the previous keywords expect next."""

    def __init__(self, base_iri: str | None) -> None:
        self.form: str | None = None
        self.service = False
        self.load = False
        #: LOAD found only inside a prefix name: it counts for updates, never for queries.
        self.load_in_name = False
        self.from_graphs: list[str] = []
        self.from_named: list[str] = []
        self.operations: list[str] = []
        self.prefixes: dict[str, str] = {}
        self.base = base_iri
        self.bases = 0
        #: None, "prefix-name", "prefix-iri", "base", "from", "from-graph".
        self.expect: str | None = None
        self.pending_prefix = ""
        self.named = False

    def read(self, text: str, depth: int = 0) -> int:
        """Read ``text`` (nested ``depth`` deep to begin with); returns its deepest nesting."""
        stream = tokens.tokenize(text, depth)
        deepest = depth
        for kind, value in stream:
            if kind is Kind.WORD:
                self._word(value, stream.depth)
            elif kind is Kind.PNAME:
                self._pname(value, stream.depth)
            elif kind is Kind.IRI:
                if ")" in value:
                    deepest = max(deepest, self._as_code(value[1:], stream.depth))
                self._iri(tokens.unescape_iri(value[1:-1]))
            else:  # brackets, strings, variables, numbers, punctuation
                self.expect = None
            # While a keyword waits for its operand, the stream yields every token.
            stream.fine = self.expect is not None
        return max(deepest, stream.max_depth)

    def _as_code(self, text: str, depth: int) -> int:
        """The other reading of an IRI with ")" in it: in an expression pyoxigraph reads
        ``FILTER(?a<?b)SERVICE?e#>`` as ``?a < ?b``, the end of the filter, SERVICE, and a
        comment. What follows the ``<`` counts as code (any "service" in it as SERVICE);
        returns the deepest nesting it reaches."""
        code = tokens.as_code(text)
        upper = code.upper()
        folded = upper if code.isascii() else code.casefold().upper()
        if "SERVICE" in upper or "SERVICE" in folded:
            self.service = True
        if "LOAD" in upper or "LOAD" in folded:
            self.load = True
        return tokens.nesting(code, depth)[1]

    def _word(self, word: str, depth: int) -> None:
        upper = word.upper()
        folded = upper if word.isascii() else word.casefold().upper()
        if "SERVICE" in upper or "SERVICE" in folded:
            self.service = True
        if "LOAD" in upper or "LOAD" in folded:
            self.load = True
        expect = self.expect
        self.expect = None
        if depth == 0:
            self._form(upper)
        if (expect == "from" and upper == "NAMED") or upper.endswith(("FROMNAMED", "USINGNAMED")):
            self.named = True
            self.expect = "from-graph"
        elif upper.endswith(("FROM", "USING")):
            self.named = False
            self.expect = "from"
        elif upper.endswith("PREFIX"):
            self.expect = "prefix-name"
        elif upper.endswith("BASE"):
            self.expect = "base"

    def _form(self, upper: str) -> None:
        found = _LEADING_FORM.match(upper)
        if found is None:
            return
        keyword = found.group()
        if self.form is None and keyword in QUERY_FORMS:
            self.form = keyword
        elif self.form in (None, "UPDATE") and keyword in UPDATE_OPERATIONS:
            self.form = "UPDATE"
            self.operations.append(keyword)

    def _pname(self, value: str, depth: int) -> None:
        value = value.rstrip(".") if not value.endswith("\\.") else value
        prefix, _, local = value.partition(":")
        if self.expect == "prefix-name":
            self.pending_prefix = prefix
            self.expect = "prefix-iri" if not local else None
            return
        upper = prefix.upper()
        folded = upper if prefix.isascii() else prefix.casefold().upper()
        if "SERVICE" in upper or "SERVICE" in folded:
            self.service = True
        if "LOAD" in upper or "LOAD" in folded:
            self.load_in_name = True
        if depth == 0 and prefix not in self.prefixes:
            # A keyword glued in front: ``FROMex:g`` is FROM ex:g to the engine.
            for keyword in _GLUE if self.expect is None else ("NAMED",):
                if prefix[: len(keyword)].upper() == keyword:
                    self._word(prefix[: len(keyword)], depth)
                    self._pname(value[len(keyword) :], depth)
                    return
        expect = self.expect
        self.expect = None
        if expect in ("from", "from-graph"):
            namespace = self.prefixes.get(prefix)
            # Unknown prefix: the parser will refuse it; still report it as an unknown graph.
            graph = value if namespace is None else namespace + tokens.unescape_local(local)
            (self.from_named if self.named else self.from_graphs).append(graph)
            self.named = False
        elif depth == 0:
            self._form(upper)

    def _iri(self, iri: str) -> None:
        expect = self.expect
        self.expect = None
        if expect == "prefix-iri":
            self.prefixes[self.pending_prefix] = _resolve(iri, self.base)
        elif expect == "base":
            self.bases += 1
            if self.bases > _MAX_BASES:
                # Each costs an IRI resolution; no real text needs this many.
                raise QuerySyntaxError(f"more than {_MAX_BASES} BASE declarations")
            self.base = _resolve(iri, self.base)
        elif expect in ("from", "from-graph"):
            graph = _resolve(iri, self.base)
            (self.from_named if self.named else self.from_graphs).append(graph)
            self.named = False


def _unique(*lists: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for items in lists for item in items))


def _shape(text: str, base_iri: str | None) -> QueryShape:
    """Read ``text`` as pyoxigraph does and, if it has escapes, as the spec does; merge."""
    engine = _Reader(base_iri)
    depth = engine.read(text)
    readers = [engine]
    if "\\u" in text or "\\U" in text:
        spec = _Reader(base_iri)
        depth = max(depth, spec.read(tokens.decode_escapes(text)))
        readers.append(spec)
    form = engine.form or readers[-1].form
    return QueryShape(
        form=form,
        depth=depth,
        service=any(r.service for r in readers),
        load=any(r.load for r in readers)
        or (form in (None, "UPDATE") and any(r.load_in_name for r in readers)),
        from_graphs=_unique(*(r.from_graphs for r in readers)),
        from_named_graphs=_unique(*(r.from_named for r in readers)),
        operations=tuple(engine.operations or readers[-1].operations),
        prefixes=MappingProxyType(engine.prefixes),
    )


_cache: SizedCache[tuple[str, str | None], QueryShape] = SizedCache(CACHE_BYTES)
_cache_lock = threading.Lock()


def inspect(text: str, base_iri: str | None = None) -> QueryShape:
    """Tokenize ``text`` (a query or an update) and describe it. Never runs the native parser.

    Linear in the text. Cached: the same texts come again and again; the cache holds at most
    :data:`CACHE_BYTES` bytes in total, least recently used first out.
    """
    key = (text, base_iri)
    with _cache_lock:
        shape = _cache.get(key)
    if shape is None:
        shape = _shape(text, base_iri)
        with _cache_lock:
            _cache.put(key, shape, 2 * (sys.getsizeof(text) + sys.getsizeof(base_iri)))
    return shape


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
    allow_service: bool | None = None,
) -> QueryShape:
    """Refuse what the settings do not allow; return the shape of an acceptable query.

    ``refuse_unknown_graphs=False`` is for engines that never dereference graph names (the
    embedded pyoxigraph store): there an unknown graph is an empty one and is not refused.
    ``allow_service`` overrides the setting of that name (a store whose workers could not be
    isolated from the network passes False).

    Raises QueryTooLarge, QueryTooComplex, QuerySyntaxError or ForbiddenQuery with a message
    that says what was refused and which setting would allow it.
    """
    _size_check(text, settings)
    shape = inspect(text, base_iri)
    if shape.depth > settings.max_query_depth:
        raise QueryTooComplex(
            f"the query nests brackets {shape.depth} deep; at most {settings.max_query_depth} "
            "are accepted (setting max_query_depth, KG_MAX_QUERY_DEPTH)"
        )
    if shape.load:
        raise ForbiddenQuery("LOAD is not allowed: it makes the server fetch a URL")
    service_allowed = settings.allow_service if allow_service is None else allow_service
    if shape.service and not service_allowed:
        raise ForbiddenQuery(
            "SERVICE (federated query) is disabled: it makes the server fetch a URL "
            "(setting allow_service, KG_ALLOW_SERVICE=true enables it; a word or prefix name "
            "containing 'service' counts, as engines read keywords glued to other text)"
        )
    if refuse_unknown_graphs and not settings.allow_remote_from:
        known = set(known_graphs)
        for what, graphs in (
            # One list each for the query's FROM and the update's USING: the message names both.
            ("FROM (or USING)", shape.from_graphs),
            ("FROM NAMED (or USING NAMED)", shape.from_named_graphs),
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


async def check_off_loop(
    text: str,
    settings: Settings,
    known_graphs: Collection[str],
    *,
    default_graph_uris: Sequence[str] = (),
    named_graph_uris: Sequence[str] = (),
    base_iri: str | None = None,
    refuse_unknown_graphs: bool = True,
    allow_service: bool | None = None,
) -> QueryShape:
    """:func:`check` for callers on the event loop: a long text is read in a worker thread
    (the tokenizer holds the GIL only one regex step at a time), a short one right here."""
    work = functools.partial(
        check,
        text,
        settings,
        known_graphs,
        default_graph_uris=default_graph_uris,
        named_graph_uris=named_graph_uris,
        base_iri=base_iri,
        refuse_unknown_graphs=refuse_unknown_graphs,
        allow_service=allow_service,
    )
    if len(text) <= OFF_LOOP_CHARS:
        return work()
    return await asyncio.to_thread(work)
