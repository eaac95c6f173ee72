"""OpenRefine's view of the reconciliation preview: an iframe of another origin's page.

OpenRefine (http://127.0.0.1:3333) puts ``preview.url`` of the manifest into a sandboxed
``<iframe>`` of its own page. Here a second loopback server plays OpenRefine's page; the
preview must render inside it (the site-wide ``frame-ancestors 'self'`` made Chromium refuse
it: "Framing … violates the following Content Security Policy directive").
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Browser

from tests.browser.conftest import open_guarded
from tests.support.servers import free_port

pytestmark = pytest.mark.browser


def _openrefine_page(preview_url: str) -> type[BaseHTTPRequestHandler]:
    page = (
        '<!doctype html><html><head><meta charset="utf-8"><title>OpenRefine</title>'
        '<link rel="icon" href="data:,"></head><body>'
        f'<iframe sandbox="" width="400" height="140" src="{preview_url}"></iframe>'
        "</body></html>"
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def openrefine(live_server: str) -> Iterator[str]:
    """A page of another origin (another port) framing the preview of 惠水县, as OpenRefine."""
    manifest_preview = f"{live_server}/reconcile/preview?id={{{{id}}}}"
    url = manifest_preview.replace("{{id}}", "division/522731")
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _openrefine_page(url))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_preview_renders_in_openrefines_iframe(
    browser: Browser, live_server: str, openrefine: str
) -> None:
    guarded, close = open_guarded(browser, openrefine)
    try:
        assert guarded.goto("/project") == 200
        page = guarded.page
        page.wait_for_function("() => window.frames.length === 1")
        frame = next(f for f in page.frames if f is not page.main_frame)
        frame.wait_for_load_state()
        assert frame.url.startswith(f"{live_server}/reconcile/preview?id=division/522731")
        text = frame.inner_text("body")
        assert "惠水县" in text
        assert "https://w3id.org/gq-kg/id/division/522731" in text
        guarded.assert_clean()  # no CSP refusal (a console error) either
    finally:
        close()
