"""The in-process lane (kg.store.inprocess): same answers as the workers, and what happens to a
query that outlives its budget (runaway, memory bomb, a merely slow query).

The lane normally runs only under uvicorn's multi-process supervisor; these tests force it on
in the test process (``EmbeddedStore.force_lane``) and replace the recycling with a recorder,
except where the single-process behaviour itself is tested. The end-to-end recycling of a real
``uvicorn --workers 2`` server is in tests/test_server_inprocess.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from kg.config import Settings
from kg.errors import KgError, QueryMemoryExceeded, QueryTimeout, TooManyRequests
from kg.sparql.results import BOOLEAN_MEDIA_TYPES, GRAPH_MEDIA_TYPES, SOLUTION_MEDIA_TYPES
from kg.store.base import QueryRequest, QueryResult
from kg.store.embedded import EmbeddedStore
from kg.store.inprocess import InProcessLane
from kg.store.process import anonymous_memory
from tests.test_store import ALL_TRIPLES, EX, base_settings, disk_store, write_data

CHEAP = "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"
_VALUES = " ".join(str(i) for i in range(1, 201))
#: Runs about 3 s of CPU, then answers (200^3 rows behind a filter): past the 1 s deadlines
#: below (a runaway for them), yet its thread ends soon after, not hours later in pytest.
SLOW = (
    "SELECT (COUNT(*) AS ?n) WHERE { "
    + " ".join(f"VALUES ?v{i} {{ {_VALUES} }}" for i in range(3))
    + " FILTER(?v0 + ?v1 + ?v2 > 0) }"
)


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    nquads = write_data(tmp_path / "build")
    store_dir = disk_store(tmp_path / "build", nquads)
    values: dict[str, Any] = {
        "store": "embedded",
        "store_path": store_dir,
        "query_workers": 1,
        "heavy_queries": 1,
        "light_budget": 0.2,
        "inprocess_budget": 5.0,
        "client_penalty": 0.0,
    }
    values.update(overrides)
    return base_settings(tmp_path, **values)


async def _open(settings: Settings, *, lane: bool) -> EmbeddedStore:
    store = EmbeddedStore(settings)
    store.force_lane = lane
    await store.start()
    assert (store.lane is not None) == (lane and settings.inprocess_budget > 0)
    return store


async def _recording_lane(settings: Settings) -> tuple[EmbeddedStore, InProcessLane, list[str]]:
    """A store whose lane may recycle; the reasons it asked to recycle, instead of SIGTERM."""
    store = await _open(settings, lane=True)
    lane = store.lane
    assert lane is not None
    recycled: list[str] = []
    lane.on_recycle = recycled.append
    lane.can_recycle = True
    return store, lane, recycled


def _run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


async def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    while not condition():
        assert loop.time() < until, "condition not reached in time"
        await asyncio.sleep(0.02)


async def _outcome(store: EmbeddedStore, text: str, **options: Any) -> QueryResult | KgError:
    try:
        return await store.query(QueryRequest(text, **options))
    except KgError as exc:
        return exc


def _same(lane: QueryResult | KgError, worker: QueryResult | KgError) -> None:
    if isinstance(worker, KgError):
        assert isinstance(lane, KgError), lane
        assert (type(lane), lane.code, lane.message) == (type(worker), worker.code, worker.message)
        return
    assert isinstance(lane, QueryResult), lane
    assert (lane.body, lane.media_type, lane.kind, lane.rows, lane.truncated) == (
        worker.body,
        worker.media_type,
        worker.kind,
        worker.rows,
        worker.truncated,
    )


SELECT = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o"
CONSTRUCT = f"PREFIX ex: <{EX}> CONSTRUCT {{ ?s ?p ?o }} WHERE {{ ?s ?p ?o }} ORDER BY ?s ?p ?o"
LONG_VALUE = 'SELECT (CONCAT("' + "x" * 3000 + '", "y") AS ?v) {}'
NUL = 'SELECT (CONCAT("a", "\\u0000", "b") AS ?v) {}'
#: (text, request options): every format, caps on rows and values, errors.
CASES: list[tuple[str, dict[str, Any]]] = [
    *((SELECT, {"accept": (m,)}) for m in SOLUTION_MEDIA_TYPES),
    *((SELECT, {"accept": (m,), "max_rows": 3}) for m in SOLUTION_MEDIA_TYPES),
    *((f"ASK {{ <{EX}a> ?p ?o }}", {"accept": (m,)}) for m in BOOLEAN_MEDIA_TYPES),
    *((f"ASK {{ <{EX}nobody> ?p ?o }}", {"accept": (m,)}) for m in BOOLEAN_MEDIA_TYPES),
    *((CONSTRUCT, {"accept": (m,)}) for m in GRAPH_MEDIA_TYPES),
    (CONSTRUCT, {"accept": ("application/n-triples",), "max_rows": 2}),
    (f"DESCRIBE <{EX}b>", {"accept": ("text/turtle",)}),
    *((LONG_VALUE, {"accept": (m,)}) for m in SOLUTION_MEDIA_TYPES),
    (NUL, {"accept": ("application/sparql-results+xml",)}),
    (NUL, {"accept": ("application/sparql-results+json",)}),
    (f"SELECT * FROM <{EX}g1> WHERE {{ ?s ?p ?o }} ORDER BY ?o", {}),
    (CHEAP, {"default_graph_uris": (f"{EX}g2",)}),
    ("SELECT (<http://example.org/nope>(1) AS ?x) {}", {}),
]


def test_the_lane_answers_exactly_as_the_workers_in_every_format_with_the_same_caps(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, max_value_bytes=1024)

    async def body() -> None:
        lane_store = await _open(settings, lane=True)
        worker_store = await _open(settings, lane=False)
        try:
            codes = []
            for text, options in CASES:
                worker = await _outcome(worker_store, text, **options)
                _same(await _outcome(lane_store, text, **options), worker)
                codes.append(worker.code if isinstance(worker, KgError) else "ok")
            # The caps and refusals were exercised: four 413s, the NUL in XML, the function.
            assert sorted(c for c in codes if c != "ok") == sorted(
                ["result_too_large"] * 4 + ["xml_unsafe_result", "unsupported_query"]
            )
            lane = lane_store.lane
            assert lane is not None
            # Every case ran in-process (none outlived the budget), none went to a worker.
            assert (lane.answered, lane.long_queries) == (len(CASES), 0)
        finally:
            await lane_store.close()
            await worker_store.close()

    _run(body)


def test_a_runaway_is_503_at_its_deadline_others_answer_and_the_process_recycles(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, inprocess_budget=0.2, query_timeout=1.0)

    async def body() -> None:
        store, lane, recycled = await _recording_lane(settings)
        try:
            started = time.monotonic()
            runaway = asyncio.ensure_future(store.query(QueryRequest(SLOW, client="a")))
            await _until(lambda: lane.long_queries == 1)  # past the budget: nice 19
            assert not recycled
            # Another client's cheap query answers meanwhile, on the lane's other thread.
            cheap = await store.query(QueryRequest(CHEAP, client="b"))
            assert cheap.rows == ALL_TRIPLES
            assert lane.answered == 1
            with pytest.raises(QueryTimeout, match="deadline"):
                await runaway
            assert 0.9 < time.monotonic() - started < 2.5  # at its deadline (1 s)
            # Its thread runs on (stray): the process asked to be recycled, and until it is
            # replaced the workers answer.
            assert recycled == ["a query thread ran past its deadline of 1 s"]
            assert lane.tainted
            assert not lane.usable
            assert (await store.query(QueryRequest(CHEAP, client="b"))).rows == ALL_TRIPLES
            assert lane.answered == 1
        finally:
            await store.close()

    _run(body)


def test_a_long_query_within_its_deadline_is_answered_in_process_once(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, inprocess_budget=0.05, light_budget=30.0, query_timeout=60.0)

    async def body() -> None:
        store, lane, recycled = await _recording_lane(settings)
        before = store.pool.pids()
        try:
            answer = await store.query(QueryRequest(SLOW, accept=("text/csv",)))
            assert answer.body.split() == [b"n", b"8000000"]
            # In the lane (not run again by a worker), past its budget (at nice 19).
            assert (lane.answered, lane.long_queries) == (1, 1)
            assert store.pool.pids() == before  # no worker was used up
            assert not lane.tainted
            assert not recycled
            # Its thread retired (its priority cannot rise again) and was replaced.
            await _until(lambda: lane._threads == lane.size)
            for _ in range(4):
                assert (await store.query(QueryRequest(CHEAP))).rows == ALL_TRIPLES
            assert lane.answered == 5
        finally:
            await store.close()

    _run(body)


def test_without_a_supervisor_a_runaway_leaves_the_server_up_on_its_workers(
    tmp_path: Path,
) -> None:
    """One process: nothing could replace it, so after the 503 it serves through its workers
    until the stray thread ends, then runs queries in-process again."""
    settings = _settings(tmp_path, inprocess_budget=0.2, query_timeout=1.0)

    async def body() -> None:
        store = await _open(settings, lane=True)
        lane = store.lane
        assert lane is not None
        assert not lane.can_recycle  # pytest is no uvicorn worker process
        try:
            with pytest.raises(QueryTimeout):
                await store.query(QueryRequest(SLOW, client="a"))
            await _until(lambda: lane.recycling is not None)
            assert lane.tainted
            for client in ("a", "b", "c"):
                assert (await store.query(QueryRequest(CHEAP, client=client))).rows == ALL_TRIPLES
            assert lane.answered == 0
            # The thread ends: the process serves in-process again.
            await _until(lambda: not lane.tainted)
            assert lane.usable
            assert (await store.query(QueryRequest(CHEAP))).rows == ALL_TRIPLES
            assert lane.answered == 1
        finally:
            await store.close()

    _run(body)


def test_a_query_thread_past_the_memory_limit_is_503_and_the_process_recycles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watchdog (no RLIMIT for a thread): memory growth past worker_memory_mb while a long
    query runs stops it (503 query_memory) and recycles at once, long before the deadline; past
    twice the limit while draining, the process exits. Simulated: the lane's memory reading."""
    settings = _settings(
        tmp_path,
        inprocess_budget=0.1,
        query_timeout=30.0,
        worker_memory_mb=64,
        client_penalty=5.0,
    )
    exits: list[bool] = []

    async def body() -> None:

        store, lane, recycled = await _recording_lane(settings)
        lane.exit_now = lambda: exits.append(True)
        grown = {"bytes": 0}
        real = anonymous_memory
        monkeypatch.setattr(
            "kg.store.inprocess.anonymous_memory", lambda pid: real(pid) + grown["bytes"]
        )
        try:
            started = time.monotonic()
            bomb = asyncio.ensure_future(store.query(QueryRequest(SLOW, client="a")))
            await _until(lambda: lane.long_queries == 1)
            await asyncio.sleep(0.2)
            assert not recycled  # within the limit: nothing yet
            assert not bomb.done()
            grown["bytes"] = 100 * 1024 * 1024
            with pytest.raises(QueryMemoryExceeded, match="memory limit of 64 MiB") as caught:
                await bomb
            assert caught.value.code == "query_memory"
            assert time.monotonic() - started < 10  # by the watchdog, not the 30 s deadline
            assert len(recycled) == 1
            assert "MiB" in recycled[0]
            assert "worker_memory_mb" in recycled[0]
            assert lane.tainted
            assert not exits
            grown["bytes"] = 200 * 1024 * 1024
            await _until(lambda: bool(exits), timeout=5.0)
            # The client that sent it waits (penalty), as after a worker's memory stop.
            with pytest.raises(TooManyRequests):
                await store.query(QueryRequest(CHEAP, client="a"))
        finally:
            await store.close()

    _run(body)


