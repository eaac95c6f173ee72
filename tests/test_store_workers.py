"""The worker pool under stress: deadlines, crashes, replacement, updates (memory and disk).

Every test runs in one event loop (``asyncio.run``) that opens and closes its own store.
"""

from __future__ import annotations

import asyncio
import marshal
import mmap
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kg.config import Settings
from kg.errors import (
    QuerySyntaxError,
    QueryTimeout,
    QueryTooComplex,
    StoreUnavailable,
    UpdateNotAllowed,
)
from kg.store.base import QueryRequest
from kg.store.embedded import EmbeddedStore
from kg.store.messages import (
    ANSWER,
    INBOX_BYTES,
    JSON,
    PREFIX,
    Answer,
    Done,
    Failure,
    GraphsJob,
    Inbox,
    InitJob,
    Job,
    PingJob,
    QueryJob,
    UpdateJob,
    decode_reply,
    decode_request,
    encode_reply_head,
    encode_request,
)
from kg.store.process import Worker
from kg.store.workers import WorkerConfig, WorkerPool
from tests.test_store import ALL_TRIPLES, base_settings, disk_store, write_data

#: A cross product of 200^6 rows behind a filter: runs for hours in any engine without shortcuts.
_VALUES = " ".join(str(i) for i in range(1, 201))
ENDLESS = (
    "SELECT (COUNT(*) AS ?n) WHERE { "
    + " ".join(f"VALUES ?v{i} {{ {_VALUES} }}" for i in range(6))
    + " FILTER(?v0 + ?v1 + ?v2 + ?v3 + ?v4 + ?v5 > 0) }"
)
CHEAP = "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"


