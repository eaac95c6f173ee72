"""The one tree of domain errors raised by the kg core.

The web layer (``api/errors.py``) maps each class to an HTTP status in one place; the CLI maps
them to exit codes. Nothing in the core knows about HTTP.

    KgError
    ├── DataError                 a curated data or ontology file is wrong (file, line, problem)
    │   └── BuildError            a build could not complete; the last good build stays in place
    ├── ValidationError           SHACL validation found violations (carries the report)
    ├── QueryError                the user's query cannot be answered as asked
    │   ├── QuerySyntaxError      not valid SPARQL (or not valid UTF-8)
    │   ├── QueryTooLarge         the request body or query text is over the configured limit
    │   ├── QueryTooComplex       nesting deeper than the guard allows (would crash the parser)
    │   ├── ForbiddenQuery        SERVICE, LOAD, remote FROM …: would reach the network or disk
    │   ├── UpdateNotAllowed      SPARQL Update while the endpoint is read-only
    │   │   └── UpdateUnauthorized  updates are enabled, but the bearer token is missing or wrong
    │   ├── UnsupportedQuery      valid SPARQL the engine cannot evaluate (unknown function)
    │   ├── NotAcceptable         no format the client accepts can express the answer
    │   │   └── XmlUnsafeResult   the answer holds characters XML 1.0 cannot carry (NUL …)
    │   ├── ResultTooLarge        one value or the whole answer is over the size cap
    │   ├── UnsupportedMediaType  a body in a media type / charset the operation does not take
    │   ├── UnknownQuery          a named query that does not exist
    │   └── BadParameter          a named-query parameter or protocol parameter is invalid
    ├── QueryTimeout              the query ran past its deadline and was stopped
    ├── QueryMemoryExceeded       the query needed more memory than a worker may use; stopped
    ├── TooManyRequests           admission control: this client or the queue is full (429)
    ├── NotFound                  no such entity / resource
    └── StoreError                the store is unavailable or failed (not the user's fault)
        ├── WorkerCrashed         the engine crashed on this query; the worker was replaced
        └── StoreUnavailable      the store is busy, starting, or the remote endpoint is down
            ├── WorkerKilled      the worker was killed from outside mid-query (replaced)
            └── Overloaded        every slot for long-running queries is taken

Every class has a stable ``code``; :data:`ERROR_CODES` maps code → class, and is the one table
the query workers and the server share (a worker reports a failure by code, the server raises
the class: :func:`error_from_code`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = [
    "ERROR_CODES",
    "BadParameter",
    "BuildError",
    "DataError",
    "DataIssue",
    "ForbiddenQuery",
    "KgError",
    "NotAcceptable",
    "NotFound",
    "Overloaded",
    "QueryError",
    "QueryMemoryExceeded",
    "QuerySyntaxError",
    "QueryTimeout",
    "QueryTooComplex",
    "QueryTooLarge",
    "ResultTooLarge",
    "StoreError",
    "StoreUnavailable",
    "TooManyRequests",
    "UnknownQuery",
    "UnsupportedMediaType",
    "UnsupportedQuery",
    "UpdateNotAllowed",
    "UpdateUnauthorized",
    "ValidationError",
    "WorkerCrashed",
    "WorkerKilled",
    "XmlUnsafeResult",
    "error_from_code",
]


class KgError(Exception):
    """Base of every error the kg core raises on purpose."""

    #: A short, stable, machine-readable code (used in the JSON error body).
    code: str = "kg_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class DataIssue:
    """One problem in one place of one file."""

    file: str
    line: int | None
    problem: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.problem}"


class DataError(KgError):
    """Curated data or ontology input is wrong: every issue found, each with its file and line."""

    code = "data_error"

    def __init__(self, issues: list[DataIssue] | DataIssue) -> None:
        self.issues = [issues] if isinstance(issues, DataIssue) else list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


class BuildError(DataError):
    """A build failed; the previous build is still the current one."""

    code = "build_error"


class ValidationError(KgError):
    """SHACL validation reported violations. ``report`` is the readable text report."""

    code = "validation_error"

    def __init__(self, message: str, report: str = "") -> None:
        super().__init__(message)
        self.report = report


class QueryError(KgError):
    """The query cannot be answered as asked: the client's mistake (HTTP 4xx)."""

    code = "query_error"


