"""The pages in headless Chromium, network off: they render, the console stays clean, links
resolve, the query editor runs a query, and hostile data never executes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Route

from kg.config import Settings
from tests.browser.conftest import GuardedPage, open_guarded, server_settings

pytestmark = pytest.mark.browser

HOSTILE = Path(__file__).resolve().parents[1] / "fixtures" / "hostile.trig"

#: One page of each kind, and what must be on it once it has rendered.
PAGES = {
    "/": "#county-table tbody tr",
    "/id/division/522731": "#pairings article.claim",
    "/id/division/440111": "#pairings article.claim",
    "/id/document/gq2023/s/13-1": "blockquote.sentence-text",
    "/id/pairing/gz-qn-schools": "#facts table",
    "/id/document/gq2023": "#incoming table",
    "/ontology": "dl.terms dt#Pairing",
    "/cq": "ol.cq li",
    "/cq/cq01-district-county-pairings": "#answer tbody tr",
    "/cq/cq39-ask-luodian-partner": "#answer-boolean",
    "/search?q=huishui": "#results tbody tr",
    "/query": ".yasqe .CodeMirror",
    "/sparql": ".yasqe .CodeMirror",  # a browser opening the endpoint gets the editor
    "/api/docs": ".swagger-ui .info",
    # Its style attribute broke the CSP (a console error on every card).
    "/reconcile/preview?id=division/522731": "body > strong",
}


@pytest.mark.parametrize("path", list(PAGES))
def test_page_renders_with_a_clean_console(guarded: GuardedPage, path: str) -> None:
    assert guarded.goto(path) == 200
    guarded.page.wait_for_selector(PAGES[path])
    assert guarded.page.title()
    guarded.assert_clean()


def test_unknown_id_renders_the_404_page(guarded: GuardedPage) -> None:
    assert guarded.goto("/id/division/000000") == 404
    assert "404" in guarded.page.locator("h1").inner_text()
    # The one console line a 404 document produces is the browser reporting the status.
    guarded.console_errors[:] = [e for e in guarded.console_errors if "404" not in e]
    guarded.assert_clean()


def _internal_links(guarded: GuardedPage) -> set[str]:
    hrefs = guarded.page.eval_on_selector_all(
        "a[href]", "links => links.map(a => a.getAttribute('href'))"
    )
    found: set[str] = set()
    for href in hrefs:
        if href.startswith("/") and not href.startswith("//"):
            found.add(urldefrag(href)[0])
    return found


@pytest.mark.parametrize("start", ["/", "/id/division/522731"])
def test_every_internal_link_resolves(guarded: GuardedPage, live_server: str, start: str) -> None:
    assert guarded.goto(start) == 200
    links = _internal_links(guarded)
    assert len(links) > 10
    broken = {}
    with httpx.Client(base_url=live_server, follow_redirects=True, timeout=30) as client:
        for link in sorted(links):
            status = client.get(link, headers={"accept": "text/html"}).status_code
            if status != 200:
                broken[link] = status
    assert broken == {}
    guarded.assert_clean()


def test_fragment_links_to_ontology_terms_have_their_anchor(guarded: GuardedPage) -> None:
    assert guarded.goto("/id/division/522731") == 200
    fragments = {
        urlsplit(href).fragment
        for href in guarded.page.eval_on_selector_all(
            "a[href^='/ontology#']", "links => links.map(a => a.getAttribute('href'))"
        )
    }
    assert fragments
    assert guarded.goto("/ontology") == 200
    for fragment in fragments:
        assert guarded.page.locator(f"[id='{fragment}']").count() == 1, fragment


def test_query_editor_runs_a_query_and_links_iris_here(guarded: GuardedPage) -> None:
    page = guarded.page
    assert guarded.goto("/query") == 200
    page.wait_for_selector(".yasqe .CodeMirror")
    page.wait_for_function("() => window.kgQueryPageLoaded")
    # The first competency question is loaded: run it against /sparql.
    assert "gq:" in page.evaluate("() => window.kgYasgui.getTab().getQuery()")
    page.click(".yasqe_queryButton")
    page.wait_for_selector(".yasr table tbody tr a.kg-local")
    local = page.eval_on_selector_all(
        ".yasr a.kg-local", "links => links.map(a => a.getAttribute('href'))"
    )
    assert local
    assert all(h.startswith(("/id/", "/ontology#")) for h in local)
    first = next(h for h in local if h.startswith("/id/"))
    # A click as a user's: YASR's ellipsis overlay covers part of the cell, so click the link.
    page.locator(f".yasr a.kg-local[href='{first}']").first.evaluate("a => a.click()")
    page.wait_for_url(f"**{first}")
    page.wait_for_selector("h1")
    guarded.assert_clean()


def test_query_editor_autocompletes_locally(guarded: GuardedPage) -> None:
    """Prefixes, the ontology's terms and variables complete with nothing fetched elsewhere."""
    page = guarded.page
    assert guarded.goto("/query") == 200
    # The examples arrive by fetch and fill the first tab; type after that, as a user would.
    page.wait_for_function("() => window.kgYasgui && window.kgQueryPageLoaded")
    yasqe = "window.kgYasgui.getTab().getYasqe()"
    page.evaluate(f"() => {{ const y = {yasqe}; y.setValue(''); y.focus(); }}")
    page.keyboard.type("PREFIX rdf", delay=30)
    page.wait_for_selector(".CodeMirror-hints li")
    hints = page.locator(".CodeMirror-hints li").all_inner_texts()
    assert any(h.startswith("rdfs: <http://www.w3.org/2000/01/rdf-schema#>") for h in hints)
    page.keyboard.press("Escape")
    text = "PREFIX gq: <https://w3id.org/gq-kg/ontology#>\\nSELECT * WHERE { ?s a "
    page.evaluate(
        f"() => {{ const y = {yasqe}; y.setValue('{text}'); y.focus();"
        " y.setCursor(y.lineCount(), 0); }"
    )
    page.keyboard.type("gq:Pai", delay=30)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.CodeMirror-hints li')]"
        ".some(li => li.textContent === 'gq:Pairing')"
    )
    page.keyboard.press("Escape")
    page.keyboard.type(" . ?s ?p ?", delay=30)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.CodeMirror-hints li')]"
        ".some(li => li.textContent === '?s')"
    )
    guarded.assert_clean()


