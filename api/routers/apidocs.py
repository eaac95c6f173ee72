"""``/api/docs``: Swagger UI for ``/api/openapi.json``, served offline.

The Swagger UI files come from the npm package ``swagger-ui-dist`` (pinned in
``api/web/package.json`` and its lock file, installed by ``npm ci`` in ``make setup``) and are
served under ``/static/vendor/swagger-ui/``. The PyPI package ``swagger-ui-bundle`` was the first
choice, but its newest release carries Swagger UI 4.15, which cannot render the OpenAPI 3.1
documents FastAPI writes ("does not specify a valid version field").

FastAPI's ``get_swagger_ui_html`` is not used: it starts Swagger UI from an inline
``<script>``, which the site's Content-Security-Policy (``default-src 'self'``) forbids;
``api/static/api-docs.js`` does the same from a file. The validator badge (a request to
validator.swagger.io) is switched off there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter
from starlette.responses import HTMLResponse

from api.render import environment
from api.routing import GetRoute

__all__ = ["SWAGGER_UI_DIST", "router"]

router = APIRouter(route_class=GetRoute)

SWAGGER_UI_DIST: Final = (
    Path(__file__).resolve().parents[1] / "web" / "node_modules" / "swagger-ui-dist"
)


@router.get("/api/docs", include_in_schema=False)
async def api_docs() -> HTMLResponse:
    body = environment().get_template("api_docs.html").render(openapi_url="/api/openapi.json")
    return HTMLResponse(body)
