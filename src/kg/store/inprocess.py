"""The in-process lane: uncached read-only queries answered by the HTTP process itself.

Every query to a worker process costs a round trip (~0.3-0.4 ms of CPU, as much as a one-hop
query itself; see bench/README.md). So an HTTP process serving an on-disk, read-only store
opens that store too (``pyoxigraph.Store.read_only``) and runs an uncached query in one of a few
threads of its own when one is free (else the query goes to the worker pool, as before).
pyoxigraph releases the GIL while it evaluates, so the event loop keeps serving meanwhile.

A thread cannot be killed, so:

- A query still running after ``inprocess_budget`` is *long*: its thread drops to nice 19 (like
  the workers' heavy lane) and retires once the query ends (an unprivileged thread cannot raise
  its priority again); a memory watchdog looks at the process every 50 ms while it runs.
- At its deadline, or once the process's anonymous memory has grown by ``worker_memory_mb``
  while a long query runs, the caller gets the workers' answer for that (503 ``timeout`` /
  ``query_memory``, the client penalty) and the thread is *stray*: the process is *tainted*
  (no more queries run in-process) and *recycles*. Under uvicorn's multi-process supervisor
  (``kg serve`` with ``serve_workers`` >= 2) it sends itself SIGTERM: uvicorn stops accepting,
  finishes in-flight requests, closes keep-alive connections and exits; the supervisor starts
  a fresh process while the sibling serves. Without a supervisor the lane is off (see
  :func:`supervised`); forced on (tests), the process serves through its workers until the
  stray thread ends.

Why not hand a long query to a worker at the budget (and drop the thread's answer)? Measured:
every query longer than the budget (the aggregation at 1M quads) then runs twice, and kg used
1.5x the CPU per aggregation (bench/README.md). Trade-offs (docs/stores.md): a memory bomb in a
thread has no RLIMIT_DATA, it grows unchecked for the budget, then until the watchdog's next
look; a native crash of the engine takes the HTTP process down (its supervisor restarts it).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable
from typing import Any, Final

from kg.errors import QueryMemoryExceeded, QueryTimeout
from kg.store.child import handle
from kg.store.messages import Job
from kg.store.process import Answered, anonymous_memory

__all__ = ["InProcessLane", "supervised"]

log = logging.getLogger("kg.store.inprocess")

#: Seconds between two looks at the process's memory while a long or stray query runs.
_WATCH_INTERVAL: Final = 0.05


def supervised() -> bool:
    """True in a process started by uvicorn's multi-process supervisor (``--workers`` >= 2),
    which starts a new one when it exits: only there may a process recycle itself."""
    return multiprocessing.parent_process() is not None


class _Cell:
    """Stands in for a worker's shared-memory state cell (nobody reads it in-process)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class _Task:
    """One query handed to a lane thread."""

    __slots__ = ("done", "future", "job", "long", "loop", "native_id", "stray")

    def __init__(
        self, job: Job, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Answered]
    ) -> None:
        self.job = job
        self.loop = loop
        self.future = future
        self.native_id = 0
        #: Under the lane's lock: the thread is done with it / its thread's priority dropped.
        self.done = False
        self.long = False
        #: The caller was answered without it (deadline, memory, gone): the thread is stray.
        self.stray = False

    def finish(self) -> bool:
        """Its thread is done with it (under the lane's lock): must the thread retire?"""
        self.done = True
        return self.long or self.stray


