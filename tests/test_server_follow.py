"""A running server and new builds: leases keep its build, it follows var/current, /health tells.

Builds here are published straight from small N-Quads (no compile) so that each takes a moment.
The server runs as a real uvicorn process on 127.0.0.1 (tests/support/servers.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from api.app import create_app
from fastapi.testclient import TestClient

from kg.build import KEEP_BUILDS, find_current, publish
from kg.config import Settings
from kg.leases import is_leased, take_lease
from tests.support.servers import REPO_ROOT, api_server

BASE = "https://w3id.org/gq-kg/"
MARK = f"{BASE}id/x/marker"
LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
GRAPH = f"{BASE}graph/article"
WHICH = f"SELECT ?v WHERE {{ <{MARK}> <{LABEL}> ?v }}"
JSON = "application/sparql-results+json"


def nquads(value: str) -> bytes:
    return f'<{MARK}> <{LABEL}> "{value}" <{GRAPH}> .\n'.encode()


def build(var: Path, value: str) -> str:
    return publish(var, nquads(value), base_iri=BASE, log=lambda _: None).build_id


def label(base: str) -> str:
    answer = httpx.get(f"{base}/sparql", params={"query": WHICH}, headers={"Accept": JSON})
    answer.raise_for_status()
    bindings = answer.json()["results"]["bindings"]
    return str(bindings[0]["v"]["value"]) if bindings else ""


def found(base: str, name: str) -> list[str]:
    """The entities /api/search finds by ``name`` (from the served build's search index)."""
    answer = httpx.get(f"{base}/api/search", params={"q": name})
    answer.raise_for_status()
    return [hit["entity"]["iri"] for hit in answer.json()["hits"]]


def wait_for(check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"not true after {timeout} s: {check}")


# --- leases ------------------------------------------------------------------------------


def test_a_leased_build_is_never_pruned_and_a_released_one_is(tmp_path: Path) -> None:
    first = build(tmp_path, "A")
    lease = take_lease(tmp_path / "builds" / first)
    for n in range(KEEP_BUILDS + 2):
        build(tmp_path, f"B{n}")
    assert (tmp_path / "builds" / first / "store").is_dir()
    assert is_leased(tmp_path / "builds" / first)

    lease.release()
    build(tmp_path, "C")
    assert not (tmp_path / "builds" / first).exists()


def test_the_lease_of_a_dead_server_is_stale(tmp_path: Path) -> None:
    first = build(tmp_path, "A")
    folder = tmp_path / "builds" / first
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from kg.leases import take_lease; "
            "lease = take_lease(Path(sys.argv[1])); print('held', flush=True); time.sleep(60)",
            str(folder),
        ],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'src'}"},
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"held"
        assert is_leased(folder)  # another process's lock counts
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert not is_leased(folder)
    assert not [p for p in folder.iterdir() if p.name.startswith(".serving.")]


# --- a real server following builds ------------------------------------------------------


def test_the_server_follows_new_builds_and_keeps_its_own(tmp_path: Path) -> None:
    var = tmp_path / "var"
    first = build(var, "A")
    env = {
        "KG_VAR_DIR": str(var),
        "KG_STORE": "embedded",
        "KG_QUERY_WORKERS": "1",
        "KG_FOLLOW_INTERVAL": "0.2",
    }
    with api_server(env) as base:
        health = httpx.get(f"{base}/health").json()
        assert health["status"] == "ok"
        assert health["build"] == first
        assert health["version"] == first
        assert label(base) == "A"
        assert found(base, "A") == [MARK]
        old_tag = httpx.get(f"{base}/sparql", params={"query": WHICH}).headers["ETag"]

        # Three builds in a row: before the lease, the served build was pruned right here.
        ids = [build(var, value) for value in ("B", "C", "D")]
        wait_for(lambda: httpx.get(f"{base}/health").json()["build"] == ids[-1])
        assert label(base) == "D"
        # Search follows too: each build's own index file.
        assert found(base, "D") == [MARK]
        assert found(base, "A") == []
        answer = httpx.get(f"{base}/sparql", params={"query": WHICH})
        assert answer.headers["ETag"] != old_tag
        dump = httpx.get(f"{base}/dataset.nq")
        assert dump.status_code == 200
        assert dump.content == nquads("D")
        assert httpx.get(f"{base}/health").json()["version"] == ids[-1]

        # The build it left is released: the next build prunes what is past KEEP_BUILDS.
        wait_for(lambda: not is_leased(var / "builds" / first))
        build(var, "E")
        assert not (var / "builds" / first).exists()
        served = find_current(var)
        assert served is not None
        wait_for(lambda: httpx.get(f"{base}/health").json()["build"] == served.name)
        assert label(base) == "E"


