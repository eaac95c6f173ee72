"""``/query``: the SPARQL editor (YASGUI, from the npm package ``@zazuko/yasgui``).

The page and its script (``api/static/query-page.js``) are ours; YASGUI's files are served from
``api/web/node_modules`` (installed by ``npm ci`` in ``make setup``) under ``/static/vendor/``.
The editor is configured to stay on this server: the endpoint is ``/sparql``, no CORS proxy,
and the Linked Open Vocabularies autocompleters (which call a remote API) are replaced by one
over this graph's own ontology terms. ``/query/examples.json`` feeds it the competency questions.

The page brings its own Content-Security-Policy: the site's policy with inline *styles* allowed
(``style-src 'self' 'unsafe-inline'``), because YASR sets style attributes on the result table
it builds. Scripts stay ``'self'`` only; data never reaches a style attribute (YASR writes its
own widths and positions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from api.deps import SettingsDep, StoreDep
from api.headers import HTML_POLICY
from api.render import Links, render
from api.routers.home import competency_questions
from api.routers.pages import page_context, vocabulary_of
from api.routing import GetRoute
from kg.config import ONTOLOGY_NS
from kg.describe import PREFIXES

__all__ = ["QUERY_PAGE_POLICY", "VENDOR", "YASGUI_BUILD", "router", "vendor_ready"]

router = APIRouter(route_class=GetRoute)

#: The npm project whose node_modules kg serves (api/web/package.json, pinned by its lock file).
VENDOR: Final = Path(__file__).resolve().parents[1] / "web" / "node_modules"
YASGUI_BUILD: Final = VENDOR / "@zazuko" / "yasgui" / "build"
#: The site's policy, with inline styles allowed for YASR's result table (see above).
QUERY_PAGE_POLICY: Final = HTML_POLICY.replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)


def vendor_ready() -> bool:
    return (YASGUI_BUILD / "yasgui.min.js").is_file()


@router.get("/query", include_in_schema=False)
async def query_page(request: Request, settings: SettingsDep, store: StoreDep) -> Response:
    vocabulary = await vocabulary_of(request, store, settings)
    context = page_context(
        request,
        Links(settings, vocabulary),
        ready=vendor_ready(),
        data_base=f"{settings.base_iri}id/",
        ontology_ns=ONTOLOGY_NS,
    )
    return render("query.html", context, headers={"Content-Security-Policy": QUERY_PAGE_POLICY})


@router.get("/query/examples.json", include_in_schema=False)
async def examples(settings: SettingsDep) -> JSONResponse:
    """The competency questions as editor tabs, and the prefixes the editor declares."""
    return JSONResponse(
        {
            "prefixes": dict(PREFIXES),
            "examples": [
                {
                    "name": q.name,
                    "summary": q.summary,
                    "summary_zh": q.meta.get("summary_zh", ""),
                    "query": q.text,
                }
                for q in competency_questions(settings)
            ],
        }
    )


@router.get("/query/terms.json", include_in_schema=False)
async def terms(request: Request, settings: SettingsDep, store: StoreDep) -> JSONResponse:
    """The ontology's terms as ``gq:Local`` names, for the editor's autocompletion."""
    vocabulary = await vocabulary_of(request, store, settings)
    names = sorted(
        "gq:" + iri.removeprefix(ONTOLOGY_NS)
        for iri in vocabulary.terms
        if iri.startswith(ONTOLOGY_NS) and iri != ONTOLOGY_NS
    )
    return JSONResponse(names)
