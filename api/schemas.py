"""OpenAPI shapes shared by the REST routers: the one JSON error body, documented per status."""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel

__all__ = ["ERROR_RESPONSES", "ErrorBody", "ErrorDetail"]


class ErrorDetail(BaseModel):
    code: str
    message: str
    status: int


class ErrorBody(BaseModel):
    """Every error answer: ``{"error": {"code", "message", "status"}}`` (api/errors.py)."""

    error: ErrorDetail


def _error(description: str) -> dict[str, Any]:
    # JSON named explicitly: routes answering HTML (a preview) still fail in JSON.
    schema = {"$ref": "#/components/schemas/ErrorBody"}
    return {
        "model": ErrorBody,
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }


#: The errors any REST route may answer (validation is 422 here, not FastAPI's own shape).
ERROR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    400: _error("malformed request"),
    404: _error("no such entity, name or named query"),
    406: _error("no acceptable format"),
    413: _error("request too large"),
    422: _error("a parameter value is refused (the message names it)"),
    503: _error("the store is busy or starting (Retry-After)"),
}
