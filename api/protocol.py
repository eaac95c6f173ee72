"""Parse an HTTP request into one SPARQL 1.1 Protocol operation, checking the protocol's rules.

Kept apart from the route so the rules read in one place: where each parameter may come from,
which content types a POST may have, what counts as two queries, the size limit and UTF-8.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote_to_bytes

from starlette.requests import Request

from kg.errors import BadParameter, QuerySyntaxError, QueryTooLarge, UnsupportedMediaType
from kg.sparql.negotiation import merge_formats

__all__ = ["Operation", "parse_form", "parse_operation", "read_body", "unquote_plus_bytes"]

FORM = "application/x-www-form-urlencoded"
SPARQL_QUERY = "application/sparql-query"
SPARQL_UPDATE = "application/sparql-update"

#: Parameters that may be given at most once (format/output values may repeat if they agree).
_SINGLE = ("query", "update")


@dataclass(frozen=True)
class Operation:
    """One protocol operation: a query, an update, or (bare GET) the service description."""

    kind: Literal["query", "update", "describe"]
    text: str = ""
    default_graph_uris: tuple[str, ...] = ()
    named_graph_uris: tuple[str, ...] = ()
    using_graph_uris: tuple[str, ...] = ()
    using_named_graph_uris: tuple[str, ...] = ()
    #: The ``format`` / ``output`` parameter, when given.
    format: str | None = None


def unquote_plus_bytes(part: bytes) -> bytes:
    """``+`` to space and ``%XX`` escapes decoded, as :func:`urllib.parse.unquote_plus` does
    (a ``%`` without two hex digits stays as it is), on bytes.

    Fast path in C: with every ``%`` turned into ``=``, quoted-printable decoding
    (:func:`binascii.a2b_qp`) decodes exactly the ``=XX`` escapes. It is taken only when it
    cannot differ from urllib: no ``=``, CR or LF in the input (quoted-printable gives those a
    meaning), and every ``%`` was a valid escape — each one then shortened the text by exactly
    two bytes, the most any ``%`` can. Anything else goes through urllib.
    """
    part = part.replace(b"+", b" ")
    escapes = part.count(b"%")
    if not escapes:
        return part
    if b"=" not in part and b"\r" not in part and b"\n" not in part:
        decoded = binascii.a2b_qp(part.replace(b"%", b"="))
        if len(decoded) == len(part) - 2 * escapes:
            return decoded
    return unquote_to_bytes(part)


def parse_form(raw: bytes) -> list[tuple[str, str]]:
    """application/x-www-form-urlencoded pairs as :func:`urllib.parse.parse_qsl` reads them
    with ``keep_blank_values`` (``&`` separates, empty fields are skipped, a field without
    ``=`` has an empty value), with strict UTF-8: UnicodeDecodeError otherwise.

    A query string is decoded on every request: this is 6× faster than parse_qsl on a
    percent-encoded query (tests/test_protocol_form.py compares the two)."""
    if not raw.isascii():
        # The text itself must be UTF-8 before any escape is decoded (as parse_qsl reads it):
        # raw bytes that are only valid together with escaped ones are refused.
        raw.decode("utf-8")
    pairs: list[tuple[str, str]] = []
    for field in raw.split(b"&"):
        if not field:
            continue
        name, _, value = field.partition(b"=")
        pairs.append(
            (unquote_plus_bytes(name).decode("utf-8"), unquote_plus_bytes(value).decode("utf-8"))
        )
    return pairs


def _parse_pairs(raw: bytes, where: str) -> list[tuple[str, str]]:
    """application/x-www-form-urlencoded pairs; percent-escapes must decode as UTF-8."""
    try:
        return parse_form(raw)
    except UnicodeDecodeError as exc:
        raise QuerySyntaxError(f"the {where} is not valid UTF-8 (byte {exc.start})") from None


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with QueryTooLarge past ``limit`` bytes.

    A Content-Length over the limit is refused before reading anything; a chunked body is
    counted while it arrives and refused as soon as it passes the limit. A body with a content
    coding (``Content-Encoding: gzip``) is refused with 415 (RFC 9110 §8.4.1): nothing here
    decompresses, and the compressed bytes were read as the query, or as the form.
    """
    coding = request.headers.get("content-encoding", "").strip().lower()
    if coding not in {"", "identity"}:
        raise UnsupportedMediaType(
            f"Content-Encoding {coding[:40]!r} is not supported: send the body uncompressed"
        )
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BadParameter(f"invalid Content-Length {declared!r}") from None
        if size > limit:
            raise QueryTooLarge(
                f"request body of {size} bytes is over the limit of {limit} bytes "
                "(setting max_request_bytes)"
            )
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise QueryTooLarge(
                f"request body is over the limit of {limit} bytes (setting max_request_bytes)"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _content_type(request: Request) -> tuple[str, str | None]:
    """(essence, charset) of the Content-Type header."""
    header = request.headers.get("content-type", "")
    parts = header.split(";")
    essence = parts[0].strip().lower()
    charset = None
    for param in parts[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return essence, charset


def _decode(body: bytes, what: str) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise QuerySyntaxError(f"the {what} is not valid UTF-8 (byte {exc.start})") from None


def _collect(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    for name in _SINGLE:
        if len(params.get(name, ())) > 1:
            raise BadParameter(f"parameter {name!r} given {len(params[name])} times; give it once")
    return params


def _operation(params: dict[str, list[str]], body_text: str | None, kind: str) -> Operation:
    """Build the operation; ``body_text`` is a direct-POST body of ``kind`` (query/update)."""
    queries = params.get("query", [])
    updates = params.get("update", [])
    fmt = merge_formats([*params.get("format", []), *params.get("output", [])])
    if body_text is not None:
        if queries or updates:
            raise BadParameter(
                f"a direct POST carries the {kind} in its body; "
                "do not also give a 'query' or 'update' parameter"
            )
        if kind == "query":
            queries = [body_text]
        else:
            updates = [body_text]
    if queries and updates:
        raise BadParameter("give either 'query' or 'update', not both")
    kind_: Literal["query", "update", "describe"] = (
        "update" if updates else "query" if queries else "describe"
    )
    # A UTF-8 byte order mark is a signature, not text (editors on Windows write one before a
    # query file's first line): the parser would call it a syntax error.
    text = (updates or queries or [""])[0].removeprefix("\ufeff")
    if kind_ != "describe" and not text.strip():
        # The parser's own word for it is "error at 1:1: expected [_]".
        raise QuerySyntaxError(f"the {kind_} is empty")
    return Operation(
        kind_,
        text,
        default_graph_uris=tuple(params.get("default-graph-uri", ())),
        named_graph_uris=tuple(params.get("named-graph-uri", ())),
        using_graph_uris=tuple(params.get("using-graph-uri", ())),
        using_named_graph_uris=tuple(params.get("using-named-graph-uri", ())),
        format=fmt,
    )


async def parse_operation(request: Request, limit: int) -> Operation:
    """The operation a GET/HEAD/POST on the endpoint asks for, or a protocol error."""
    url_pairs = _parse_pairs(request.scope.get("query_string", b""), "query string")
    if request.method in {"GET", "HEAD"}:
        params = _collect(url_pairs)
        if "update" in params:
            raise BadParameter("SPARQL Update must be sent with POST, not GET")
        if sum(len(v) for v in params.get("query", [])) > limit:
            raise QueryTooLarge(f"query is over the limit of {limit} bytes")
        return _operation(params, None, "query")
    essence, charset = _content_type(request)
    if essence not in {FORM, SPARQL_QUERY, SPARQL_UPDATE}:
        shown = essence or "none"
        raise UnsupportedMediaType(
            f"a POST must be {FORM}, {SPARQL_QUERY} or {SPARQL_UPDATE} (Content-Type was {shown})"
        )
    if charset is not None and charset not in {"utf-8", "utf8", "us-ascii"}:
        raise UnsupportedMediaType(f"the body must be UTF-8 (charset was {charset})")
    body = await read_body(request, limit)
    if essence == FORM:
        params = _collect(url_pairs + _parse_pairs(body, "form body"))
        operation = _operation(params, None, "query")
        if operation.kind == "describe":
            raise BadParameter("the form has neither a 'query' nor an 'update' parameter")
        return operation
    kind = "query" if essence == SPARQL_QUERY else "update"
    return _operation(_collect(url_pairs), _decode(body, kind), kind)