def test_a_query_whose_caller_left_still_recycles_the_process_past_its_deadline(
    tmp_path: Path,
) -> None:
    """A client that disconnects does not free a thread that cannot be stopped: the query goes
    on (long: nice 19, memory watched) and, past the deadline, the process recycles."""
    settings = _settings(tmp_path, inprocess_budget=0.1, query_timeout=1.0)

    async def body() -> None:
        store, lane, recycled = await _recording_lane(settings)
        try:
            left = asyncio.ensure_future(store.query(QueryRequest(SLOW, client="a")))
            await asyncio.sleep(0.05)
            left.cancel()
            await asyncio.gather(left, return_exceptions=True)
            await _until(lambda: lane.long_queries == 1)  # its budget still counted
            assert not recycled
            await _until(lambda: bool(recycled))
            assert recycled == ["a query thread ran past its deadline of 1 s"]
            assert (await store.query(QueryRequest(CHEAP, client="b"))).rows == ALL_TRIPLES
        finally:
            await store.close()

    _run(body)


@pytest.mark.parametrize("value", ["-1", "abc", "61"])
def test_inprocess_budget_is_validated(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KG_INPROCESS_BUDGET", value)
    with pytest.raises(ValidationError, match="inprocess_budget"):
        Settings()


def test_inprocess_budget_zero_turns_the_lane_off(tmp_path: Path) -> None:
    settings = _settings(tmp_path, inprocess_budget=0)

    async def body() -> None:
        store = await _open(settings, lane=True)
        try:
            assert store.lane is None
            assert (await store.query(QueryRequest(CHEAP))).rows == ALL_TRIPLES
        finally:
            await store.close()

    _run(body)


def test_the_lane_is_off_for_a_writable_or_memory_store(tmp_path: Path) -> None:
    nquads = write_data(tmp_path / "data")

    async def body() -> None:
        for settings in (
            _settings(tmp_path / "rw", update_token="secret"),
            base_settings(tmp_path, store="memory", dataset_file=nquads, inprocess_budget=1.0),
        ):
            store = EmbeddedStore(settings)
            store.force_lane = True
            await store.start()
            try:
                assert store.lane is None
                assert (await store.query(QueryRequest(CHEAP))).rows == ALL_TRIPLES
            finally:
                await store.close()

    _run(body)