class QuerySyntaxError(QueryError):
    code = "query_syntax"


class QueryTooLarge(QueryError):
    code = "too_large"


class QueryTooComplex(QueryError):
    code = "too_complex"


class ForbiddenQuery(QueryError):
    code = "forbidden_query"


class UpdateNotAllowed(QueryError):
    code = "update_not_allowed"


class UpdateUnauthorized(UpdateNotAllowed):
    """Updates are enabled behind a token, and the request's bearer token is missing or wrong."""

    code = "unauthorized"


class UnsupportedQuery(QueryError):
    """Valid SPARQL that the engine cannot evaluate, such as an unknown extension function."""

    code = "unsupported_query"


class NotAcceptable(QueryError):
    """Nothing the client accepts can be produced. ``offered`` lists what can."""

    code = "not_acceptable"

    def __init__(self, message: str, offered: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.offered = tuple(offered)


class UnsupportedMediaType(QueryError):
    """A request body in a media type (or charset) the operation does not take."""

    code = "unsupported_media_type"


class XmlUnsafeResult(NotAcceptable):
    """The answer holds a character XML 1.0 cannot carry, not even escaped (NUL, most C0
    controls, U+FFFE, U+FFFF): refused in SPARQL XML and RDF/XML rather than sent malformed."""

    code = "xml_unsafe_result"


class ResultTooLarge(QueryError):
    """One value, or the serialised answer, is over the size the endpoint serves."""

    code = "result_too_large"


class UnknownQuery(QueryError):
    code = "unknown_query"


class BadParameter(QueryError):
    code = "bad_parameter"


class QueryTimeout(KgError):
    """The query passed its deadline and was stopped; the server is fine."""

    code = "timeout"

    def __init__(self, message: str, timeout: float) -> None:
        super().__init__(message)
        self.timeout = timeout


class NotFound(KgError):
    code = "not_found"


class StoreError(KgError):
    """The store failed in a way that is not the client's fault."""

    code = "store_error"


class StoreUnavailable(StoreError):
    code = "store_unavailable"


class QueryMemoryExceeded(KgError):
    """The query grew its worker past ``worker_memory_mb``; it was stopped, the worker replaced."""

    code = "query_memory"


class TooManyRequests(KgError):
    """Admission control refused the query now; ``retry_after`` seconds is a fair wait."""

    code = "too_many_requests"

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WorkerCrashed(StoreError):
    """The query engine crashed on this query (a native fault); the worker was replaced."""

    code = "worker_crashed"


class WorkerKilled(StoreUnavailable):
    """The worker was killed from outside (not by kg) while it ran the query; retry later."""

    code = "worker_killed"


class Overloaded(StoreUnavailable):
    """Every slot for long-running queries is taken: this one was stopped at its short budget."""

    code = "overloaded"


def _codes() -> dict[str, type[KgError]]:
    table: dict[str, type[KgError]] = {}
    pending: list[type[KgError]] = [KgError]
    while pending:
        cls = pending.pop()
        table.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return table


#: Every error code → its class (worker and server share it; codes are unique).
ERROR_CODES: Final[Mapping[str, type[KgError]]] = MappingProxyType(_codes())


def error_from_code(code: str, message: str, offered: Sequence[str] = ()) -> KgError:
    """The error a worker reported by ``code``; an unknown code is a StoreError."""
    cls = ERROR_CODES.get(code, StoreError)
    if issubclass(cls, NotAcceptable):
        return cls(message, offered)
    if issubclass(cls, QueryTimeout):
        return cls(message, 0.0)
    if issubclass(cls, TooManyRequests):
        return cls(message)
    if issubclass(cls, DataError | ValidationError) or cls is KgError:
        return StoreError(message)
    return cls(message)
