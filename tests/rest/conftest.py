"""Fixtures over the real data: one build per test session, an app over it.

The REST API, search and reconciliation answer questions about the real pairings (惠水县,
罗甸县 …), so these tests run on the project's own build (compiled, validated, published into
a temporary var/ folder), loaded into the in-process store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from api.app import create_app
from fastapi.testclient import TestClient

from tests.conftest import mini_settings
from tests.fixtures.memory_store import MemoryStore
from tests.support.real_data import build_real_data

BASE = "https://w3id.org/gq-kg/"


@pytest.fixture(scope="session")
def real_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's data, built once: the folder holding dataset.nq, store/ and manifest."""
    return build_real_data(tmp_path_factory.mktemp("real") / "var")


@pytest.fixture(scope="session")
def real_store(real_build: Path) -> Iterator[MemoryStore]:
    """The real data in the in-process store (started, for core-level tests)."""
    store = MemoryStore(real_build / "dataset.nq")
    asyncio.run(store.start())
    yield store
    asyncio.run(store.close())


@pytest.fixture(scope="session")
def api(real_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A client of the whole app over the real data (store=memory, as `kg serve` answers)."""
    tmp = tmp_path_factory.mktemp("rest-api")
    settings = mini_settings(tmp, dataset_file=real_build / "dataset.nq")
    with TestClient(create_app(settings)) as client:
        yield client
