"""The in-process lane: short read-only queries answered by the HTTP process itself.

Every query to a worker process costs a round trip (~0.3-0.4 ms of CPU, as much as a one-hop
query itself; see bench/README.md). So an HTTP process serving an on-disk, read-only store
opens that store too (``pyoxigraph.Store.read_only``) and runs each uncached query first in one
of a few threads of its own, with a short budget (``inprocess_budget``). pyoxigraph releases the
GIL while it evaluates, so the event loop keeps serving meanwhile.

A thread cannot be killed. A query still running at the end of the budget is therefore sent,
with the rest of its deadline, to the killable worker pool (:mod:`kg.store.pool`), which answers
it, stops it at its deadline (503) or sheds it (429, 503 overloaded) exactly as without this
lane. The thread it leaves behind is *stray*: its CPU priority drops to nice 19 and the process
is *tainted*: no more queries run in-process while a stray thread exists. Then:

- the stray thread finishes on its own (a query that was merely slow): its answer is dropped,
  the thread retires, and the process is no longer tainted;
- it outlives the query's deadline, or the process's anonymous memory grows by more than
  ``worker_memory_mb`` while it runs (checked every 50 ms): the process *recycles*. Under
  uvicorn's multi-process supervisor (``kg serve`` with ``serve_workers`` >= 2) it sends itself
  SIGTERM: uvicorn stops accepting, finishes in-flight requests, closes keep-alive connections
  after their current response and exits; the supervisor starts a fresh process while the
  sibling serves. Without a supervisor (one process) nothing can replace the process, so the
  lane is off there (see :func:`supervised`).

Trade-offs (docs/stores.md): a memory bomb in a thread has no RLIMIT_DATA; within the budget
it can grow unchecked, after it the watchdog recycles the process as soon as it passes the
limit. A native crash in the engine (which the worker pool would turn into one dead worker)
takes the HTTP process down; its supervisor restarts it, its in-flight requests fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable
from typing import Any, Final

from kg.store.child import handle
from kg.store.messages import Job
from kg.store.process import Answered, anonymous_memory

__all__ = ["InProcessLane", "supervised"]

log = logging.getLogger("kg.store.inprocess")

#: Seconds between two looks at the process's memory while a stray thread exists.
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

    __slots__ = ("deadline", "done", "future", "job", "loop", "native_id", "stray")

    def __init__(
        self, job: Job, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Answered]
    ) -> None:
        self.job = job
        self.loop = loop
        self.future = future
        self.native_id = 0
        #: Set under the lane's lock: the thread is done with it / it outlived the budget.
        self.done = False
        self.stray = False
        #: Loop time past which a stray task recycles the process.
        self.deadline = 0.0

    def finish(self) -> bool:
        """Its thread is done with it (under the lane's lock): was it stray meanwhile?"""
        self.done = True
        return self.stray


_STOP: Final = object()


class InProcessLane:
    """A few threads running queries on this process's own read-only store.

    :meth:`run` answers within the budget or returns None (the caller then uses the worker
    pool). ``on_recycle`` is called once when the process must be replaced (default: SIGTERM
    to itself, for uvicorn's supervisor); tests pass their own.
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
        self._threads: set[threading.Thread] = set()
        #: Guards each task's started/done/stray flags between the loop and the threads.
        self._lock = threading.Lock()
        self._strays: set[_Task] = set()
        self._watching: asyncio.TimerHandle | None = None
        self._baseline = 0
        #: Stray threads that retired with no replacement (the process was recycling).
        self._retired = 0
        self._closed = False
        #: Set once the process was asked to recycle: no more queries in-process.
        self.recycling: str | None = None
        #: Counters (tests, diagnostics).
        self.answered = 0
        self.escalated = 0
        self.strays_finished = 0

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        import pyoxigraph as ox  # noqa: PLC0415

        self._store = await asyncio.to_thread(ox.Store.read_only, self.path)
        for _ in range(self.size):
            self._add_thread()

    async def close(self) -> None:
        """Stop the idle threads; a stray thread is left to the process's exit (daemon)."""
        self._closed = True
        if self._watching is not None:
            self._watching.cancel()
            self._watching = None
        for _ in range(len(self._threads)):
            self._queue.put(_STOP)

    def _add_threads(self) -> None:
        """Replace the threads that retired while the process was recycling."""
        while self._retired > 0 and not self._closed:
            self._retired -= 1
            self._add_thread()

    def _add_thread(self) -> None:
        previous = threading.stack_size(self.stack_bytes)
        try:
            # A large stack, as in the worker processes: the native parser recurses.
            thread = threading.Thread(target=self._serve, name="kg-inprocess", daemon=True)
            thread.start()
        finally:
            threading.stack_size(previous)
        self._threads.add(thread)

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
        """``job``'s (reply, body) if a thread answers it within the budget, else None.

        None at once when the process is tainted. The budget counts from now: a query still
        waiting for a thread at its end goes to the workers and taints nothing. ``timeout`` is
        the query's whole deadline: a stray thread past it recycles the process.
        """
        if not self.usable:
            return None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answered] = loop.create_future()
        task = _Task(job, loop, future)
        self._queue.put(task)
        began = loop.time()
        timer = loop.call_later(self.budget, _over_budget, future)
        try:
            answered = await future
        except _OverBudget:
            self._stray(task, began + timeout)
            return None
        except asyncio.CancelledError:
            # The caller went away: the thread finishes on its own (its answer is dropped).
            self._stray(task, began + timeout)
            raise
        finally:
            timer.cancel()
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
                if task.stray:  # its budget ran out while it waited: the workers have it
                    task.done = True
                    continue
                task.native_id = threading.get_native_id()
            try:
                answered = handle(self._store, task.job, cell)
            except BaseException as exc:  # handed to the caller, never lost
                with contextlib.suppress(RuntimeError):
                    task.loop.call_soon_threadsafe(_fail, task.future, exc)
            else:
                with contextlib.suppress(RuntimeError):  # the loop is closed
                    task.loop.call_soon_threadsafe(_resolve, task.future, answered)
            with self._lock:
                stray = task.finish()
            if stray:
                # Its priority was dropped (an unprivileged thread cannot raise it again):
                # this thread retires; _finished starts a new one.
                with contextlib.suppress(RuntimeError):
                    task.loop.call_soon_threadsafe(self._finished, task)
                return

    # -- stray threads and recycling --------------------------------------------------------

    def _stray(self, task: _Task, deadline: float) -> None:
        """``task`` outlived the budget: mark it stray, drop its thread's priority, watch."""
        self.escalated += 1
        with self._lock:
            if task.done:  # it finished just now: nothing is left running
                return
            task.stray = True
            if not task.native_id:
                return  # no thread took it: none will (see _serve)
        task.deadline = deadline
        self._strays.add(task)
        if task.native_id:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, task.native_id, 19)
        if len(self._strays) == 1:
            self._baseline = anonymous_memory(os.getpid())
            log.info("a query outlived the in-process budget: this process is tainted")
        self._arm()

    def _finished(self, task: _Task) -> None:
        """On the loop: a stray thread is done with ``task`` and retired."""
        self.strays_finished += 1
        self._strays.discard(task)
        if not self._closed and self.recycling is None:
            self._add_thread()
        else:
            self._retired += 1
        if not self._strays:
            if self.recycling is not None and not self.can_recycle:
                self.recycling = None  # nothing could replace this process: resume
                self._add_threads()
            if self.recycling is None:
                log.info("the stray query thread finished: this process is no longer tainted")

    def _arm(self) -> None:
        if self._watching is None and self._strays and not self._closed:
            loop = asyncio.get_running_loop()
            self._watching = loop.call_later(_WATCH_INTERVAL, self._watch)

    def _watch(self) -> None:
        """While a stray thread exists: recycle past its deadline or the memory limit; past
        twice the limit while draining, exit at once (in-flight requests fail)."""
        self._watching = None
        if not self._strays:
            return
        if self.recycling is not None:
            if self.can_recycle and self.memory_mb > 0:
                grown = anonymous_memory(os.getpid()) - self._baseline
                if grown > 2 * self.memory_mb * 1024 * 1024:
                    log.error("a query thread grew past twice worker_memory_mb: exiting now")
                    self.exit_now()
            self._arm()
            return
        # A task whose thread has not even picked it up yet still counts (its thread is busy
        # with nothing else): the deadline rules alike.
        now = asyncio.get_running_loop().time()
        if any(now >= task.deadline for task in self._strays):
            self._recycle("a query thread outlived its deadline")
            return
        if self.memory_mb > 0:
            grown = anonymous_memory(os.getpid()) - self._baseline
            if grown > self.memory_mb * 1024 * 1024:
                self._recycle(
                    f"a query thread grew this process by {grown // (1024 * 1024)} MiB "
                    f"(limit {self.memory_mb} MiB, setting worker_memory_mb)"
                )
                return
        self._arm()

    def _recycle(self, reason: str) -> None:
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


class _OverBudget(Exception):
    """The in-process budget ran out before the thread answered."""


def _over_budget(future: asyncio.Future[Answered]) -> None:
    if not future.done():
        future.set_exception(_OverBudget())


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
