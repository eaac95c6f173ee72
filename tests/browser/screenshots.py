"""Screenshots for the README: ``make screenshots`` (writes docs/img/home.png, entity.png,
map-geo.png).

The same setup as the browser tests: the project's data built into a temporary folder, served
on 127.0.0.1, Debian's Chromium with every non-loopback request aborted.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from kg.build import build
from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    open_guarded,
    run_server,
    server_settings,
)

OUT = Path(__file__).resolve().parents[2] / "docs" / "img"
SHOTS = {"home.png": "/", "entity.png": "/id/division/522731", "map-geo.png": "/maps/geo"}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kg-shots-") as scratch:
        settings = server_settings(Path(scratch) / "var")
        build(settings, log=lambda _: None)
        with run_server(settings) as url, sync_playwright() as driver:
            browser = driver.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
            )
            for name, path in SHOTS.items():
                page, close = open_guarded(browser, url)
                page.page.set_viewport_size({"width": 1100, "height": 760})
                page.goto(path)
                if path.startswith("/maps/"):  # the map settles, then is fitted
                    page.page.wait_for_selector('#kg-map[data-ready="true"]', state="attached")
                    page.page.wait_for_timeout(300)
                page.page.screenshot(path=str(OUT / name))
                page.assert_clean()
                close()
            browser.close()
    print("wrote", ", ".join(str(OUT / n) for n in SHOTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
