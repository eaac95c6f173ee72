"""The one place where errors become HTTP responses, and the one JSON error body.

Every error answer has the shape ``{"error": {"code": ..., "message": ..., "status": N}}``.
On ``/sparql`` a client that does not ask for JSON explicitly (SPARQLWrapper, Jena, curl with a
SPARQL result Accept) gets the same message as ``text/plain``, which those clients show as is.

    kg.errors class                                   status
    QuerySyntaxError, BadParameter, QueryTooComplex,  400
      ForbiddenQuery, other QueryError
    QueryTooLarge, ResultTooLarge                     413
    UpdateNotAllowed                                  403
      UpdateUnauthorized (token configured)           401 + WWW-Authenticate: Bearer
      BadParameter under /api/ and /reconcile         422 (a value the REST API refuses)
    UnknownQuery, NotFound                            404
    NotAcceptable (also XmlUnsafeResult)              406
    UnsupportedMediaType                              415
    TooManyRequests                                   429 + Retry-After
    QueryTimeout                                      503 + Retry-After
    QueryMemoryExceeded                               503 + Retry-After
    StoreUnavailable (WorkerKilled, Overloaded)       503 + Retry-After
    WorkerCrashed                                     500
    StoreError                                        502
    the client disconnected mid-body                  (none sent; logged at debug level)
    anything else                                     500 (logged)

Request validation errors (FastAPI) are 400 on the SPARQL protocol routes and 422 on the REST
API, both naming the parameter.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Final

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from api.deps import settings_of
from api.headers import security_headers
from api.render import Links
from api.routers.pages import not_found_page
from api.routing import allowed_methods
from kg.errors import (
    BadParameter,
    KgError,
    NotAcceptable,
    NotFound,
    QueryError,
    QueryMemoryExceeded,
    QueryTimeout,
    QueryTooLarge,
    ResultTooLarge,
    StoreError,
    StoreUnavailable,
    TooManyRequests,
    UnknownQuery,
    UnsupportedMediaType,
    UpdateNotAllowed,
    UpdateUnauthorized,
    WorkerCrashed,
)
from kg.sparql.negotiation import OFFERED, parse_accept, rank

__all__ = [
    "error_body",
    "error_response",
    "install_error_handlers",
    "kg_error_response",
    "status_for",
]

log = logging.getLogger("kg.api")

#: Seconds a client should wait after a 503 before trying again.
RETRY_AFTER: Final = "5"

#: Codes for errors that are not kg errors (routing, validation, crashes).
_HTTP_CODES: Final = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    429: "too_many_requests",
    415: "unsupported_media_type",
    422: "bad_parameter",
    500: "internal_error",
}


#: SPARQL result and RDF media types: a client listing one is a SPARQL client.
_RESULT_TYPES: Final = frozenset(m for types in OFFERED.values() for m in types)


def status_for(error: KgError) -> int:
    """The HTTP status for a kg error (the table in this module's docstring)."""
    # Most specific classes first: several are subclasses of QueryError.
    if isinstance(error, QueryTooLarge | ResultTooLarge):
        return 413
    if isinstance(error, UpdateUnauthorized):
        return 401
    if isinstance(error, UpdateNotAllowed):
        return 403
    if isinstance(error, UnknownQuery | NotFound):
        return 404
    if isinstance(error, NotAcceptable):
        return 406
    if isinstance(error, UnsupportedMediaType):
        return 415
    if isinstance(error, QueryError):
        return 400
    if isinstance(error, TooManyRequests):
        return 429
    if isinstance(error, QueryTimeout | StoreUnavailable | QueryMemoryExceeded):
        return 503
    if isinstance(error, WorkerCrashed):
        return 500
    if isinstance(error, StoreError):
        return 502
    return 500


def error_body(code: str, message: str, status: int) -> dict[str, dict[str, str | int]]:
    """The one JSON error shape."""
    return {"error": {"code": code, "message": message, "status": status}}


def _wants_text(request: Request) -> bool:
    """On /sparql, plain text unless the client asks for JSON and not for SPARQL results.

    SPARQLWrapper lists application/json after application/sparql-results+json: it is a SPARQL
    client and shows the body as text, so SPARQL or RDF types in Accept mean plain text.
    """
    if not request.url.path.startswith("/sparql"):
        return False
    wants_json = False
    for r in parse_accept(request.headers.get("accept")):
        if r.q <= 0:
            continue
        if r.essence in _RESULT_TYPES:
            return True
        if r.essence in {"application/json", "application/problem+json"}:
            wants_json = True
    return not wants_json


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render one error, as JSON or (on /sparql for non-JSON clients) as plain text."""
    extra = dict(headers or {})
    # The body's form depends on Accept (text or JSON here, an HTML page for a browser on
    # /id/…), and so does a 406: a cache must not hand one client's error to another.
    extra.setdefault("Vary", "Accept")
    if _wants_text(request):
        return Response(
            f"{status} {code}: {message}\n".encode(),
            status_code=status,
            media_type="text/plain; charset=utf-8",
            headers=extra,
        )
    body = json.dumps(error_body(code, message, status), ensure_ascii=False).encode()
    return Response(body, status_code=status, media_type="application/json", headers=extra)


#: Paths whose parameter errors are 422 (REST convention) rather than the protocol's 400.
_REST_PREFIXES: Final = ("/api/", "/reconcile")


def _is_rest(request: Request) -> bool:
    return request.url.path.startswith(_REST_PREFIXES)


def kg_error_response(request: Request, exc: KgError) -> Response:
    """The response for a kg error: status, headers and body by the table above."""
    status = status_for(exc)
    if status == 400 and isinstance(exc, BadParameter) and _is_rest(request):
        status = 422
    headers: dict[str, str] = {}
    if isinstance(exc, UpdateUnauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="kg"'
    if isinstance(exc, QueryTimeout):
        headers["Retry-After"] = str(max(1, math.ceil(exc.timeout)))
    elif isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    elif status == 503:
        headers["Retry-After"] = RETRY_AFTER
    if status >= 500:
        log.warning("%s %s -> %d %s: %s", request.method, request.url.path, status, exc.code, exc)
    return error_response(request, status, exc.code, exc.message, headers)


def _kg_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KgError)
    return kg_error_response(request, exc)


#: Paths answered for programs: their errors stay JSON (or text on /sparql) whatever Accept says.
_PROGRAM_PREFIXES: Final = ("/api/", "/sparql", "/reconcile", "/static/", "/maps/assets/")


def _wants_page(request: Request) -> bool:
    """A browser asking for a page (GET/HEAD, text/html listed in Accept and ranked first):
    an unknown URL gets the site's error page, not a JSON body shown as raw text."""
    if request.method not in {"GET", "HEAD"} or request.url.path.startswith(_PROGRAM_PREFIXES):
        return False
    accept = request.headers.get("accept")
    if not any(r.essence == "text/html" and r.q > 0 for r in parse_accept(accept)):
        return False  # curl, scripts: */* or nothing
    ranked = rank(accept, ("text/html", "application/json"))
    return bool(ranked) and ranked[0] == "text/html"


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    code = _HTTP_CODES.get(status, "http_error")
    headers = dict(exc.headers or {})
    if status == 404 and _wants_page(request):
        # The pages' own 404, site navigation included.
        links = Links(settings_of(request))
        return not_found_page(request, links, f"no page at {request.url.path}")
    if status == 405:
        # Starlette names the methods of the first route on the path only: GET for /reconcile,
        # whose POST is another route.
        allow = allowed_methods(request.app.router.routes, request.scope)
        if allow and request.method == "OPTIONS":
            # A plain OPTIONS (not a CORS preflight, which CORSMiddleware answers) asks what
            # the path allows: that is the answer, not an error (RFC 9110, 9.3.7).
            return Response(status_code=204, headers={"Allow": allow})
        if allow:
            headers["Allow"] = allow
        elif "Allow" not in headers:
            headers["Allow"] = "GET, HEAD, POST, OPTIONS"
    return error_response(request, status, code, str(exc.detail), headers)


def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
        for e in exc.errors()
    )
    status = 422 if _is_rest(request) else 400
    return error_response(request, status, "bad_parameter", problems or "invalid request")


def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    response = error_response(request, 500, "internal_error", "internal server error (logged)")
    # Sent by Starlette's outermost middleware, past SecurityHeaders.
    security_headers(response.headers)
    return response


def _disconnected(request: Request, _exc: Exception) -> Response:
    # The client went away mid-body (or its body was too slow, see api.http): nobody is
    # there to read an answer, and it is not the server's error.
    log.debug("client disconnected during %s %s", request.method, request.url.path)
    return Response(status_code=400)


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through this module."""
    app.add_exception_handler(KgError, _kg_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _disconnected)
    app.add_exception_handler(Exception, _unexpected)
