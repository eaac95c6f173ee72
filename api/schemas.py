"""OpenAPI shapes shared by the REST routers: the one JSON error body, documented per status."""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel

__all__ = ["ERROR_RESPONSES", "ERROR_SCHEMA", "ErrorBody", "ErrorDetail", "error_response"]


class ErrorDetail(BaseModel):
    code: str
    message: str
    status: int


class ErrorBody(BaseModel):
    """Every error answer: ``{"error": {"code", "message", "status"}}`` (api/errors.py)."""

    error: ErrorDetail


#: The error body's JSON schema, inline (no $ref: component names change when two routers
#: declare models of the same name).
ERROR_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "status"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "status": {"type": "integer"},
            },
        }
    },
}


def error_response(description: str) -> dict[str, Any]:
    """An OpenAPI response entry for the JSON error body, also on routes that answer HTML."""
    return {
        "model": ErrorBody,
        "description": description,
        "content": {"application/json": {"schema": ERROR_SCHEMA}},
    }


_error = error_response


#: The errors any REST route may answer (validation is 422 here, not FastAPI's own shape).
ERROR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    400: _error("malformed request"),
    404: _error("no such entity, name or named query"),
    406: _error("no acceptable format"),
    413: _error("request too large"),
    414: {
        "description": (
            "the URL is longer than the server reads (setting max_header_bytes): send a long "
            "request by POST; answered by the HTTP layer, before routing, as plain text"
        ),
        "content": {"text/plain": {"schema": {"type": "string"}}},
    },
    422: _error("a parameter value is refused (the message names it)"),
    503: _error("the store is busy or starting (Retry-After)"),
}