def test_query_editor_keeps_what_the_user_typed_before_the_examples_arrive(
    guarded: GuardedPage,
) -> None:
    """The examples come by fetch; when they arrive late they must not replace typed text."""
    page = guarded.page
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/query/examples.json", hold)
    assert guarded.goto("/query") == 200
    page.wait_for_function("() => window.kgYasgui")
    page.wait_for_timeout(200)  # let the page's fetch reach the route
    assert held, "the page did not ask for its examples"
    yasqe = "window.kgYasgui.getTab().getYasqe()"
    page.evaluate(f"() => {{ const y = {yasqe}; y.setValue(''); y.focus(); }}")
    page.keyboard.type("ASK { ?s ?p ?o }", delay=10)
    held[0].continue_()
    page.wait_for_function("() => window.kgQueryPageLoaded")
    assert page.evaluate("() => window.kgYasgui.getTab().getQuery()") == "ASK { ?s ?p ?o }"
    assert page.locator("#examples option").count() > 1
    guarded.assert_clean()


def test_query_editor_opens_competency_questions_as_tabs(guarded: GuardedPage) -> None:
    page = guarded.page
    assert guarded.goto("/query?cq=cq05-pairing-aggregates") == 200
    page.wait_for_function(
        "() => window.kgYasgui && window.kgYasgui.getTab().getQuery().includes('memberCount')"
    )
    tabs = page.locator(".tabPanel").count()
    page.select_option("#examples", "cq20-guangzhou-districts")
    page.wait_for_function(
        "() => window.kgYasgui.getTab().getQuery().includes('Guangzhou')"
        " || window.kgYasgui.getTab().getQuery().includes('440100')"
    )
    assert page.locator(".tabPanel").count() == tabs + 1
    guarded.assert_clean()


