"""Fail closed: workers that cannot leave the network stop the start-up unless allowed.

A failing ``unshare`` is simulated by monkeypatching what the server sees (the probe, or the
status the workers report); the real isolation is covered by tests/test_no_network.py.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from kg import cli
from kg.config import get_settings
from kg.errors import ForbiddenQuery, StoreUnavailable
from kg.store import isolation
from kg.store.base import QueryRequest
from kg.store.embedded import EmbeddedStore
from kg.store.factory import check_store
from kg.store.isolation import Isolation
from kg.store.workers import WorkerPool
from tests.test_store import base_settings, write_data

FAILED = Isolation.from_detail("not isolated: unshare failed: Operation not permitted")
SERVICE = "SELECT * WHERE { SERVICE <http://127.0.0.1:1/sparql> { ?s ?p ?o } }"


def test_a_worker_report_is_read_back() -> None:
    assert Isolation.from_detail("isolated (user namespace)").isolated
    assert not FAILED.isolated


def test_require_refuses_in_one_line_and_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        isolation.require(FAILED, base_settings(tmp_path))
    message = caught.value.message
    assert "\n" not in message
    assert "allow_unisolated" in message
    assert "Operation not permitted" in message


def test_require_with_the_setting_warns_and_says_not_isolated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="kg.store.isolation"):
        assert not isolation.require(FAILED, base_settings(tmp_path, allow_unisolated=True))
    assert "not isolated" in caplog.text
    assert "SERVICE refused" in caplog.text
    assert isolation.require(Isolation(True, "isolated"), base_settings(tmp_path))


@pytest.fixture
def failing_workers(monkeypatch: pytest.MonkeyPatch) -> list[WorkerPool]:
    """Workers start as usual, but report that unshare failed."""
    pools: list[WorkerPool] = []
    original = WorkerPool.start

    async def start(self: WorkerPool) -> None:
        await original(self)
        self.network_status = FAILED.detail
        pools.append(self)

    monkeypatch.setattr(WorkerPool, "start", start)
    return pools


def _memory_settings(tmp_path: Path, **overrides: Any) -> Any:
    dataset = write_data(tmp_path / "data")
    return base_settings(
        tmp_path, store="memory", dataset_file=dataset, query_workers=1, **overrides
    )


def test_the_store_does_not_start_unisolated(
    tmp_path: Path, failing_workers: list[WorkerPool]
) -> None:
    store = EmbeddedStore(_memory_settings(tmp_path))
    with pytest.raises(StoreUnavailable, match="refusing to start"):
        asyncio.run(store.start())
    (pool,) = failing_workers
    assert pool._closed  # its workers were stopped, not left running


def test_allowed_unisolated_store_starts_and_keeps_service_refused(
    tmp_path: Path, failing_workers: list[WorkerPool], caplog: pytest.LogCaptureFixture
) -> None:
    store = EmbeddedStore(_memory_settings(tmp_path, allow_unisolated=True))

    async def main() -> None:
        await store.start()
        try:
            with pytest.raises(ForbiddenQuery, match="SERVICE"):
                await store.query(QueryRequest(SERVICE))
            ok = await store.query(QueryRequest("ASK { ?s ?p ?o }"))
            assert b"true" in ok.body
        finally:
            await store.close()

    with caplog.at_level(logging.WARNING, logger="kg.store.isolation"):
        asyncio.run(main())
    assert "not isolated" in caplog.text


def test_serve_says_so_in_one_line_before_listening(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = write_data(tmp_path / "data")
    monkeypatch.setattr(isolation, "probe", lambda *_: FAILED)
    started: list[object] = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **_: started.append(args))
    for name, value in {
        "KG_STORE": "memory",
        "KG_DATASET_FILE": str(dataset),
        "KG_VAR_DIR": str(tmp_path / "var"),
        "KG_ALLOW_SERVICE": "false",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KG_ALLOW_UNISOLATED", raising=False)
    get_settings.cache_clear()
    try:
        assert cli.main(["serve"]) != 0
        error = capsys.readouterr().err.strip()
        assert started == []
        assert len(error.splitlines()) == 1
        assert "allow_unisolated" in error
        monkeypatch.setenv("KG_ALLOW_UNISOLATED", "true")
        get_settings.cache_clear()
        assert cli.main(["serve"]) == 0
        assert len(started) == 1
    finally:
        get_settings.cache_clear()


def test_check_store_probes_only_when_isolation_is_wanted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def probe(timeout: float = 30.0) -> Isolation:
        calls.append(1)
        return FAILED

    monkeypatch.setattr(isolation, "probe", probe)
    check_store(_memory_settings(tmp_path, allow_service=True))  # SERVICE needs the network
    assert calls == []
    with pytest.raises(StoreUnavailable):
        check_store(_memory_settings(tmp_path))
    assert calls == [1]