def test_without_following_the_served_build_survives_many_builds(tmp_path: Path) -> None:
    var = tmp_path / "var"
    first = build(var, "A")
    with TestClient(create_app(settings_for(var, follow_interval=0))) as client:
        for n in range(KEEP_BUILDS + 2):
            build(var, f"B{n}")
        assert (var / "builds" / first / "store").is_dir()
        answer = client.get("/sparql", params={"query": WHICH}, headers={"Accept": JSON})
        assert answer.json()["results"]["bindings"][0]["v"]["value"] == "A"
        assert client.get("/health").json()["build"] == first
        assert client.get("/dataset.nq").content == nquads("A")
    # Closed: the lease is given up, and the next build prunes the old one.
    build(var, "C")
    assert not (var / "builds" / first).exists()


# --- /health tells the truth ---------------------------------------------------------------


def settings_for(var: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "var_dir": var,
        "store": "embedded",
        "query_workers": 1,
        "cache_entries": 16,
        "follow_interval": 0,
        "update_token": None,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def test_health_is_503_when_the_store_cannot_answer(tmp_path: Path) -> None:
    var = tmp_path / "var"
    first = build(var, "A")
    app = create_app(settings_for(var))
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/sparql", params={"query": WHICH}).status_code == 200  # now cached
        # The store's files vanish and its worker dies: a new worker cannot open the store.
        import shutil

        shutil.rmtree(var / "builds" / first / "store")
        for pid in app.state.ctx.served.store.pool.pids():
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        answer = client.get("/health")
        assert answer.status_code == 503
        body = answer.json()
        assert body["status"] == "unavailable"
        assert body["build"] == first
        assert body["error"]
        assert answer.headers["Retry-After"]


def test_a_build_that_cannot_be_opened_keeps_the_old_one_serving(tmp_path: Path) -> None:
    var = tmp_path / "var"
    build(var, "A")
    app = create_app(settings_for(var, follow_interval=0.1))
    with TestClient(app) as client:
        broken = build(var, "B")
        import shutil

        shutil.rmtree(var / "builds" / broken / "store")
        (var / "builds" / broken / "store").write_text("not a store")
        wait_for(lambda: "follow_error" in client.get("/health").json())
        health = client.get("/health").json()
        assert health["status"] == "ok"
        assert broken in health["follow_error"]
        answer = client.get("/sparql", params={"query": WHICH}, headers={"Accept": JSON})
        assert answer.json()["results"]["bindings"][0]["v"]["value"] == "A"

        fixed = build(var, "C")
        wait_for(lambda: client.get("/health").json().get("build") == fixed)
        assert "follow_error" not in client.get("/health").json()


@pytest.mark.parametrize("path", ["/sparql", "/health", "/dataset.nq"])
def test_no_store_no_answer_but_503(tmp_path: Path, path: str) -> None:
    """Before the lifespan opened a store (or after it closed it), routes answer 503."""
    var = tmp_path / "var"
    build(var, "A")
    app = create_app(settings_for(var))
    client = TestClient(app)  # not entered: no lifespan, no store
    answer = client.get(path, params={"query": WHICH} if path == "/sparql" else None)
    assert answer.status_code == 503


def test_a_request_finishes_on_the_store_it_started_with(tmp_path: Path) -> None:
    """The old store is closed only when its last request is done (a build switch meanwhile)."""
    import asyncio

    from api.state import AppContext, Served

    from tests.conftest import MINI
    from tests.fixtures.memory_store import MemoryStore

    async def scenario() -> None:
        old_store, new_store = MemoryStore(MINI), MemoryStore(MINI)
        await old_store.start()
        await new_store.start()
        ctx = AppContext(settings_for(tmp_path / "var"), "public")
        ctx.swap(Served(old_store))
        async with ctx.use() as served:
            old = ctx.swap(Served(new_store))
            assert old is served
            retiring = asyncio.create_task(old.retire(grace=30))
            await asyncio.sleep(0.2)
            assert not retiring.done()
            old_store._open()  # still open for the running request
            assert ctx.current().store is new_store  # new requests get the new store
        await asyncio.wait_for(retiring, 5)
        with pytest.raises(Exception, match="closed"):
            old_store._open()
        await new_store.close()

    asyncio.run(scenario())