class _Stop(Exception):
    """Ends a caller's wait for its thread: the deadline or the memory limit."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_STOP: Final = object()


class InProcessLane:
    """A few threads running queries on this process's own read-only store.

    :meth:`run` answers, raises the deadline's or memory limit's error, or returns None at
    once when no thread is free (the caller then uses the worker pool). ``on_recycle`` is
    called once when the process must be replaced (default: SIGTERM to itself, for uvicorn's
    supervisor); tests pass their own.
    """

    def __init__(
        self,
        path: str,
        *,
        budget: float,
        threads: int,
        memory_mb: int,
        stack_bytes: int,
        on_recycle: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.budget = budget
        self.size = threads
        self.memory_mb = memory_mb
        self.stack_bytes = stack_bytes
        #: Without a supervisor nothing can replace this process: the lane stays off until
        #: the stray threads end (the workers answer meanwhile).
        self.can_recycle = on_recycle is not None or supervised()
        self.on_recycle = on_recycle or (_terminate_self if self.can_recycle else _stay)
        #: How the process ends when draining is too slow for a memory bomb (tests replace it).
        self.exit_now: Callable[[], None] = _exit_now
        self._store: Any = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads = 0
        #: Threads not running a query; guarded by _lock, as each task's flags.
        self._free = 0
        self._lock = threading.Lock()
        #: Long queries still running (memory watched), stray ones among them.
        self._long: set[_Task] = set()
        self._strays: set[_Task] = set()
        self._watching: asyncio.TimerHandle | None = None
        self._baseline = 0
        self._closed = False
        #: Set once the process was asked to recycle: no more queries in-process.
        self.recycling: str | None = None
        #: Counters (tests, diagnostics): queries answered here, past the budget, stopped.
        self.answered = 0
        self.long_queries = 0
        self.stopped = 0
        self.strays_finished = 0

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        import pyoxigraph as ox  # noqa: PLC0415

        self._store = await asyncio.to_thread(ox.Store.read_only, self.path)
        for _ in range(self.size):
            self._add_thread()

    async def close(self) -> None:
        """Stop the idle threads; a running one is left to the process's exit (daemon)."""
        self._closed = True
        if self._watching is not None:
            self._watching.cancel()
            self._watching = None
        for _ in range(self._threads):
            self._queue.put(_STOP)

    def _add_thread(self) -> None:
        previous = threading.stack_size(self.stack_bytes)
        try:
            # A large stack, as in the worker processes: the native parser recurses.
            thread = threading.Thread(target=self._serve, name="kg-inprocess", daemon=True)
            thread.start()
        finally:
            threading.stack_size(previous)
        self._threads += 1
        with self._lock:
            self._free += 1

    # -- state ------------------------------------------------------------------------------

    @property
    def tainted(self) -> bool:
        """A stray thread exists (or the process is recycling): queries go to the workers."""
        return bool(self._strays) or self.recycling is not None

    @property
    def usable(self) -> bool:
        return not self._closed and not self.tainted and self._store is not None

    # -- one query --------------------------------------------------------------------------

    async def run(self, job: Job, timeout: float) -> Answered | None:
        """``job``'s (reply, body), run in a thread of this process; None at once when no
        thread is free or the process is tainted. QueryTimeout at ``timeout`` seconds,
        QueryMemoryExceeded past the memory limit (the process then recycles)."""
        if not self.usable:
            return None
        with self._lock:
            if self._free <= 0:
                return None
            self._free -= 1
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answered] = loop.create_future()
        task = _Task(job, loop, future)
        self._queue.put(task)
        began = loop.time()
        budget = loop.call_later(self.budget, self._lengthen, task)
        deadline = loop.call_later(max(timeout, 0.0), _stop, future, "deadline")
        try:
            answered = await future
        except _Stop as stop:
            budget.cancel()
            deadline.cancel()
            self.stopped += 1
            if stop.reason == "deadline":
                self._stray(task, f"a query thread ran past its deadline of {timeout:g} s")
                raise QueryTimeout(
                    f"the query ran past its deadline of {timeout:g} s and was stopped "
                    "(setting query_timeout, KG_QUERY_TIMEOUT)",
                    timeout,
                ) from None
            self._stray(task, "")  # the watchdog asked for the recycling already
            raise QueryMemoryExceeded(
                f"the query grew this server process past the memory limit of {self.memory_mb} "
                "MiB per query and was stopped; the process is being replaced (setting "
                "worker_memory_mb, KG_WORKER_MEMORY_MB)"
            ) from None
        except asyncio.CancelledError:
            # The caller went away: the thread finishes on its own (its answer is dropped),
            # unless it outlives the deadline: then it is stray, as if the caller had waited.
            # Its budget timer stays: past it, the query is long (nice 19, memory watched).
            remaining = max(timeout - (loop.time() - began), 0.0)
            reason = f"a query thread ran past its deadline of {timeout:g} s"
            loop.call_later(remaining, self._overdue, task, reason)
            deadline.cancel()
            raise
        budget.cancel()
        deadline.cancel()
        self.answered += 1
        return answered

    def _serve(self) -> None:
        """A lane thread: take a task, run it, hand the answer to the loop."""
        cell = _Cell()
        while True:
            task = self._queue.get()
            if task is _STOP:
                return
            assert isinstance(task, _Task)
            with self._lock:
                task.native_id = threading.get_native_id()
                late = task.long  # its budget ran out before this thread took it
            if late:
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, task.native_id, 19)
            outcome: Callable[[], None]
            try:
                answered = handle(self._store, task.job, cell)
            except BaseException as exc:  # handed to the caller, never lost
                outcome = functools.partial(_fail, task.future, exc)
            else:
                outcome = functools.partial(_resolve, task.future, answered)
            # Free before the caller hears of it: a caller that sends its next query at once
            # finds this thread free (it was sent to a worker when the answer came first).
            with self._lock:
                retire = task.finish()
                if not retire:
                    self._free += 1
            with contextlib.suppress(RuntimeError):  # the loop is closed
                task.loop.call_soon_threadsafe(outcome)
            if retire:
                # Its priority was dropped (an unprivileged thread cannot raise it again):
                # this thread retires; _finished starts a new one.
                with contextlib.suppress(RuntimeError):
                    task.loop.call_soon_threadsafe(self._finished, task)
                return

    # -- long and stray queries, recycling --------------------------------------------------

    def _lengthen(self, task: _Task) -> None:
        """``task`` outlived the budget: lowest CPU priority, memory watched."""
        with self._lock:
            if task.done:
                return
            task.long = True
            native_id = task.native_id
        self.long_queries += 1
        if native_id:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, native_id, 19)
        if not self._long:
            self._baseline = anonymous_memory(os.getpid())
        self._long.add(task)
        self._arm()

    def _overdue(self, task: _Task, reason: str) -> None:
        if not self._closed:
            self._stray(task, reason)

    def _stray(self, task: _Task, reason: str) -> None:
        """The caller was answered without ``task`` (or left): its thread is stray, and the
        process recycles once it is past the deadline (``reason``) or the memory limit."""
        with self._lock:
            if task.done:  # it finished just now: nothing is left running
                return
            task.stray = True
            was_long, task.long = task.long, True
        if not was_long and task.native_id:  # a deadline shorter than the budget
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, task.native_id, 19)
        self._strays.add(task)
        log.info("a query thread is stray: this process is tainted")
        if reason:
            self._recycle(reason)

    def _finished(self, task: _Task) -> None:
        """On the loop: a long or stray thread is done with ``task`` and retired."""
        self._long.discard(task)
        self._threads -= 1
        if task.stray:
            self.strays_finished += 1
            self._strays.discard(task)
        if not self._closed and self.recycling is None:
            self._add_thread()
        if task.stray and not self._strays:
            if self.recycling is not None and not self.can_recycle:
                self.recycling = None  # nothing could replace this process: resume
                while self._threads < self.size:
                    self._add_thread()
            if self.recycling is None:
                log.info("the stray query thread finished: this process is no longer tainted")

    def _arm(self) -> None:
        if self._watching is None and (self._long or self._strays) and not self._closed:
            loop = asyncio.get_running_loop()
            self._watching = loop.call_later(_WATCH_INTERVAL, self._watch)

    def _watch(self) -> None:
        """While a long or stray query runs: past the memory limit, stop the one that grew
        (the longest running: threads share one process) and recycle; past twice the limit
        while draining, exit at once (in-flight requests fail)."""
        self._watching = None
        running = self._long | self._strays
        if not running or self.memory_mb <= 0:
            return
        grown = anonymous_memory(os.getpid()) - self._baseline
        limit = self.memory_mb * 1024 * 1024
        if self.recycling is not None:
            if self.can_recycle and grown > 2 * limit:
                log.error("a query thread grew past twice worker_memory_mb: exiting now")
                self.exit_now()
        elif grown > limit:
            for task in running:
                _stop(task.future, "memory")
            self._recycle(
                f"a query thread grew this process by {grown // (1024 * 1024)} MiB "
                f"(limit {self.memory_mb} MiB, setting worker_memory_mb)"
            )
        self._arm()

    def _recycle(self, reason: str) -> None:
        if self.recycling is not None:
            return
        self.recycling = reason
        if self.can_recycle:
            log.warning("recycling this HTTP process: %s", reason)
        else:
            log.warning(
                "%s; no supervisor can replace this process: queries go to the workers until "
                "the thread ends",
                reason,
            )
        self.on_recycle(reason)
        self._arm()


def _stop(future: asyncio.Future[Answered], reason: str) -> None:
    if not future.done():
        future.set_exception(_Stop(reason))


def _resolve(future: asyncio.Future[Answered], answered: Answered) -> None:
    if not future.done():
        future.set_result(answered)


def _fail(future: asyncio.Future[Answered], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def _exit_now() -> None:
    os._exit(70)


def _stay(reason: str) -> None:
    del reason


def _terminate_self(reason: str) -> None:
    """Ask uvicorn to drain and exit (its SIGTERM handling); the supervisor starts another."""
    del reason
    os.kill(os.getpid(), signal.SIGTERM)
