"""Shared fixtures: apps built from explicit Settings over the small fixture dataset.

``client`` is parametrised over the store kinds the protocol tests must pass on: ``memory``
(the embedded engine loading tests/fixtures/mini.trig) and ``remote`` (a real ``oxigraph
serve`` process on 127.0.0.1 holding the same data). ``web_app`` builds an app over an
in-process store for tests of the web layer itself (limits, tokens, CORS, failures).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyoxigraph as ox
import pytest
from api.app import create_app
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kg.config import Settings
from tests.fixtures.memory_store import MemoryStore

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MINI = FIXTURES / "mini.trig"
BASE = "https://w3id.org/gq-kg/"


def mini_settings(tmp: Path, **overrides: Any) -> Settings:
    """Settings for the fixture dataset, every value that matters spelled out."""
    values: dict[str, Any] = {
        "base_iri": BASE,
        "store": "memory",
        "dataset_file": MINI,
        "var_dir": tmp / "var",
        "union_default_graph": True,
        "query_timeout": 10.0,
        "query_workers": 1,
        # One heavy-lane worker: small pools start fast on a shared machine.
        "heavy_queries": 1,
        "max_request_bytes": 1_000_000,
        "max_result_rows": 100_000,
        "allow_service": False,
        "allow_remote_from": False,
        "update_token": None,
        "cache_entries": 0,
        "public_url": None,
        "cors_origins": ["*"],
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def mini_dataset() -> ox.Dataset:
    """The fixture data, parsed directly (the truth the endpoint's answers are checked against)."""
    return ox.Dataset(ox.parse(path=str(MINI)))


@pytest.fixture(scope="session")
def oxigraph_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``oxigraph serve`` over mini.trig (as N-Quads), for store=remote."""
    from tests.support.servers import oxigraph_server

    folder = tmp_path_factory.mktemp("oxigraph")
    nquads = folder / "mini.nq"
    ox.serialize(ox.parse(path=str(MINI)), output=str(nquads), format=ox.RdfFormat.N_QUADS)
    with oxigraph_server(nquads, folder / "db", union_default_graph=True) as url:
        yield url


@pytest.fixture(scope="session", params=["memory", "remote"])
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """A client of the app over store=memory or store=remote (a real oxigraph serve)."""
    tmp = tmp_path_factory.mktemp(f"api-{request.param}")
    if request.param == "remote":
        url = request.getfixturevalue("oxigraph_url")
        settings = mini_settings(tmp, store="remote", remote_url=url, dataset_file=None)
    else:
        settings = mini_settings(tmp)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def web_app(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """Make a client of an app over the in-process store, with settings overrides."""
    opened: list[TestClient] = []

    def make(engine: MemoryStore | None = None, **overrides: Any) -> TestClient:
        settings = mini_settings(tmp_path, **overrides)
        app: FastAPI = create_app(settings, store=engine or MemoryStore(MINI, settings=settings))
        test_client = TestClient(app)
        test_client.__enter__()
        opened.append(test_client)
        return test_client

    yield make
    for test_client in opened:
        test_client.__exit__(None, None, None)