@pytest.fixture(params=["memory", "disk"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    nquads = write_data(tmp_path / "build")
    if request.param == "memory":
        return base_settings(tmp_path, store="memory", dataset_file=nquads, query_timeout=1.0)
    store_dir = disk_store(tmp_path / "build", nquads)
    return base_settings(tmp_path, store="embedded", store_path=store_dir, query_timeout=1.0)


def test_deadline_kills_the_query_and_others_keep_answering(settings: Settings) -> None:
    async def main() -> None:
        store = EmbeddedStore(settings)
        await store.start()
        try:
            before = store.pool.pids()
            started = time.monotonic()
            endless = asyncio.ensure_future(store.query(QueryRequest(ENDLESS)))
            await asyncio.sleep(0.2)  # the endless query holds one worker now
            cheap = await store.query(QueryRequest(CHEAP, timeout=30.0))
            assert cheap.rows == ALL_TRIPLES
            assert not endless.done()
            with pytest.raises(QueryTimeout) as caught:
                await endless
            assert time.monotonic() - started < 10  # stopped at the deadline, not at the end
            assert caught.value.timeout == 1.0
            assert "query_timeout" in caught.value.message
            await store.pool.wait_ready(30.0)
            after = store.pool.pids()
            assert len(after) == store.pool.size == 3  # two light workers, one heavy
            assert len(set(before) & set(after)) == 2  # exactly the stuck worker was replaced
            assert (await store.query(QueryRequest(CHEAP))).rows == ALL_TRIPLES
        finally:
            await store.close()

    asyncio.run(main())


def test_killed_worker_is_replaced_and_the_next_query_works(settings: Settings) -> None:
    async def main() -> None:
        store = EmbeddedStore(settings)
        await store.start()
        try:
            # The worker the next query takes (idle workers are taken last-in first-out).
            victim = store.pool._idle[-1].process.pid
            os.kill(victim, signal.SIGKILL)
            # Whether the pool has noticed yet or not, the next queries are answered.
            for _ in range(4):
                assert (await store.query(QueryRequest(CHEAP))).rows == ALL_TRIPLES
            # The pool learns of the death from end of file on the worker's socket, once the
            # kernel has torn the process down: not necessarily before those queries ended.
            for _ in range(300):
                if victim not in store.pool.pids():
                    break
                await asyncio.sleep(0.1)
            await store.pool.wait_ready(30.0)
            assert victim not in store.pool.pids()
            assert len(store.pool.pids()) == store.pool.size
        finally:
            await store.close()

    asyncio.run(main())


def test_cancelled_caller_does_not_lose_the_worker(settings: Settings) -> None:
    async def main() -> None:
        store = EmbeddedStore(settings)
        await store.start()
        try:
            slow = asyncio.ensure_future(store.query(QueryRequest(CHEAP)))
            await asyncio.sleep(0)
            slow.cancel()
            with pytest.raises(asyncio.CancelledError):
                await slow
            await store.pool.wait_ready(10.0)
            results = await asyncio.gather(*(store.query(QueryRequest(CHEAP)) for _ in range(6)))
            assert all(r.rows == ALL_TRIPLES for r in results)
        finally:
            await store.close()

    asyncio.run(main())


def test_a_stack_overflow_is_a_too_complex_query_and_the_pool_recovers(tmp_path: Path) -> None:
    """Below the guard: a worker with a small stack and a query nested deep enough to crash."""
    nquads = write_data(tmp_path)
    config = WorkerConfig("memory", dataset_file=str(nquads), stack_bytes=8 * 1024 * 1024)
    crash = "SELECT * WHERE " + "{" * 50_000 + "}" * 50_000

    async def main() -> None:
        pool = WorkerPool(config, 1)
        await pool.start()
        try:
            with pytest.raises(QueryTooComplex, match="out of stack"):
                await pool.request(QueryJob(crash, ("text/csv",), 10, union=True), 30.0)
            header, _ = await pool.request(QueryJob(CHEAP, ("text/csv",), 10, union=True), 30.0)
            assert isinstance(header, Answer)
            assert header.rows == ALL_TRIPLES
            assert pool.replacements == 1
        finally:
            await pool.close()

    asyncio.run(main())


def test_updates_are_refused_without_a_token(settings: Settings) -> None:
    async def main() -> None:
        store = EmbeddedStore(settings)
        await store.start()
        try:
            with pytest.raises(UpdateNotAllowed, match="update_token"):
                await store.update("INSERT DATA { <http://x/a> <http://x/b> <http://x/c> }")
        finally:
            await store.close()

    asyncio.run(main())


def test_updates_reach_every_worker_and_survive_replacement(tmp_path: Path) -> None:
    nquads = write_data(tmp_path / "build")
    settings = base_settings(
        tmp_path, store="memory", dataset_file=nquads, update_token="secret", query_workers=2
    )
    insert = "INSERT DATA { GRAPH <http://example.org/g3> { <http://x/a> <http://x/b> 1 } }"

    async def main() -> None:
        store = EmbeddedStore(settings)
        await store.start()
        try:
            version = (await store.info()).version
            await store.update(insert)
            info = await store.info()
            assert info.version != version
            assert "http://example.org/g3" in info.named_graphs
            # Both workers answer with the new triple, also a replacement of a killed one.
            os.kill(store.pool.pids()[0], signal.SIGKILL)
            await asyncio.sleep(0.2)
            await store.pool.wait_ready(30.0)
            results = await asyncio.gather(*(store.query(QueryRequest(CHEAP)) for _ in range(8)))
            assert {r.rows for r in results} == {ALL_TRIPLES + 1}
            with pytest.raises(QuerySyntaxError):
                await store.update("INSERT DATA { oops }")
            assert (await store.query(QueryRequest(CHEAP))).rows == ALL_TRIPLES + 1
        finally:
            await store.close()

    asyncio.run(main())


def test_updates_on_disk_go_through_one_read_write_worker(tmp_path: Path) -> None:
    nquads = write_data(tmp_path / "build")
    store_dir = disk_store(tmp_path / "build", nquads)
    settings = base_settings(
        tmp_path, store="embedded", store_path=store_dir, update_token="secret"
    )

    async def main() -> None:
        store = EmbeddedStore(settings)
        await store.start()
        try:
            assert len(store.pool.pids()) == 1
            await store.update("DELETE WHERE { GRAPH ?g { <http://example.org/a> ?p ?o } }")
            assert (await store.query(QueryRequest(CHEAP))).rows == ALL_TRIPLES - 3
            assert (await store.info()).writable
        finally:
            await store.close()

    asyncio.run(main())


def test_frames_arrive_in_pieces_and_large_bodies_fit() -> None:
    """The receive buffer: a reply split across reads, a body bigger than the buffer."""
    body = bytes(range(256)) * (12 * 1024)  # 3 MiB
    header = Answer("text/csv", "solutions", None, truncated=True)
    frame = encode_reply_head(header, len(body)) + body
    frame += encode_reply_head(Failure("query_syntax", "bad \ud800"), 0)
    left, right = socket.socketpair()
    with left, right:
        right.setblocking(False)
        inbox = Inbox()
        frames = []
        for start in range(0, len(frame), 100_000):
            left.sendall(frame[start : start + 100_000])
            while True:
                try:
                    inbox.receive(right)
                except BlockingIOError:
                    break
                while (taken := inbox.take()) is not None:
                    frames.append(taken)
        assert len(frames) == 2
        (tag, head, data), (tag2, head2, data2) = frames
        assert decode_reply(tag, head) == header
        assert data == body
        assert decode_reply(tag2, head2) == Failure("query_syntax", "bad \ud800")
        assert data2 == b""
        assert len(inbox.buffer) == INBOX_BYTES  # the big buffer was given back
        garbage = [(99, b"{}"), (JSON, b"[]"), (JSON, b"{"), (ANSWER, b"\x00")]
        garbage += [(JSON, b'["Failure", {}]'), (JSON, b'["Nope", {}]')]
        for tag3, head3 in garbage:
            with pytest.raises(ValueError, match=r"header|Expecting|buffer"):
                decode_reply(tag3, head3)


def test_a_malformed_reply_replaces_the_worker_and_the_request_is_retried(
    tmp_path: Path,
) -> None:
    nquads = write_data(tmp_path)
    config = WorkerConfig("memory", dataset_file=str(nquads))

    async def main() -> None:
        pool = WorkerPool(config, 1)
        # A fake worker whose socket end the test holds (the process just sleeps).
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        worker = Worker(sleeper, ours, mmap.mmap(-1, 1))
        pool._workers.add(worker)
        asyncio.get_running_loop().add_reader(ours.fileno(), pool._readable, worker)
        pool._release(worker)
        try:
            asked = asyncio.ensure_future(pool.request(PingJob(), 30.0))
            await asyncio.sleep(0.1)
            assert theirs.recv(4096)  # the request reached the fake worker
            theirs.sendall(PREFIX.pack(JSON, 5, 0) + b"nope!")
            header, _ = await asked  # answered by the replacement
            assert header == Done()
            assert worker.dead
            assert sleeper.wait(10) == -signal.SIGKILL
            assert pool.replacements == 1
        finally:
            theirs.close()
            await pool.close()

    asyncio.run(main())


def test_callers_waiting_for_a_worker_time_out_or_go_away_without_losing_it(
    tmp_path: Path,
) -> None:
    nquads = write_data(tmp_path)
    config = WorkerConfig("memory", dataset_file=str(nquads))

    async def main() -> None:
        pool = WorkerPool(config, 1)
        await pool.start()
        try:
            endless = asyncio.ensure_future(pool.request(QueryJob(ENDLESS, ("text/csv",), 10), 1.5))
            await asyncio.sleep(0.1)
            with pytest.raises(QueryTimeout, match="no query worker became free"):
                await pool.request(QueryJob(CHEAP, ("text/csv",), 10), 0.2)
            gone = [asyncio.ensure_future(pool.request(PingJob(), 30.0)) for _ in range(5)]
            kept = [asyncio.ensure_future(pool.request(PingJob(), 30.0)) for _ in range(5)]
            await asyncio.sleep(0.1)
            for task in gone:
                task.cancel()
            with pytest.raises(QueryTimeout):
                await endless
            assert [(await task)[0] for task in kept] == [Done()] * 5
            assert all(task.cancelled() for task in gone)
            # Many callers, some going away at every step: the worker always comes back.
            calls = [asyncio.ensure_future(pool.request(PingJob(), 30.0)) for _ in range(40)]
            for task in calls[::3]:
                await asyncio.sleep(0)
                task.cancel()
            await asyncio.gather(*calls, return_exceptions=True)
            await pool.wait_ready(10.0)
            assert not pool._waiters
            waiting = asyncio.ensure_future(
                pool.request(QueryJob(ENDLESS, ("text/csv",), 10), 30.0)
            )
            await asyncio.sleep(0.1)
            last = asyncio.ensure_future(pool.request(PingJob(), 30.0))
            await asyncio.sleep(0.1)
        finally:
            await pool.close()
        for task in (waiting, last):  # closing fails them at once, not at their deadline
            with pytest.raises(StoreUnavailable, match="closed"):
                await task

    asyncio.run(main())


def test_a_caller_gone_just_as_the_answer_arrives_does_not_lose_the_worker(
    tmp_path: Path,
) -> None:
    """The reply is read in the same loop turn as the cancellation: the worker is freed."""
    nquads = write_data(tmp_path)
    config = WorkerConfig("memory", dataset_file=str(nquads))

    async def main() -> None:
        pool = WorkerPool(config, 1)
        await pool.start()
        try:
            for _ in range(3):
                asked = asyncio.ensure_future(pool.request(PingJob(), 30.0))
                await asyncio.sleep(0)  # sent; the worker answers while the loop is blocked
                time.sleep(0.05)
                asked.cancel()
                await asyncio.sleep(0)
                header, _ = await pool.request(PingJob(), 2.0)
                assert header == Done()
            assert pool.replacements == 0
        finally:
            await pool.close()

    asyncio.run(main())


def _parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def test_workers_are_forked_warm_and_the_pool_survives_the_fork_server_dying(
    tmp_path: Path,
) -> None:
    nquads = write_data(tmp_path)
    config = WorkerConfig("memory", dataset_file=str(nquads))
    job = QueryJob(CHEAP, ("text/csv",), 100, union=True)

    async def main() -> None:
        pool = WorkerPool(config, 2)
        await pool.start()
        try:
            zygote = pool._zygote
            assert zygote is not None
            assert zygote.process is not None
            assert {_parent_of(pid) for pid in pool.pids()} == {zygote.process.pid}
            # A worker stopped at its deadline is replaced by a fork: fast, and still a child
            # of the fork server.
            with pytest.raises(QueryTimeout):
                await pool.request(QueryJob(ENDLESS, ("text/csv",), 10), 0.5)
            await pool.wait_ready(10.0)
            assert {_parent_of(pid) for pid in pool.pids()} == {zygote.process.pid}
            # The fork server dies: its workers die with it, and the pool goes on with
            # python -c workers.
            os.kill(zygote.process.pid, signal.SIGKILL)
            await asyncio.sleep(0.3)
            for _ in range(3):
                reply, _ = await pool.request(job, 30.0)
                assert isinstance(reply, Answer)
                assert reply.rows == ALL_TRIPLES
            await pool.wait_ready(30.0)
            assert pool._zygote is None or not pool._zygote.alive
            assert os.getpid() in {_parent_of(pid) for pid in pool.pids()}
        finally:
            await pool.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    "job",
    [
        QueryJob(
            "SELECT * {}",
            ("application/sparql-results+json",),
            5,
            ("g",),
            (),
            True,
            "http://x/",
            (("ex", "http://ex/"),),
            1024,
        ),
        UpdateJob("INSERT DATA {}", "http://b/", flush=True),
        GraphsJob(),
        PingJob(),
        InitJob(WorkerConfig("read-only", path="/s", memory_mb=7), ("u1", "u2")),
    ],
)
def test_request_frames_round_trip_and_foreign_ones_are_refused(job: Job) -> None:
    frame = encode_request(job)
    tag, size, body = PREFIX.unpack_from(frame)
    header = frame[PREFIX.size :]
    assert (size, body) == (len(header), 0)
    assert decode_request(tag, header) == job
    # Not a frame the server sends: refused, never half-read.
    name = type(job).__name__
    for foreign in (
        marshal.dumps((name, (None,) * 12)),  # more values than the job has fields
        marshal.dumps((name, {"query": "x"})),  # the old dict form
        marshal.dumps(("Popen", ())),
        marshal.dumps([name, ()]),
        b"\xff\x00garbage",
    ):
        assert decode_request(tag, foreign) is None
    assert decode_request(tag + 7, header) is None
