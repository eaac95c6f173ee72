"""Smoke test of the browser-test infrastructure over the pages the server has today."""

from __future__ import annotations

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.browser.conftest import GuardedPage, is_local

pytestmark = pytest.mark.browser


def test_is_local_accepts_loopback_and_local_schemes_only() -> None:
    assert is_local("http://127.0.0.1:8000/")
    assert is_local("http://localhost/x")
    assert is_local("data:image/png;base64,AAAA")
    assert not is_local("https://cdn.jsdelivr.net/npm/x.js")
    assert not is_local("http://127.0.0.1.nip.io/")
    assert not is_local("https://prefix.cc/popular/all.file.json")


def test_home_page_renders_with_a_clean_console(guarded: GuardedPage) -> None:
    assert guarded.goto("/") == 200
    assert "广黔协作" in guarded.page.title()
    assert guarded.page.locator("a[href='/dataset.nq']").count() >= 1
    guarded.assert_clean()


def test_a_remote_request_is_blocked_and_recorded(guarded: GuardedPage) -> None:
    """The guard itself: opening a remote URL is stopped and shows up. (A script's fetch()
    would not even get this far: the pages' CSP, connect-src 'self', refuses it first.)"""
    with pytest.raises(PlaywrightError, match="ERR_BLOCKED_BY_CLIENT"):
        guarded.page.goto("https://example.org/probe")
    assert guarded.blocked == ["https://example.org/probe"]
    guarded.blocked.clear()  # expected here: the fixture's teardown check must not fail