@pytest.fixture(scope="module")
def hostile_server(
    serve: Callable[[Settings], AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    settings = server_settings(
        tmp_path_factory.mktemp("hostile") / "var", store="memory", dataset_file=HOSTILE
    )
    with serve(settings) as url:
        yield url


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/id/division/440105",
        "/id/document/evil/s/1-1",
        "/id/pairing/evil",
        "/ontology",
        "/search?q=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
    ],
)
def test_hostile_labels_do_not_execute(browser: Browser, hostile_server: str, path: str) -> None:
    guarded, close = open_guarded(browser, hostile_server)
    try:
        assert guarded.goto(path) == 200
        page = guarded.page
        page.wait_for_timeout(200)  # give an injected handler (onerror, onload) time to fire
        injected = page.evaluate(
            """() => [...document.querySelectorAll('img, svg, iframe, object, embed, b')]
                 .filter(e => !(e.tagName === 'IFRAME'
                                && e.getAttribute('src').startsWith('/maps/')))
                 .map(e => e.outerHTML)"""
        )
        assert injected == []
        scripts = page.evaluate(
            "() => [...document.scripts].map(s => s.getAttribute('src') || s.textContent)"
        )
        assert all(s.startswith("/static/") for s in scripts), scripts
        handlers = page.evaluate(
            """() => [...document.querySelectorAll('*')].flatMap(e =>
                 [...e.attributes].filter(a => a.name.startsWith('on')).map(a => a.name))"""
        )
        assert handlers == []
        assert page.evaluate(
            "() => [...document.links].every(a => !a.href.startsWith('javascript:'))"
        )
        guarded.assert_clean()  # includes: no dialog (alert) was opened
    finally:
        close()


def test_hostile_text_is_visible_as_text(browser: Browser, hostile_server: str) -> None:
    guarded, close = open_guarded(browser, hostile_server)
    try:
        assert guarded.goto("/id/division/440105") == 200
        heading = guarded.page.locator("h1").inner_text()
        assert "<img src=x onerror=alert('label')>" in heading
        assert guarded.goto("/id/document/evil/s/1-1") == 200
        quote = guarded.page.locator("blockquote.sentence-text").inner_text()
        assert "</script><script>alert('sentence')</script>" in quote
        guarded.assert_clean()
    finally:
        close()


def test_query_results_with_markup_stay_text(browser: Browser, hostile_server: str) -> None:
    """YASR handed every value to DOMPurify (an HTML parser) for DataTables' sorting and
    filtering: a label <img src=x onerror=…> was parsed as markup and only the CSP stopped its
    handler (a console error). The table shows it, and filters on it, as text."""
    guarded, close = open_guarded(browser, hostile_server)
    try:
        assert guarded.goto("/query") == 200
        page = guarded.page
        page.wait_for_selector(".yasqe .CodeMirror")
        page.wait_for_function("() => window.kgQueryPageLoaded")
        query = (
            "SELECT ?label WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?label "
            'FILTER(CONTAINS(?label, "<")) }'
        )
        page.evaluate("(q) => { window.kgYasgui.getTab().setQuery(q); return true; }", query)
        page.click(".yasqe_queryButton")
        page.wait_for_selector(".yasr table tbody tr span.nonIri")
        cells = page.eval_on_selector_all(".yasr span.nonIri", "s => s.map(e => e.textContent)")
        assert any("<img src=x onerror=alert('label')>" in c for c in cells), cells
        # DataTables' search box filters on the text, markup characters included.
        page.locator("input.tableFilter").press_sequentially("onerror=alert")  # keyup
        page.wait_for_timeout(300)
        shown = page.eval_on_selector_all(".yasr span.nonIri", "s => s.map(e => e.textContent)")
        assert shown
        assert all("onerror=alert" in c for c in shown), shown
        assert page.evaluate("() => document.querySelectorAll('.yasr img, .yasr b').length") == 0
        guarded.assert_clean()
    finally:
        close()
