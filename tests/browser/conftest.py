"""Browser tests: Debian's headless Chromium against a real uvicorn server, network off.

- ``build_settings`` builds the project data once per session (``kg build`` into a temporary
  ``var``), so pages are checked against the real graph.
- ``serve`` starts ``api.app.create_app(settings)`` under uvicorn on 127.0.0.1 (a free port) in a
  background thread and yields its base URL; ``live_server`` is that over the real build.
- ``browser`` launches ``/usr/bin/chromium`` through Playwright (the Python package; no browser
  is ever downloaded) with background networking off and every host name resolved to nothing but
  loopback.
- ``guarded`` is a page whose every request to a non-loopback host is aborted and recorded, and
  whose console errors and uncaught page errors are collected. A test calls
  :meth:`GuardedPage.assert_clean`; the fixture fails the test on teardown anyway if anything
  remote was attempted.

Run them alone with ``pytest -m browser``; ``make test`` installs Chromium (``browser-deps``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from api.app import create_app
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Route, sync_playwright

from kg.build import build
from kg.config import Settings
from tests.support.servers import free_port

CHROMIUM = Path("/usr/bin/chromium")
#: Flags from the shared contract: no sandbox (root in CI), no GPU, nothing phoning home.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Belt and braces under the request guard: no host name resolves except loopback.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
)
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
#: Schemes that never leave the page (inline data, generated blobs, about:blank).
LOCAL_SCHEMES = frozenset({"data", "blob", "about", "chrome-error"})
TIMEOUT_MS = 15_000


def is_local(url: str) -> bool:
    """True for a URL that stays on this machine: loopback HTTP(S)/WS or a local scheme."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return parts.scheme in {"http", "https", "ws", "wss"} and (parts.hostname or "") in LOOPBACK


@dataclass
class GuardedPage:
    """A Playwright page with what it tried to fetch remotely and what went wrong in it."""

    page: Page
    base_url: str
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def goto(self, path: str) -> int:
        """Open ``path`` on the server; the HTTP status of the main document."""
        response = self.page.goto(self.base_url + path, wait_until="load")
        assert response is not None, path
        return response.status

    def assert_clean(self) -> None:
        """No remote request attempted, no console error, no uncaught error, no dialog."""
        assert self.blocked == [], f"remote requests attempted: {self.blocked}"
        assert self.console_errors == [], f"console errors: {self.console_errors}"
        assert self.page_errors == [], f"page errors: {self.page_errors}"
        assert self.dialogs == [], f"dialogs opened: {self.dialogs}"


class _ThreadedServer(uvicorn.Server):
    # Signal handlers can only be installed in the main thread; the test run owns them.
    def install_signal_handlers(self) -> None:
        pass


@contextmanager
def run_server(settings: Settings) -> Iterator[str]:
    """``create_app(settings)`` under uvicorn on 127.0.0.1 in a thread; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = _ThreadedServer(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the test server exited while starting (see the log above)")
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start within 60 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def server_settings(var_dir: Path, **overrides: Any) -> Settings:
    """Settings of a served build: every value that matters spelled out."""
    values: dict[str, Any] = {
        "base_iri": "https://w3id.org/gq-kg/",
        "var_dir": var_dir,
        "store": "embedded",
        "query_workers": 1,
        "query_timeout": 20.0,
        "cache_entries": 256,
        "public_url": None,
        "update_token": None,
        "cors_origins": ["*"],
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="package")
def build_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The project's data built once (``kg build``) into a temporary var folder."""
    settings = server_settings(tmp_path_factory.mktemp("browser-build") / "var")
    build(settings, log=lambda _: None)
    return settings


@pytest.fixture(scope="package")
def serve() -> Callable[[Settings], AbstractContextManager[str]]:
    """Start a server for any Settings: ``with serve(settings) as url: ...``."""
    return run_server


@pytest.fixture(scope="package")
def live_server(build_settings: Settings) -> Iterator[str]:
    """The API over the real build, at http://127.0.0.1:<port>."""
    with run_server(build_settings) as url:
        yield url


@pytest.fixture(scope="package")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps` (Debian's chromium package)")
    launched = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
    )
    yield launched
    launched.close()


def open_guarded(browser: Browser, base_url: str) -> tuple[GuardedPage, Callable[[], None]]:
    """A fresh context and page with the guards installed, and a function that closes it."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    guarded = GuardedPage(page, base_url)

    def route(route: Route) -> None:
        url = route.request.url
        if is_local(url):
            route.continue_()
        else:
            guarded.blocked.append(url)
            route.abort("blockedbyclient")

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            guarded.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    def dialog(dialog: Any) -> None:
        guarded.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    context.route("**/*", route)
    page.on("console", console)
    page.on("pageerror", lambda error: guarded.page_errors.append(str(error)))
    page.on("dialog", dialog)
    return guarded, context.close


@pytest.fixture
def guarded(browser: Browser, live_server: str) -> Iterator[GuardedPage]:
    """A guarded page on the real build's server (see the module docstring)."""
    page, close = open_guarded(browser, live_server)
    yield page
    close()
    assert page.blocked == [], f"remote requests attempted: {page.blocked}"
