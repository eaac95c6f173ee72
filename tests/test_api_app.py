"""create_app: a factory with no import-time work, settings from the environment if not given."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from api.app import create_app
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kg.config import get_settings
from tests.conftest import MINI, mini_settings
from tests.fixtures.memory_store import MemoryStore

ROOT = Path(__file__).resolve().parents[1]


def store_of(app: FastAPI) -> object:
    """The served store, read afresh: mypy would keep an earlier ``is`` narrowing of it."""
    served = app.state.ctx.served
    return None if served is None else served.store


def test_importing_the_app_module_opens_nothing() -> None:
    code = (
        "import sys, api.app; print('kg.store.factory' in sys.modules, 'pyoxigraph' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"},
    ).stdout
    assert out.split()[0] == "False"


def test_create_app_without_settings_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KG_PUBLIC_URL", "https://kg.example")
    monkeypatch.setenv("KG_MAX_REQUEST_BYTES", "4096")
    get_settings.cache_clear()
    try:
        app = create_app()
        assert app.state.ctx.settings.public_url == "https://kg.example"
        assert app.state.ctx.settings.max_request_bytes == 4096
        assert store_of(app) is None  # opened by the lifespan, not the factory
    finally:
        get_settings.cache_clear()


def test_lifespan_opens_and_closes_the_store(tmp_path: Path) -> None:
    store = MemoryStore(MINI)
    app = create_app(mini_settings(tmp_path), store=store)
    with TestClient(app) as client:
        assert client.get("/health").json()["status"] == "ok"
        assert store_of(app) is store
    assert store_of(app) is None
    with pytest.raises(Exception, match="closed"):
        store._open()


def test_no_remote_swagger_pages_but_openapi_schema(tmp_path: Path) -> None:
    with TestClient(create_app(mini_settings(tmp_path), store=MemoryStore(MINI))) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/redoc").status_code == 404
        schema = client.get("/api/openapi.json").json()
        assert "/health" in schema["paths"]
