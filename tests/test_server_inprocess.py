"""The in-process lane end to end: ``kg serve --workers 2`` (uvicorn's supervisor), where a
process whose query thread runs away or grows past the memory limit drains and is replaced
while its sibling serves (kg.store.inprocess)."""

from __future__ import annotations

import concurrent.futures
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import kg_server
from tests.test_attacks import MEMORY_BOMB
from tests.test_server_follow import build
from tests.test_store_inprocess import SLOW

JSON = "application/sparql-results+json"
CHEAP = "SELECT ?s WHERE { ?s ?p ?o } LIMIT 3"


def _serving_processes(var_dir: Path) -> set[int]:
    """Process ids of the HTTP processes of the server on ``var_dir``: the children that
    uvicorn's supervisor spawned (not its resource tracker)."""
    supervisors = [pid for pid in _pids() if _is_supervisor(pid, var_dir)]
    children: set[int] = set()
    for pid in supervisors:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            children |= {int(child) for child in handle.read().split()}
    return {pid for pid in children if b"spawn_main" in _cmdline(pid)}


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _is_supervisor(pid: int, var_dir: Path) -> bool:
    args = _cmdline(pid).split(b"\0")
    return b"kg.cli" in args and b"serve" in args and str(var_dir).encode() in args


def _wait_for(check: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"not true after {timeout} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("inprocess")
    var_dir = folder / "var"
    build(var_dir, "A")
    env = {
        "KG_QUERY_WORKERS": "1",
        "KG_HEAVY_QUERIES": "1",
        "KG_QUERY_TIMEOUT": "1",
        "KG_INPROCESS_BUDGET": "0.2",
        "KG_LIGHT_BUDGET": "0.2",
        "KG_WORKER_MEMORY_MB": "256",
        "KG_CLIENT_PENALTY": "0",
        "KG_CACHE_ENTRIES": "0",
    }
    with kg_server(var_dir, env, log=folder / "serve.log", workers=2) as base:
        yield base, var_dir


def _query(base: str, text: str) -> httpx.Response:
    return httpx.get(f"{base}/sparql", params={"query": text}, headers={"Accept": JSON}, timeout=30)


def _wait_for_two(var_dir: Path, base: str) -> set[int]:
    """Both HTTP processes up and serving (after a recycle: the new one started)."""
    _wait_for(lambda: len(_serving_processes(var_dir)) == 2)
    _wait_for(lambda: httpx.get(f"{base}/health", timeout=10).status_code == 200)
    return _serving_processes(var_dir)


def test_the_served_engine_runs_the_lane(server: tuple[str, Path]) -> None:
    base, var_dir = server
    _wait_for_two(var_dir, base)
    health = httpx.get(f"{base}/health", headers={"Accept": "application/json"}, timeout=10)
    assert "in-process lane (0.2 s budget)" in health.json()["engine"]
    assert _query(base, CHEAP).status_code == 200


def test_a_runaway_is_503_at_its_deadline_others_answer_and_its_process_is_replaced(
    server: tuple[str, Path],
) -> None:
    base, var_dir = server
    before = _wait_for_two(var_dir, base)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        started = time.monotonic()
        runaway = pool.submit(_query, base, SLOW)
        time.sleep(0.4)  # past the in-process budget: its thread is stray, a worker has it
        cheap = [pool.submit(_query, base, CHEAP) for _ in range(6)]
        assert [c.result().status_code for c in cheap] == [200] * 6
        answer = runaway.result()
        took = time.monotonic() - started
    assert answer.status_code == 503
    assert answer.text.startswith("503 timeout: the query ran past its deadline of 1 s")
    assert took < 5.0
    # The process whose thread outlived the deadline drained and exited; a new one serves.
    _wait_for(lambda: _serving_processes(var_dir) != before)
    after = _wait_for_two(var_dir, base)
    assert len(after & before) == 1
    assert _query(base, CHEAP).status_code == 200


def test_a_memory_bomb_is_503_and_its_process_is_replaced(server: tuple[str, Path]) -> None:
    base, var_dir = server
    before = _wait_for_two(var_dir, base)
    answer = _query(base, MEMORY_BOMB)
    assert answer.status_code == 503
    # The 1 s deadline or the 256 MiB limit, whichever the worker meets first.
    assert answer.text.startswith(("503 query_memory:", "503 timeout:")), answer.text
    _wait_for(lambda: _serving_processes(var_dir) != before)
    after = _wait_for_two(var_dir, base)
    assert len(after & before) == 1
    assert _query(base, CHEAP).status_code == 200
