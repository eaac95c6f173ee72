"""A worker process as the pool sees it: its handle, its state, what /proc says about it,
and what its death means.

The pool (:mod:`kg.store.pool`) owns the lifecycle; this module holds the per-worker record
and the small, stateless readings and judgements it needs.
"""

from __future__ import annotations

import asyncio
import mmap
import os
import signal
import socket
import subprocess
import tempfile
from typing import IO, Final, Protocol

from kg.errors import (
    KgError,
    QueryMemoryExceeded,
    QueryTooComplex,
    WorkerCrashed,
    WorkerKilled,
)
from kg.store.child import IDLE, PARSING
from kg.store.messages import Inbox, Reply

__all__ = [
    "Answered",
    "Gone",
    "Stopped",
    "Worker",
    "WorkerProcess",
    "anonymous_memory",
    "cpu_seconds",
    "crash_error",
    "reap",
    "state_fd",
    "stderr_tail",
]

_PAGE: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICK: Final = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

#: A reply and its body.
Answered = tuple[Reply, bytes]


class WorkerProcess(Protocol):
    """What the pool needs of a worker process (subprocess.Popen or a forked one)."""

    pid: int
    stderr: IO[bytes] | None

    def kill(self) -> None: ...

    def wait(self, timeout: float | None = None) -> int: ...


class Gone(Exception):
    """The worker's socket closed: the process exited."""


class Stopped(Exception):
    """The pool stopped the worker on purpose (``reason``: memory, overloaded)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Worker:
    __slots__ = (
        "baseline",
        "busy",
        "cell",
        "cpu_start",
        "dead",
        "future",
        "generation",
        "heavy",
        "inbox",
        "memory",
        "placed",
        "process",
        "sock",
        "started",
        "stderr",
        "stopped",
    )

    def __init__(self, process: WorkerProcess, sock: socket.socket, cell: mmap.mmap):
        self.process = process
        self.sock = sock
        self.cell = cell
        self.inbox = Inbox()
        self.future: asyncio.Future[Answered] | None = None
        self.dead = False
        self.busy = False
        #: Promoted to the heavy lane (retired when its query ends).
        self.heavy = False
        #: Updates applied (memory mode): a worker behind the pool's update log is retired.
        self.generation = 0
        #: Why the pool stopped it, if it did.
        self.stopped = ""
        #: Peak anonymous memory growth seen by the watchdog (bytes), over ``baseline``: what
        #: the worker held once its store was open.
        self.memory = 0
        self.baseline = 0
        self.stderr = bytearray()
        #: Started and placed in the pool.
        self.placed = False
        #: The worker's CPU seconds when its current job started (for the light budget).
        self.cpu_start = 0.0
        #: When its current job started (loop time).
        self.started = 0.0

    @property
    def where(self) -> int:
        try:
            return self.cell[0]
        except ValueError:  # the map is closed
            return IDLE


def state_fd() -> int:
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("kg-worker-state")
    else:  # pragma: no cover - not Linux
        with tempfile.TemporaryFile() as handle:
            fd = os.dup(handle.fileno())
    os.ftruncate(fd, mmap.PAGESIZE)
    return fd


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used, seconds; 0.0 if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
        # Fields after the command name (which may hold spaces) start after the last ')'.
        fields = stat[stat.rindex(b")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, ValueError, IndexError):
        return 0.0


def anonymous_memory(pid: int) -> int:
    """Resident memory not backed by files (resident - shared pages), bytes; 0 if unknown."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            fields = handle.read().split()
        return (int(fields[1]) - int(fields[2])) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def reap(process: WorkerProcess, grace: float) -> int | None:
    try:
        return process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        try:
            return process.wait(5.0)
        except subprocess.TimeoutExpired:
            return None


def stderr_tail(worker: Worker) -> str:
    return bytes(worker.stderr).decode("utf-8", "replace").strip()[-500:]


def crash_error(worker: Worker, where: int, exitcode: int | None, memory_mb: int) -> KgError:
    """What a worker's death mid-query means, from its exit status and its last words."""
    how = f"signal {-exitcode}" if exitcode is not None and exitcode < 0 else f"exit {exitcode}"
    said = stderr_tail(worker)
    if (
        "memory allocation of" in said
        or "MemoryError" in said
        or (memory_mb and worker.memory > memory_mb * 1024 * 1024 * 3 // 4)
    ):
        return QueryMemoryExceeded(
            f"the query exceeded the memory limit of {memory_mb} MiB per query worker ({how}); "
            "the worker was replaced (setting worker_memory_mb, KG_WORKER_MEMORY_MB)"
        )
    if exitcode in (-signal.SIGKILL, -signal.SIGTERM):
        return WorkerKilled(
            f"the query worker was killed from outside ({how}) while it ran this query "
            "(by an operator or the system's out-of-memory killer); it was replaced: try again"
        )
    if "overflowed its stack" in said or (where == PARSING and exitcode == -signal.SIGSEGV):
        return QueryTooComplex(
            f"the query engine ran out of stack ({how}) on this query: it is nested or chained "
            "too deeply. The worker was replaced."
        )
    return WorkerCrashed(
        f"the query engine crashed ({how}) while running this query; the worker was replaced"
        + (f". Its last words: {said[-200:]}" if said else "")
    )
