"""The one ETag and conditional-request helper for every route whose answer follows the data.

An answer's ETag is a weak tag over the store version and whatever else selects the answer
(query text, dataset, negotiated format): a new build or an update changes the version, so
every tag changes with it. ``If-None-Match`` is compared weakly (RFC 9110 §13.1.2: ``W/`` is
ignored), as a list. ``*`` matches only a resource that has a current representation
(§13.1.2): a route passes ``exists=True`` once it knows the answer exists (a dump file, a
described resource, a query that ran), so ``If-None-Match: *`` never turns an unknown id or a
failing query into a 304.
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request

from api.state import context_of

__all__ = ["cache_headers", "etag", "not_modified", "wants_any"]


def etag(version: str, *parts: str) -> str:
    """A weak ETag for the data ``version`` and the ``parts`` that select one answer."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (version, *parts):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return f'W/"{digest.hexdigest()}"'


def not_modified(request: Request, tag: str, *, exists: bool = False) -> bool:
    """True when the request's ``If-None-Match`` matches ``tag`` (weak comparison), or is
    ``*`` and ``exists`` (the caller knows the resource has a representation)."""
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    opaque = tag.removeprefix("W/")
    for raw in header.split(","):
        candidate = raw.strip()
        if (candidate == "*" and exists) or candidate.removeprefix("W/") == opaque:
            return True
    return False


def wants_any(request: Request) -> bool:
    """True when ``If-None-Match`` lists ``*``: a 304 once the answer is known to exist."""
    header = request.headers.get("if-none-match")
    return header is not None and any(raw.strip() == "*" for raw in header.split(","))


def cache_headers(request: Request, tag: str, last_modified: str | None) -> dict[str, str]:
    """ETag, Cache-Control, Vary and (when the data's time is known) Last-Modified."""
    headers = {
        "ETag": tag,
        "Cache-Control": context_of(request).cache_control,
        "Vary": "Accept",  # CORSMiddleware appends Origin
    }
    if last_modified:
        headers["Last-Modified"] = last_modified
    return headers
