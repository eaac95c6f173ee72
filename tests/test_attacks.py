"""The attack suite, fast cases: what a hostile or careless client sends to a public endpoint.

Each test runs the real embedded store (worker processes) on the small test dataset, with
limits scaled down so that the whole module stays within a few seconds per case. The long,
loaded version of the same mix is ``bench/soak.py``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from kg.config import Settings
from kg.errors import (
    Overloaded,
    QueryMemoryExceeded,
    QueryTimeout,
    ResultTooLarge,
    TooManyRequests,
    WorkerKilled,
    XmlUnsafeResult,
)
from kg.sparql.negotiation import SPARQL_JSON, SPARQL_XML, TSV
from kg.store.base import QueryRequest, QueryResult
from kg.store.child import PARSING
from kg.store.embedded import EmbeddedStore
from tests.test_store import ALL_TRIPLES, base_settings, write_data

_VALUES = " ".join(str(i) for i in range(1, 201))
#: Runs for hours: a 200^6 cross product behind a filter.
RUNAWAY = (
    "SELECT (COUNT(*) AS ?n) WHERE { "
    + " ".join(f"VALUES ?v{i} {{ {_VALUES} }}" for i in range(6))
    + " FILTER(?v0 + ?v1 + ?v2 + ?v3 + ?v4 + ?v5 > 0) }"
)
#: Grows without bound: sorting a 200^4 cross product in memory.
MEMORY_BOMB = (
    "SELECT ?a ?b ?c ?d WHERE { "
    + " ".join(f"VALUES ?{v} {{ {_VALUES} }}" for v in "abcd")
    + " } ORDER BY RAND()"
)
CHEAP = "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    nquads = write_data(tmp_path / "build")
    values: dict[str, Any] = {
        "store": "memory",
        "dataset_file": nquads,
        "query_timeout": 2.0,
        "query_workers": 2,
        "light_budget": 0.2,
        "heavy_queries": 2,
        "worker_memory_mb": 256,
    }
    values.update(overrides)
    return base_settings(tmp_path, **values)


def _run(settings: Settings, body: Callable[[EmbeddedStore], Awaitable[None]]) -> None:
    async def main() -> None:
        store = EmbeddedStore(settings)
        await store.start()
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(main())


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for ``condition`` (the shared machine makes fixed sleeps unreliable)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    while not condition():
        assert loop.time() < until, "condition not reached in time"
        await asyncio.sleep(0.02)


async def _timed(store: EmbeddedStore, request: QueryRequest) -> tuple[float, QueryResult]:
    started = time.monotonic()
    result = await store.query(request)
    return time.monotonic() - started, result


def test_a_runaway_is_stopped_at_its_deadline_while_cheap_queries_answer(tmp_path: Path) -> None:
    async def body(store: EmbeddedStore) -> None:
        started = time.monotonic()
        runaway = asyncio.ensure_future(store.query(QueryRequest(RUNAWAY, client="a")))
        await _until(lambda: store.pool.heavy == 1)  # past its CPU budget: heavy lane
        took, cheap = await _timed(store, QueryRequest(CHEAP, client="b"))
        assert cheap.rows == ALL_TRIPLES
        assert took < 1.0
        with pytest.raises(QueryTimeout, match="deadline"):
            await runaway
        assert 1.8 < time.monotonic() - started < 3.5  # at its deadline (2 s), not later
        await store.pool.wait_ready(10.0)
        assert store.pool.heavy == 0
        # Its client may not resend at once (client_penalty), the others may.
        with pytest.raises(TooManyRequests, match="client_penalty") as caught:
            await store.query(QueryRequest(RUNAWAY, client="a"))
        assert 0 < caught.value.retry_after <= 5.0
        assert (await store.query(QueryRequest(CHEAP, client="b"))).rows == ALL_TRIPLES

    _run(_settings(tmp_path), body)


def test_runaways_do_not_starve_cheap_queries(tmp_path: Path) -> None:
    """Six runaways from six clients on two light workers: every cheap query still answers.

    Before admission control, the two workers were held by runaways until their deadline and
    the cheap queries waited for them (or failed with 'no query worker became free'). Now each
    runaway holds a light worker for its short budget only, then moves to the heavy lane.
    """

    async def body(store: EmbeddedStore) -> None:
        runaways = [
            asyncio.ensure_future(store.query(QueryRequest(RUNAWAY, client=f"r{i}")))
            for i in range(6)
        ]
        # Cheap queries sent in the middle of the burst all succeed (none waits to its deadline).
        during = await asyncio.gather(
            *(store.query(QueryRequest(CHEAP, client=f"c{i}")) for i in range(4))
        )
        assert [r.rows for r in during] == [ALL_TRIPLES] * 4
        # Every runaway is in the heavy lane once it has used its CPU budget.
        await _until(lambda: store.pool.heavy == 6, 15.0)
        timings = []
        for i in range(10):
            took, result = await _timed(store, QueryRequest(CHEAP, client=f"c{i}"))
            assert result.rows == ALL_TRIPLES
            timings.append(took)
        # The machine is shared and slow: generous, but far below the deadline.
        assert sorted(timings)[8] < 0.5, timings
        assert not any(task.done() for task in runaways)  # still running, in their lane
        for task in runaways:
            task.cancel()
        await asyncio.gather(*runaways, return_exceptions=True)

    _run(_settings(tmp_path, query_timeout=20.0, heavy_queries=6), body)


def test_a_full_heavy_lane_stops_the_next_long_query_at_its_budget(tmp_path: Path) -> None:
    async def body(store: EmbeddedStore) -> None:
        first = asyncio.ensure_future(store.query(QueryRequest(RUNAWAY, client="a")))
        await _until(lambda: store.pool.heavy == 1)
        started = time.monotonic()
        with pytest.raises(Overloaded, match="heavy_queries"):
            await store.query(QueryRequest(RUNAWAY, client="b"))
        # At its 0.2 s (CPU) budget, not at the 10 s deadline.
        assert time.monotonic() - started < 5.0
        cheap = await store.query(QueryRequest(CHEAP, client="c"))
        assert cheap.rows == ALL_TRIPLES
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)

    _run(_settings(tmp_path, heavy_queries=1, query_timeout=10.0), body)


def test_one_client_cannot_take_every_worker(tmp_path: Path) -> None:
    async def body(store: EmbeddedStore) -> None:
        mine = [
            asyncio.ensure_future(store.query(QueryRequest(RUNAWAY, client="greedy")))
            for _ in range(2)
        ]
        await asyncio.sleep(0.1)
        with pytest.raises(TooManyRequests, match="client_concurrency") as caught:
            await store.query(QueryRequest(CHEAP, client="greedy"))
        assert caught.value.retry_after >= 1
        assert (await store.query(QueryRequest(CHEAP, client="other"))).rows == ALL_TRIPLES
        for task in mine:
            task.cancel()
        await asyncio.gather(*mine, return_exceptions=True)

    _run(_settings(tmp_path, client_concurrency=2), body)


def test_a_full_queue_answers_429_at_once_instead_of_waiting(tmp_path: Path) -> None:
    async def body(store: EmbeddedStore) -> None:
        # Every worker busy until the deadline (a long budget: no lane to move to), one waiter.
        busy = [
            asyncio.ensure_future(store.query(QueryRequest(RUNAWAY, client=f"r{i}")))
            for i in range(store.pool.size + 1)
        ]
        await asyncio.sleep(0.2)
        started = time.monotonic()
        with pytest.raises(TooManyRequests, match="query_queue"):
            await store.query(QueryRequest(CHEAP, client="late"))
        assert time.monotonic() - started < 0.5
        for task in busy:
            task.cancel()
        await asyncio.gather(*busy, return_exceptions=True)

    _run(_settings(tmp_path, query_queue=1, light_budget=60.0, query_timeout=30.0), body)


def test_a_memory_bomb_gets_a_clear_error_and_its_worker_is_replaced(tmp_path: Path) -> None:
    async def body(store: EmbeddedStore) -> None:
        started = time.monotonic()
        with pytest.raises(QueryMemoryExceeded, match="memory limit of 256 MiB") as caught:
            await store.query(QueryRequest(MEMORY_BOMB, client="a"))
        assert caught.value.code == "query_memory"
        assert time.monotonic() - started < 20  # stopped by the watchdog, not the deadline
        await store.pool.wait_ready(10.0)
        assert (await store.query(QueryRequest(CHEAP, client="b"))).rows == ALL_TRIPLES
        # The client that sent the bomb waits a moment before its next query is admitted.
        with pytest.raises(TooManyRequests, match="client_penalty"):
            await store.query(QueryRequest(CHEAP, client="a"))

    _run(_settings(tmp_path, query_timeout=30.0), body)


def test_a_worker_killed_mid_evaluation_is_not_a_syntax_error(tmp_path: Path) -> None:
    """The runaway's COUNT evaluates inside the engine's query() call (the 'parsing' phase):
    a kill from outside there used to be reported as 400 query_syntax."""

    async def body(store: EmbeddedStore) -> None:
        before = set(store.pool.pids())
        runaway = asyncio.ensure_future(store.query(QueryRequest(RUNAWAY, client="a")))
        # Wait until the worker is inside the engine's query() call, then kill it.
        await _until(lambda: any(w.where == PARSING for w in store.pool._workers))
        busy = [w.process.pid for w in store.pool._workers if w.where == PARSING]
        os.kill(busy[0], signal.SIGKILL)
        with pytest.raises(WorkerKilled, match="killed from outside") as caught:
            await runaway
        assert caught.value.code == "worker_killed"
        await store.pool.wait_ready(10.0)
        assert busy[0] not in store.pool.pids()
        assert len(set(store.pool.pids()) - before) == 1
        assert (await store.query(QueryRequest(CHEAP))).rows == ALL_TRIPLES

    _run(_settings(tmp_path, light_budget=60.0, query_timeout=30.0), body)


def test_oversized_values_and_nul_are_refused_clearly_through_the_workers(
    tmp_path: Path,
) -> None:
    long_value = 'SELECT (CONCAT("' + "x" * 3000 + '", "y") AS ?v) {}'
    nul = 'SELECT (CONCAT("a", "\\u0000", "b") AS ?v) {}'

    async def body(store: EmbeddedStore) -> None:
        for media_type in (SPARQL_JSON, SPARQL_XML, TSV, "text/csv"):
            with pytest.raises(ResultTooLarge, match="max_value_bytes"):
                await store.query(QueryRequest(long_value, accept=(media_type,)))
        with pytest.raises(XmlUnsafeResult, match="U\\+0000") as caught:
            await store.query(QueryRequest(nul, accept=(SPARQL_XML,)))
        assert SPARQL_JSON in caught.value.offered
        answer = await store.query(QueryRequest(nul, accept=(SPARQL_JSON,)))
        assert b"\\u0000" in answer.body
        # Nothing was lost: the workers are the same processes.
        assert store.pool.replacements == 0

    # max_value_bytes=1024: a 3 KB value (and the engine's 4 MiB direct path is bypassed).
    _run(_settings(tmp_path, max_value_bytes=1024), body)
