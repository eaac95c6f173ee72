"""Content negotiation for SPARQL results: typed tables and pure functions, no HTTP.

A client says what it wants with an ``Accept`` header (q-values, lists, ``*/*``, ``type/*``) or
with the ``format`` / ``output`` parameter many SPARQL clients send (``json``, ``csv``, ``ttl``…
or a full media type). :func:`negotiate` turns either into the ordered ``accept`` tuple of
canonical media types that :class:`kg.store.base.QueryRequest` carries, preferred first.

Aliases: ``application/json`` means SPARQL JSON (or JSON-LD for graphs), ``application/xml``
SPARQL XML (or RDF/XML), ``text/plain`` N-Triples. A browser (an Accept that lists
``text/html``) gets the defaults, SPARQL JSON and Turtle, rather than the XML its
``application/xml;q=0.9`` would otherwise win.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from kg.errors import BadParameter, NotAcceptable
from kg.sparql.types import ResultKind

__all__ = [
    "ALIASES",
    "ALL_KINDS",
    "CSV",
    "FORMAT_NAMES",
    "JSON_LD",
    "MEDIA_TYPE_FORMATS",
    "N_QUADS",
    "N_TRIPLES",
    "OFFERED",
    "RDF_XML",
    "SPARQL_JSON",
    "SPARQL_XML",
    "TRIG",
    "TSV",
    "TURTLE",
    "MediaRange",
    "NotAcceptable",
    "format_to_accept",
    "merge_formats",
    "n3_requested",
    "negotiate",
    "parse_accept",
    "rank",
]

SPARQL_JSON: Final = "application/sparql-results+json"
SPARQL_XML: Final = "application/sparql-results+xml"
CSV: Final = "text/csv"
TSV: Final = "text/tab-separated-values"
TURTLE: Final = "text/turtle"
N_TRIPLES: Final = "application/n-triples"
N_QUADS: Final = "application/n-quads"
TRIG: Final = "application/trig"
JSON_LD: Final = "application/ld+json"
RDF_XML: Final = "application/rdf+xml"

ALL_KINDS: Final[tuple[ResultKind, ...]] = ("solutions", "boolean", "graph")

#: What the endpoint answers in, per result kind, in the server's order of preference.
OFFERED: Final[Mapping[ResultKind, tuple[str, ...]]] = {
    "solutions": (SPARQL_JSON, SPARQL_XML, CSV, TSV),
    # CSV/TSV have no boolean form in the W3C notes, so ASK is JSON or XML only.
    "boolean": (SPARQL_JSON, SPARQL_XML),
    "graph": (TURTLE, N_TRIPLES, N_QUADS, TRIG, JSON_LD, RDF_XML),
}

#: Short names (lower case) for each canonical media type: the ``format`` parameter values.
MEDIA_TYPE_FORMATS: Final[Mapping[str, str]] = {
    SPARQL_JSON: "json",
    SPARQL_XML: "xml",
    CSV: "csv",
    TSV: "tsv",
    TURTLE: "turtle",
    N_TRIPLES: "ntriples",
    N_QUADS: "nquads",
    TRIG: "trig",
    JSON_LD: "jsonld",
    RDF_XML: "rdfxml",
}

#: Media types clients send that stand for one of ours (one per kind where both apply).
ALIASES: Final[Mapping[str, tuple[str, ...]]] = {
    "application/json": (SPARQL_JSON, JSON_LD),
    "application/xml": (SPARQL_XML, RDF_XML),
    "text/xml": (SPARQL_XML, RDF_XML),
    "text/plain": (N_TRIPLES,),
    "application/x-turtle": (TURTLE,),
    "application/turtle": (TURTLE,),
    "text/n3": (TURTLE,),
    "text/rdf+n3": (TURTLE,),
    "application/n3": (TURTLE,),
    "application/x-json+ld": (JSON_LD,),
    "text/x-nquads": (N_QUADS,),
    "application/x-trig": (TRIG,),
    "text/tsv": (TSV,),
    "application/sparql-results+csv": (CSV,),
    "application/sparql-results+tsv": (TSV,),
}

#: Alias ranges a browser lists for itself, not for us: ignored when text/html is present.
_BROWSER_ALIASES: Final = frozenset({"application/xml", "text/xml", "text/plain"})

#: ``format`` / ``output`` parameter values (lower case) → canonical media types.
FORMAT_NAMES: Final[Mapping[str, tuple[str, ...]]] = {
    "json": (SPARQL_JSON, JSON_LD),
    "srj": (SPARQL_JSON,),
    "xml": (SPARQL_XML, RDF_XML),
    "srx": (SPARQL_XML,),
    "csv": (CSV,),
    "tsv": (TSV,),
    "turtle": (TURTLE,),
    "ttl": (TURTLE,),
    "nt": (N_TRIPLES,),
    "ntriples": (N_TRIPLES,),
    "n-triples": (N_TRIPLES,),
    "nq": (N_QUADS,),
    "nquads": (N_QUADS,),
    "n-quads": (N_QUADS,),
    "trig": (TRIG,),
    "jsonld": (JSON_LD,),
    "json-ld": (JSON_LD,),
    "rdfxml": (RDF_XML,),
    "rdf/xml": (RDF_XML,),
    "rdf": (RDF_XML,),
    "rdf+xml": (RDF_XML,),  # SPARQLWrapper's RDFXML
    # Turtle is valid N3: an N3 client gets Turtle, labelled text/n3 (see n3_requested).
    "n3": (TURTLE,),
}

#: Names and media types by which a client asks for N3.
N3_NAMES: Final = frozenset({"n3", "text/n3", "text/rdf+n3", "application/n3"})


@dataclass(frozen=True)
class MediaRange:
    """One element of an Accept header."""

    type: str
    subtype: str
    q: float
    #: Position in the header: earlier wins between equal q-values.
    position: int

    @property
    def essence(self) -> str:
        return f"{self.type}/{self.subtype}"


def parse_accept(header: str | None) -> list[MediaRange]:
    """Parse an Accept header; malformed elements are skipped, a missing header — or one with
    no well-formed element (``;;;``) — means ``*/*``, and so does a bare ``*`` (Java's
    HttpURLConnection sends ``…, *; q=.2, */*; q=.2``)."""
    if header is None or not header.strip():
        return [MediaRange("*", "*", 1.0, 0)]
    ranges: list[MediaRange] = []
    for position, element in enumerate(header.split(",")):
        parts = element.split(";")
        essence = parts[0].strip().lower()
        if essence == "*":
            essence = "*/*"
        main, slash, sub = essence.partition("/")
        if not slash or not main or not sub or (main == "*" and sub != "*"):
            continue
        q = 1.0
        for param in parts[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    q = 1.0
        ranges.append(MediaRange(main, sub, q, position))
    return ranges or [MediaRange("*", "*", 1.0, 0)]


def _match(
    media_type: str, ranges: Sequence[MediaRange], browser: bool
) -> tuple[float, int, int] | None:
    """(q, specificity, position) of the most specific range matching ``media_type``."""
    main = media_type.split("/", 1)[0]
    best: tuple[float, int, int] | None = None
    for r in ranges:
        essence = r.essence
        if essence == media_type:
            specificity = 3
        elif media_type in ALIASES.get(essence, ()) and not (
            browser and essence in _BROWSER_ALIASES
        ):
            specificity = 2
        elif r.subtype == "*" and r.type == main:
            specificity = 1
        elif r.type == "*":
            specificity = 0
        else:
            continue
        if best is None or specificity > best[1]:
            best = (r.q, specificity, r.position)
    return best


def rank(accept: str | None, offered: Sequence[str]) -> tuple[str, ...]:
    """The acceptable ones of ``offered``, best first (q, then the client's order, then ours)."""
    ranges = parse_accept(accept)
    browser = any(r.essence == "text/html" for r in ranges)
    scored: list[tuple[float, int, int, str]] = []
    for index, media_type in enumerate(offered):
        found = _match(media_type, ranges, browser)
        if found is None or found[0] <= 0.0:
            continue
        q, specificity, position = found
        # Wildcard matches keep the server's order; explicit ones follow the client's.
        order = position if specificity >= 2 else len(ranges) + index
        scored.append((-q, order, index, media_type))
    scored.sort()
    return tuple(item[3] for item in scored)


def _one_format(value: str) -> tuple[str, ...]:
    name = value.strip().lower()
    if name in FORMAT_NAMES:
        return FORMAT_NAMES[name]
    essence = name.split(";", 1)[0].strip()
    if essence in MEDIA_TYPE_FORMATS:
        return (essence,)
    if essence in ALIASES:
        return ALIASES[essence]
    known = ", ".join(sorted(FORMAT_NAMES))
    raise BadParameter(f"unknown result format {value!r}; use one of: {known} (or a media type)")


def format_to_accept(value: str) -> tuple[str, ...]:
    """The media types a ``format``/``output`` parameter value stands for.

    A comma-separated list (what SPARQLWrapper copies from its Accept header) stands for all of
    its members. Raises BadParameter for a value that is neither a known name nor a media type
    we offer.
    """
    seen: dict[str, None] = {}
    for part in value.split(","):
        if part.strip():
            for media_type in _one_format(part):
                seen.setdefault(media_type, None)
    if not seen:
        raise BadParameter("empty result format")
    return tuple(seen)


def merge_formats(values: Sequence[str]) -> str | None:
    """One ``format`` value for several ``format``/``output`` values that agree.

    SPARQLWrapper sends ``format=tsv&format=text/tab-separated-values&output=tsv…``: each value
    is resolved to media types and the answer is what they all allow (empty values are
    skipped). Values that allow nothing in common are a BadParameter.
    """
    given = [v for v in values if v.strip()]
    if len({v.strip().lower() for v in given}) <= 1:
        return given[0] if given else None  # one value (maybe repeated): kept as written
    common = list(format_to_accept(given[0]))
    for value in given[1:]:
        allowed = set(format_to_accept(value))
        common = [m for m in common if m in allowed]
    if not common:
        shown = ", ".join(repr(v) for v in given)
        raise BadParameter(f"the result formats {shown} disagree; give one format")
    return ",".join(common)


def n3_requested(accept: str | None, fmt: str | None) -> bool:
    """Whether the client asked for N3 by name (``format=n3``) or first in its Accept header."""
    if fmt is not None and fmt.strip():
        return any(p.strip().lower().split(";")[0].strip() in N3_NAMES for p in fmt.split(","))
    ranges = [r for r in parse_accept(accept) if r.q > 0]
    if not ranges:
        return False
    best = max(r.q for r in ranges)
    first = next(r for r in ranges if r.q == best)
    return first.essence in N3_NAMES


def _offered_for(kinds: Iterable[ResultKind]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for kind in kinds:
        for media_type in OFFERED[kind]:
            seen.setdefault(media_type, None)
    return tuple(seen)


@lru_cache(maxsize=512)
def negotiate(
    accept: str | None,
    fmt: str | None = None,
    kinds: tuple[ResultKind, ...] = ALL_KINDS,
) -> tuple[str, ...]:
    """The ordered ``accept`` tuple for a QueryRequest.

    ``fmt`` (the ``format``/``output`` parameter) overrides the Accept header. ``kinds`` are the
    result kinds the query can produce (all three when unknown). Cached: clients repeat their
    Accept header on every request. Every kind in ``kinds`` must be
    served by at least one media type in the answer, else NotAcceptable lists what is offered.
    """
    offered = _offered_for(kinds)
    if fmt is not None and fmt.strip():
        wanted = format_to_accept(fmt)
        chosen = tuple(m for m in wanted if m in offered)
    else:
        chosen = rank(accept, offered)
    missing = [k for k in kinds if not any(m in OFFERED[k] for m in chosen)]
    if missing and (len(kinds) == 1 or not chosen):
        what = fmt if fmt is not None and fmt.strip() else (accept or "*/*")
        kind_names = {"solutions": "SELECT", "boolean": "ASK", "graph": "CONSTRUCT/DESCRIBE"}
        possible = _offered_for(missing)
        if len(missing) == 1:
            message = f"cannot answer {kind_names[missing[0]]} as {what!r}; offered: "
            message += ", ".join(possible)
        else:  # the query's form is not known yet: what each form is offered as
            message = f"no result format offered matches {what!r}; offered: " + "; ".join(
                f"{kind_names[k]} as {', '.join(OFFERED[k])}" for k in missing
            )
        raise NotAcceptable(message, possible)
    return chosen
