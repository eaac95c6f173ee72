"""A pool of killable query worker processes (:mod:`kg.store.child`), with admission control.

pyoxigraph cannot be interrupted from Python: a running query holds its thread in native code.
So every query runs in a worker process; at the deadline the worker is SIGKILLed and replaced
in the background while the other workers keep serving. A native crash costs one worker, never
the server. The server side reads each worker's socket with a permanent ``loop.add_reader`` and
never blocks the event loop; end of file on the socket is how it learns that a worker died.

Admission (see docs/stores.md):

- **Two lanes.** The pool holds ``size + heavy_slots`` workers, all started up front. At most
  ``size`` queries run in the light lane at once (more would only share the same cores among
  more processes with colder caches; the rest wait in the queue, served in order), each on the
  idle worker used last; one still running after ``light_budget`` seconds (wall time)
  is *promoted* to the heavy lane: it keeps its worker, whose CPU priority drops to nice 19 (it
  only gets the CPU other queries leave), and it counts against ``heavy_slots``, so at least
  ``size`` workers always serve short queries. When all slots are taken, the next query to use
  its budget in CPU time is stopped (Overloaded, 503): CPU time, so that a short query slowed
  down by a busy machine is not mistaken for a long one (unless callers are waiting and it has
  held its worker for four budgets: the machine is overloaded, and shedding it is the fair
  choice). When its query ends, a promoted worker goes back to normal priority (with
  CAP_SYS_NICE) or, unprivileged, is retired and replaced (a fork: milliseconds).
- **Bounded waiting.** At most ``queue_limit`` callers wait for a worker, at most
  ``client_limit`` queries per client run or wait; beyond either: TooManyRequests (429). A
  client whose query was stopped (deadline, memory, heavy lane full) waits ``client_penalty``
  seconds before the next is admitted (429 meanwhile): a runaway cannot be resent at once.
- **Memory.** While a worker is busy, a watchdog reads its anonymous memory from
  ``/proc/<pid>/statm`` every ``_WATCH_INTERVAL`` s; ``memory_mb`` over what it held when its
  store was open (an in-memory dataset is not the query's fault), the query is stopped
  (QueryMemoryExceeded) and the worker replaced. RLIMIT_DATA in the child is the backstop.
- **Truthful crashes.** A worker's stderr is read by the pool (and logged); a worker that dies
  mid-query is reported by what happened: killed from outside (WorkerKilled, 503), out of
  memory (QueryMemoryExceeded), stack overflow (QueryTooComplex, 400), else WorkerCrashed (500).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import mmap
import os
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Final

from kg.errors import (
    KgError,
    Overloaded,
    QueryMemoryExceeded,
    QueryTimeout,
    StoreUnavailable,
    TooManyRequests,
)
from kg.store.admission import ClientAdmission
from kg.store.child import IDLE
from kg.store.messages import (
    Done,
    Failure,
    InitJob,
    Job,
    NotReady,
    Ready,
    UpdateJob,
    WorkerConfig,
    decode_reply,
    encode_request,
)
from kg.store.process import (
    Answered,
    Gone,
    Stopped,
    Worker,
    WorkerProcess,
    anonymous_memory,
    cpu_seconds,
    crash_error,
    reap,
    state_fd,
    stderr_tail,
)
from kg.store.zygote import ForkServer

__all__ = ["WorkerPool"]

log = logging.getLogger("kg.store.workers")

_CHILD_CODE: Final = (
    "import sys, json; sys.path[:0] = json.loads(sys.argv[1]); "
    "from kg.store.child import child_main; child_main(int(sys.argv[2]), int(sys.argv[3]))"
)
#: With the heavy lane full and callers waiting, a query holding a worker for this many light
#: budgets (wall time) is stopped even before it used a budget of CPU (the machine is overloaded).
_OVERLOAD_AGE: Final = 4.0
#: A worker start slower than this is logged (replacements should take a fraction of it).
_SLOW_START: Final = 2.0
#: Seconds between two looks at the memory of busy workers.
_WATCH_INTERVAL: Final = 0.05
#: Bytes of a worker's stderr kept to explain its death.
_STDERR_TAIL: Final = 4096


class WorkerPool:
    """``size`` light worker processes; :meth:`request` runs one job under a deadline.

    ``light_budget`` None turns the lanes off (every query stays on its worker until its
    deadline: the read-write store, where only one process may open the store).
    """

    def __init__(
        self,
        config: WorkerConfig,
        size: int,
        *,
        light_budget: float | None = None,
        heavy_slots: int = 4,
        queue_limit: int | None = None,
        client_limit: int | None = None,
        client_penalty: float = 0.0,
        fork_server: bool = True,
        memory_budget_mb: int = 0,
    ) -> None:
        self.config = config
        #: Workers for short queries; with lanes, heavy_slots more (the heavy lane's).
        self.light_size = size
        self.size = size + (heavy_slots if light_budget is not None else 0)
        self.light_budget = light_budget
        #: Start workers by forking a warm zygote (see kg.store.zygote); None: python -c each.
        self._zygote: ForkServer | None = ForkServer() if fork_server else None
        self.heavy_slots = heavy_slots
        self.queue_limit = queue_limit
        #: Idle light workers, and the callers waiting for one (a worker goes straight to one).
        #: Taken last-in first-out: the worker that answered last has its caches warm, and
        #: workers beyond what the load needs stay asleep.
        self._idle: deque[Worker] = deque()
        #: Each waiter with whether it is capped by the light lane (see _light_room).
        self._waiters: deque[tuple[asyncio.Future[Worker], bool]] = deque()
        self._workers: set[Worker] = set()
        self._tasks: set[asyncio.Future[Any]] = set()
        #: Memory (MiB) all running queries together may add to their workers; 0: no budget.
        self.memory_budget_mb = memory_budget_mb
        #: Per-client limits (see kg.store.admission).
        self.admission = ClientAdmission(client_limit, client_penalty)
        self._closed = False
        self._watching: asyncio.TimerHandle | None = None
        #: Updates applied since start (memory mode): replayed by every new worker.
        self.update_log: list[str] = []
        self._update_lock = asyncio.Lock()
        #: How the last worker fared leaving the network ("isolated", "not isolated: …").
        self.network_status = ""
        #: Called after a replacement worker joined the pool (tests, metrics).
        self.on_replaced: Callable[[], None] | None = None
        self.replacements = 0
        #: Queries in the heavy lane now, and promoted so far.
        self.heavy = 0
        self.promotions = 0
        #: Workers being started for the light lane.
        self._starting = 0

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every worker; raises StoreUnavailable if one cannot open the store."""
        if self._zygote is not None:
            try:
                await self._zygote.start()
            except (OSError, TimeoutError) as exc:
                log.warning("no fork server for query workers (%s): python -c each", exc)
                await self._zygote.close()
                self._zygote = None
        # Every worker at start, the heavy lane's too: on a loaded machine even a fork takes
        # seconds to become a ready worker, and a short query must not wait for one (measured:
        # growing the pool on demand let cheap queries time out in the soak).
        spawned = await asyncio.gather(
            *(self._spawn() for _ in range(self.size)), return_exceptions=True
        )
        for item in spawned:
            if isinstance(item, Worker):
                item.placed = True
                self._release(item)
        for item in spawned:
            if isinstance(item, BaseException):
                await self.close()
                raise item

    async def close(self) -> None:
        """Stop every worker (end of file on its socket ends it; stragglers are killed)."""
        self._closed = True
        if self._watching is not None:
            self._watching.cancel()
        # Callers waiting for a worker or for an answer fail now, not at their deadline.
        pending: list[asyncio.Future[Any]] = [waiter for waiter, _ in self._waiters]
        pending += (w.future for w in self._workers if w.future is not None)
        self._waiters.clear()
        for future in pending:
            if not future.done():
                future.set_exception(StoreUnavailable("the store is closed"))
        for task in list(self._tasks):
            task.cancel()
        workers = list(self._workers)
        for worker in workers:
            self._forget(worker)
            worker.future = None
            worker.sock.close()
        await asyncio.gather(*(asyncio.to_thread(reap, w.process, 2.0) for w in workers))
        if self._zygote is not None:
            await self._zygote.close()

    async def _spawn(self) -> Worker:
        loop = asyncio.get_running_loop()
        began = loop.time()
        parent, child = socket.socketpair()
        cell_fd = state_fd()
        process: WorkerProcess
        try:
            cell = mmap.mmap(cell_fd, 1)
            process = await self._start_process(child.fileno(), cell_fd)
        finally:
            child.close()
            os.close(cell_fd)
        parent.setblocking(False)
        worker = Worker(process, parent, cell)
        self._workers.add(worker)
        loop.add_reader(parent.fileno(), self._readable, worker)
        if process.stderr is not None:
            os.set_blocking(process.stderr.fileno(), False)
            loop.add_reader(process.stderr.fileno(), self._read_stderr, worker)
        init = InitJob(self.config, tuple(self.update_log))
        try:
            reply, _ = await self._exchange(worker, init, self.config.start_timeout)
        except (TimeoutError, Gone) as exc:
            self._kill(worker)
            code = await asyncio.to_thread(reap, process, 1.0)
            what = (
                f"did not start within {self.config.start_timeout:.0f} s"
                if isinstance(exc, TimeoutError)
                else "exited while starting"
            )
            said = stderr_tail(worker) or "no error output"
            raise StoreUnavailable(f"a query worker {what} (exit code {code}; {said})") from None
        if not isinstance(reply, Ready):
            self._kill(worker)
            why = reply.error if isinstance(reply, NotReady) else repr(reply)
            raise StoreUnavailable(f"a query worker could not open the store: {why}")
        if reply.network != self.network_status:
            self.network_status = reply.network
            level = logging.INFO if reply.network.startswith("isolated") else logging.WARNING
            log.log(level, "query workers: network %s", reply.network)
        applied = reply.applied
        while applied < len(self.update_log):
            # Updates that were applied while this worker was starting.
            update = UpdateJob(self.update_log[applied])
            answer, _ = await self._exchange(worker, update, self.config.start_timeout)
            if not isinstance(answer, Done):
                self._kill(worker)
                raise StoreUnavailable(f"a new worker could not replay an update: {answer}")
            applied += 1
        worker.baseline = anonymous_memory(process.pid)
        worker.generation = applied
        took = loop.time() - began
        if took > _SLOW_START:
            log.warning("a query worker took %.1f s to start (a busy machine?)", took)
        return worker

    async def _start_process(self, socket_fd: int, state_fd: int) -> WorkerProcess:
        """A new worker process holding ``socket_fd`` and ``state_fd``: forked by the zygote
        when it runs, else ``python -c``."""
        zygote = self._zygote
        if zygote is not None and zygote.alive:
            read_end, write_end = os.pipe()
            try:
                forked = await zygote.spawn((socket_fd, state_fd, write_end))
            except OSError as exc:
                os.close(read_end)
                log.warning("the fork server failed (%s): python -c for new workers", exc)
                self._zygote = None
            else:
                forked.stderr = os.fdopen(read_end, "rb", buffering=0)
                return forked
            finally:
                os.close(write_end)
        command = [sys.executable, "-c", _CHILD_CODE, json.dumps(sys.path)]
        command += [str(socket_fd), str(state_fd)]
        # Started from the loop's own thread: PR_SET_PDEATHSIG fires when the thread that
        # started a child ends, and executor threads may end before the server does.
        return subprocess.Popen(
            command,
            pass_fds=(socket_fd, state_fd),
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def _read_stderr(self, worker: Worker) -> None:
        """A worker's error output: logged, and its tail kept to explain a crash."""
        stream = worker.process.stderr
        if stream is None:
            return
        try:
            data = os.read(stream.fileno(), 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(stream.fileno())
            return
        worker.stderr += data
        del worker.stderr[:-_STDERR_TAIL]
        for line in data.decode("utf-8", "replace").splitlines():
            if line.strip():
                log.warning("query worker %d: %s", worker.process.pid, line[:500])

    def _readable(self, worker: Worker) -> None:
        """The permanent reader: a reply's bytes, or end of file when the worker died."""
        inbox = worker.inbox
        try:
            count = inbox.receive(worker.sock)
            if count == 0:
                self._on_eof(worker)
                return
            while (frame := inbox.take()) is not None:
                tag, header, body = frame
                reply = decode_reply(tag, header), body
                future, worker.future = worker.future, None
                if future is None:
                    raise ValueError("a reply to no request")
                if not future.done():
                    future.set_result(reply)
        except (BlockingIOError, InterruptedError):
            return
        except (ValueError, UnicodeDecodeError) as exc:
            # Not what a worker sends: replace it; the caller sees it as a worker that died.
            log.error("a query worker sent a malformed message (%s); replacing it", exc)
            self._discard(worker)
            self._on_eof(worker)
        except OSError:
            self._on_eof(worker)

    def _on_eof(self, worker: Worker) -> None:
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(worker.sock.fileno())
        future, worker.future = worker.future, None
        if future is not None and not future.done():
            future.set_exception(Gone())
        elif not worker.busy or future is not None:
            # Died while idle, or while its caller was gone or past its deadline: replace it.
            self._discard(worker)

    def _forget(self, worker: Worker) -> None:
        if not worker.dead and worker.heavy:
            self.heavy -= 1
        worker.dead = True
        self._workers.discard(worker)
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            loop.remove_reader(worker.sock.fileno())
        if worker.process.stderr is not None:
            with contextlib.suppress(Exception):
                loop.remove_reader(worker.process.stderr.fileno())

    def _kill(self, worker: Worker) -> None:
        self._forget(worker)
        with contextlib.suppress(OSError):
            worker.process.kill()
        worker.sock.close()
        self._background(asyncio.to_thread(reap, worker.process, 5.0))

    def _discard(self, worker: Worker) -> None:
        """Kill ``worker``; start a replacement if the light lane is short of workers."""
        if worker.dead:
            return
        self._kill(worker)
        self._top_up()
        self._dispatch()  # a busy worker gone leaves room in the light lane

    def _live_count(self) -> int:
        """Live workers (light and heavy), counting those being started."""
        live = sum(1 for w in self._workers if not w.dead and w.placed)
        return live + self._starting

    def _top_up(self) -> None:
        """Start workers until the pool holds ``size`` again (in the background)."""
        while not self._closed and self._live_count() < self.size:
            self._starting += 1
            self._background(self._replace())

    def _place(self, worker: Worker) -> None:
        """A started worker joins the pool (or goes, if the pool closed meanwhile)."""
        worker.placed = True
        if self._closed:
            self._kill(worker)
            return
        self.replacements += 1
        self._release(worker)
        if self.on_replaced is not None:
            self.on_replaced()

    async def _replace(self) -> None:
        """Start one worker for the light lane (``_starting`` was counted by the caller)."""
        delay = 0.1
        try:
            while not self._closed:
                try:
                    worker = await self._spawn()
                except StoreUnavailable as exc:
                    log.error("could not start a query worker (retrying): %s", exc.message)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
                    continue
                self._starting -= 1
                self._place(worker)
                return
        finally:
            if self._starting and self._closed:
                self._starting = 0

    def _background(self, awaitable: Any) -> None:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- lanes and the memory watchdog ------------------------------------------------------

    def _promote(self, worker: Worker, budget: float) -> None:
        """``worker``'s query outlived the light budget (wall time): to the heavy lane.

        With a free heavy slot it moves at once (nice 19: a short query that was only slow
        because the machine is busy finishes a little later, nothing worse). With every slot
        taken, only a query that has really used ``budget`` seconds of CPU is stopped
        (Overloaded); one that has not is looked at again shortly.
        """
        future = worker.future
        if worker.dead or future is None or future.done():
            return
        if self.heavy >= self.heavy_slots:
            loop = asyncio.get_running_loop()
            used = cpu_seconds(worker.process.pid) - worker.cpu_start
            age = loop.time() - worker.started
            # A query that used its CPU budget is a long one; so is one that held its worker
            # for several budgets while others wait for a worker (an overloaded machine).
            if used >= budget or (age >= _OVERLOAD_AGE * budget and self._waiters):
                future.set_exception(Stopped("overloaded"))
                return
            wait = max(min(budget - used, budget), 0.05)
            loop.call_later(wait, self._promote_if_same, worker, future, budget)
            return
        worker.heavy = True
        self.heavy += 1
        self.promotions += 1
        with contextlib.suppress(OSError):
            # Lowest CPU priority: it only gets what the light lane leaves. Irreversible for an
            # unprivileged process, which is why the worker is retired after this query.
            os.setpriority(os.PRIO_PROCESS, worker.process.pid, 19)
        self._dispatch()  # it left the light lane: room there for a waiting caller

    def _promote_if_same(
        self, worker: Worker, future: asyncio.Future[Answered], budget: float
    ) -> None:
        if worker.future is future:
            self._promote(worker, budget)

    def _watch(self) -> None:
        """The memory watchdog's tick (runs while any worker is busy): stops a query past the
        per-worker limit, then, while the queries together are past the pool's budget, the
        one that grew most."""
        self._watching = None
        limit = self.config.memory_mb * 1024 * 1024
        busy = [w for w in self._workers if w.busy and not w.dead]
        running: list[tuple[int, Worker]] = []
        for worker in busy:
            # Growth over what the worker held when it was ready (an in-memory dataset).
            used = anonymous_memory(worker.process.pid) - worker.baseline
            worker.memory = max(worker.memory, used)
            future = worker.future
            if future is None or future.done():
                continue
            if used > limit:
                worker.stopped = "memory"
                future.set_exception(Stopped("memory"))
            else:
                running.append((max(used, 0), worker))
        budget = self.memory_budget_mb * 1024 * 1024
        if budget > 0:
            running.sort(key=lambda item: item[0], reverse=True)
            total = sum(used for used, _ in running)
            for used, worker in running:
                if total <= budget:
                    break
                if worker.future is not None and not worker.future.done():
                    worker.stopped = "memory together"
                    worker.future.set_exception(Stopped("memory together"))
                total -= used
        if busy and not self._closed:
            self._arm_watchdog()

    def _arm_watchdog(self) -> None:
        watching = self.config.memory_mb > 0 or self.memory_budget_mb > 0
        if watching and self._watching is None and not self._closed:
            self._watching = asyncio.get_running_loop().call_later(_WATCH_INTERVAL, self._watch)

    # -- one exchange -----------------------------------------------------------------------

    async def _exchange(
        self, worker: Worker, job: Job, timeout: float, *, budget: float | None = None
    ) -> Answered:
        loop = asyncio.get_running_loop()
        head = encode_request(job)
        future: asyncio.Future[Answered] = loop.create_future()
        worker.future = future
        try:
            sent = worker.sock.send(head)
            if sent < len(head):
                await loop.sock_sendall(worker.sock, head[sent:])
        except OSError:
            worker.future = None
            raise Gone() from None
        timer = loop.call_later(max(timeout, 0.0), _expire, future)
        promote = None
        if budget is not None and budget < timeout:
            worker.cpu_start = cpu_seconds(worker.process.pid)
            worker.started = loop.time()
            promote = loop.call_later(budget, self._promote, worker, budget)
        self._arm_watchdog()
        try:
            return await future
        finally:
            timer.cancel()
            if promote is not None:
                promote.cancel()

    def _light_room(self) -> int:
        """How many more queries may start in the light lane now: at most ``light_size`` run
        there at once (with lanes; a promoted query leaves it). More would only share the
        same cores among more processes, each with colder caches."""
        if self.light_budget is None:
            return len(self._workers)
        running = sum(1 for w in self._workers if w.busy and not w.heavy and not w.dead)
        return self.light_size - running

    def _take_idle(self) -> Worker | None:
        """The most recently used live idle worker, marked busy; None when there is none."""
        while self._idle:
            worker = self._idle.pop()
            if not worker.dead:
                worker.busy = True
                return worker
        return None

    def _dispatch(self) -> None:
        """Hand idle workers to waiting callers in order: a capped caller only while the light
        lane has room, an uncapped one (an update broadcast) whenever a worker is idle."""
        if not self._waiters or not self._idle:
            return
        room = self._light_room()
        for entry in list(self._waiters):
            waiter, capped = entry
            if waiter.done():
                self._waiters.remove(entry)
                continue
            if capped and room <= 0:
                continue
            worker = self._take_idle()
            if worker is None:
                return
            self._waiters.remove(entry)
            waiter.set_result(worker)
            if capped:
                room -= 1

    async def _acquire(self, deadline: float, timeout: float, *, capped: bool = True) -> Worker:
        """An idle worker for one job. ``capped``: only while the light lane has room (an
        update broadcast takes every worker)."""
        while True:
            if self._closed:
                raise StoreUnavailable("the store is closed")
            worker = None
            if not self._waiters and (not capped or self._light_room() > 0):
                worker = self._take_idle()
            if worker is None:
                if self.queue_limit is not None and len(self._waiters) >= self.queue_limit:
                    raise TooManyRequests(
                        f"{len(self._waiters)} queries are already waiting for a worker "
                        "(setting query_queue); try again in a moment",
                        1.0,
                    )
                try:
                    worker = await self._wait_idle(deadline, capped)
                except TimeoutError:
                    live = [w for w in self._workers if not w.dead]
                    starting = sum(1 for w in live if not w.placed)
                    raise QueryTimeout(
                        f"no query worker became free within {timeout:g} s ({len(live)} "
                        f"workers: {self.heavy} in the heavy lane, {starting} starting, "
                        f"{len(self._waiters)} queries waiting; settings query_workers, "
                        "heavy_queries, query_timeout)",
                        timeout,
                    ) from None
            if worker.dead:  # died between the hand-over and now
                continue
            return worker

    async def _wait_idle(self, deadline: float, capped: bool = True) -> Worker:
        """Wait for :meth:`_release` to hand over a worker; TimeoutError at the deadline."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Worker] = loop.create_future()
        entry = (waiter, capped)
        self._waiters.append(entry)
        self._dispatch()  # a worker may be free for this caller already
        timer = loop.call_at(deadline, _expire, waiter)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._release(waiter.result())  # handed over just as the caller went away
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(entry)
            raise
        finally:
            timer.cancel()

    def _release(self, worker: Worker) -> None:
        worker.busy = False
        if worker.dead:
            return
        if worker.generation != len(self.update_log):
            self._discard(worker)  # it missed an update (it ran a long query meanwhile)
            return
        if worker.heavy:
            if self._live_count() > self.size:
                self._kill(worker)  # the pool is over its size: shrink back
                return
            try:
                # Back to normal priority: allowed with CAP_SYS_NICE (root, as in CI).
                os.setpriority(os.PRIO_PROCESS, worker.process.pid, 0)
            except OSError:
                # Unprivileged, a process cannot raise its priority again: retire it.
                self._discard(worker)
                return
            worker.heavy = False
            self.heavy -= 1
        self._idle.append(worker)
        self._dispatch()

    async def request(
        self,
        job: Job,
        timeout: float,
        *,
        client: str | None = None,
        first: Callable[[Job, float], Awaitable[Answered | None]] | None = None,
    ) -> Answered:
        """Run ``job`` on one idle worker and return its (reply, body).

        ``first`` (the in-process lane, :mod:`kg.store.inprocess`) may answer it before, under
        the same admission; when it returns None the job goes to a worker with the rest of the
        deadline. Raises TooManyRequests (admission), QueryTimeout (the worker was killed at
        the deadline and is being replaced), Overloaded, QueryMemoryExceeded, WorkerKilled,
        WorkerCrashed, QueryTooComplex (a crash from deep nesting), StoreUnavailable.
        """
        if client is None:
            return await self._first_then_worker(job, timeout, first)
        self.admission.enter(client)
        error: KgError | None = None
        try:
            return await self._first_then_worker(job, timeout, first)
        except KgError as exc:
            error = exc
            raise
        finally:
            self.admission.leave(client, error)

    async def _first_then_worker(
        self,
        job: Job,
        timeout: float,
        first: Callable[[Job, float], Awaitable[Answered | None]] | None,
    ) -> Answered:
        if first is not None:
            loop = asyncio.get_running_loop()
            began = loop.time()
            answered = await first(job, timeout)
            if answered is not None:
                return answered
            remaining = max(timeout - (loop.time() - began), 0.001)
            return await self._request_now(job, remaining, stated=timeout)
        return await self._request_now(job, timeout)

    async def _request_now(
        self, job: Job, timeout: float, *, stated: float | None = None
    ) -> Answered:
        if self._update_lock.locked():
            async with self._update_lock:
                pass  # no query sees half of a broadcast update
        return await self._request(job, timeout, retry=True, stated=stated)

    async def _request(
        self, job: Job, timeout: float, *, retry: bool, stated: float | None = None
    ) -> Answered:
        """``stated``: the deadline the caller set, when ``timeout`` is what is left of it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        shown = stated if stated is not None else timeout
        worker = await self._acquire(deadline, shown)
        try:
            reply = await self._exchange(
                worker, job, deadline - loop.time(), budget=self.light_budget
            )
        except TimeoutError:
            self._discard(worker)
            raise QueryTimeout(
                f"the query ran past its deadline of {shown:g} s and was stopped "
                "(setting query_timeout, KG_QUERY_TIMEOUT)",
                shown,
            ) from None
        except Stopped as stop:
            self._discard(worker)
            raise self._stop_error(stop.reason, worker) from None
        except Gone:
            where = worker.where
            self._discard(worker)
            if where == IDLE and retry:
                # It died before it started on this request (killed from outside): try again.
                remaining = max(deadline - loop.time(), 0.001)
                return await self._request(job, remaining, retry=False, stated=shown)
            code = await asyncio.to_thread(reap, worker.process, 1.0)
            self._read_stderr(worker)
            raise crash_error(worker, where, code, self.config.memory_mb) from None
        except asyncio.CancelledError:
            self._settle(worker, deadline - loop.time())
            raise
        self._release(worker)
        return reply

    def _stop_error(self, reason: str, worker: Worker) -> KgError:
        if reason == "memory together":
            return QueryMemoryExceeded(
                f"the queries running together exceeded the memory budget of "
                f"{self.memory_budget_mb} MiB of this server process; this one had grown most "
                f"({worker.memory // (1024 * 1024)} MiB) and was stopped; the worker was "
                "replaced (setting query_memory_budget_mb, KG_QUERY_MEMORY_BUDGET_MB)"
            )
        if reason == "memory":
            return QueryMemoryExceeded(
                f"the query exceeded the memory limit of {self.config.memory_mb} MiB per "
                f"query worker (it held {worker.memory // (1024 * 1024)} MiB) and was stopped; "
                "the worker was replaced (setting worker_memory_mb, KG_WORKER_MEMORY_MB)"
            )
        return Overloaded(
            f"the query ran longer than {self.light_budget:g} s while all {self.heavy_slots} "
            "slots for long-running queries were taken, so it was stopped; try again later "
            "(settings light_budget, heavy_queries)"
        )

    def _settle(self, worker: Worker, remaining: float) -> None:
        """The caller went away: free ``worker`` now if it has answered, else once it has.

        Runs in the caller's cancellation, before any other callback: a reply that the reader
        saw meanwhile was dropped (its future was cancelled) and ``worker.future`` cleared.
        """
        if worker.dead:
            return
        if worker.future is None:
            self._release(worker)
            return
        future: asyncio.Future[Answered] = asyncio.get_running_loop().create_future()
        worker.future = future
        self._background(self._drain(worker, future, remaining))

    async def _drain(
        self, worker: Worker, future: asyncio.Future[Answered], remaining: float
    ) -> None:
        timer = asyncio.get_running_loop().call_later(max(remaining, 0.0), _expire, future)
        try:
            await future
        except (TimeoutError, Gone, Stopped, StoreUnavailable):
            self._discard(worker)
            return
        finally:
            timer.cancel()
        self._release(worker)

    async def broadcast(self, job: UpdateJob, timeout: float) -> Answered:
        """Apply an update to every worker (memory mode) with no query in between.

        The first worker's answer decides: an error there is the caller's, and no worker has
        changed. A later worker that fails is replaced (a new worker replays the log).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._update_lock:
            taken: list[Worker] = []
            try:
                while len(taken) < self.size:
                    taken.append(await self._acquire(deadline, timeout, capped=False))
                first, rest = taken[0], taken[1:]
                try:
                    reply = await self._exchange(first, job, deadline - loop.time())
                except TimeoutError:
                    taken.remove(first)
                    self._discard(first)
                    raise QueryTimeout(
                        f"the update ran past its deadline of {timeout:g} s and was stopped",
                        timeout,
                    ) from None
                except (Gone, Stopped):
                    where = first.where
                    taken.remove(first)
                    self._discard(first)
                    raise crash_error(first, where, None, self.config.memory_mb) from None
                if isinstance(reply[0], Failure):
                    return reply
                self.update_log.append(job.update)
                first.generation = len(self.update_log)
                results = await asyncio.gather(
                    *(self._exchange(w, job, max(deadline - loop.time(), 1.0)) for w in rest),
                    return_exceptions=True,
                )
                for worker, result in zip(rest, results, strict=True):
                    if isinstance(result, BaseException) or not isinstance(result[0], Done):
                        taken.remove(worker)
                        self._discard(worker)
                    else:
                        worker.generation = len(self.update_log)
                return reply
            finally:
                for worker in taken:
                    self._settle(worker, deadline - loop.time())

    # -- for tests and diagnostics ----------------------------------------------------------

    def pids(self) -> list[int]:
        """Process ids of the live workers."""
        return sorted(w.process.pid for w in self._workers if not w.dead)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until ``size`` live workers are idle (after replacements)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self._idle_light()) < self.size:
            if loop.time() > deadline:
                raise StoreUnavailable("the worker pool did not recover in time")
            await asyncio.sleep(0.02)

    def _idle_light(self) -> list[Worker]:
        return [w for w in self._idle if not w.dead and not w.busy]


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())
