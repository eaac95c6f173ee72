"""A fork server for query workers: new workers start warm, in milliseconds.

Starting a worker as ``python -c`` costs about 0.1 s of CPU (interpreter, imports, engine);
on a loaded machine that is seconds of wall time, and every query stopped at its deadline needs
a new worker. So the pool starts one *zygote* process (itself ``python -c``, single-threaded),
which imports everything a worker needs and then forks a worker whenever the pool asks. The
worker's end of its socket, its state cell and the write end of its stderr pipe travel over a
Unix SEQPACKET socket (SCM_RIGHTS); the zygote answers with the new pid, reports each worker's
exit status when it reaps it, and kills a worker on request (only one it has not reaped yet, so
a recycled pid is never hit). Workers die with the zygote (PR_SET_PDEATHSIG), the zygote with
the server; closing the control socket makes the zygote kill its workers and exit.

If the zygote cannot start or dies, the pool falls back to ``python -c`` per worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
from typing import IO, Final

__all__ = ["ForkServer", "ForkedProcess", "zygote_main"]

_PID: Final = struct.Struct("!i")
_EXIT: Final = struct.Struct("!ii")
_CODE: Final = (
    "import sys, json; sys.path[:0] = json.loads(sys.argv[1]); "
    "from kg.store.zygote import zygote_main; zygote_main(int(sys.argv[2]))"
)


# -- the zygote process -----------------------------------------------------------------------


def zygote_main(control_fd: int) -> None:
    """Entry point of the zygote (single-threaded: forking it is safe)."""
    from kg.store import child  # noqa: PLC0415 - preloaded once for every fork

    child.preload()
    control = socket.socket(fileno=control_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children: set[int] = set()
    try:
        while True:
            readable, _, _ = select.select([control.fileno(), wake_r], [], [])
            if wake_r in readable:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_r, 512):
                        pass
            _reap(children, control)
            if control.fileno() in readable and not _serve_one(control, children, (wake_r, wake_w)):
                break
    finally:
        for pid in children:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _serve_one(control: socket.socket, children: set[int], own: tuple[int, int]) -> bool:
    """One request from the server; False when the server is gone."""
    try:
        data, fds, _, _ = socket.recv_fds(control, 64, 3)
    except OSError:
        return False
    if not data:
        return False
    if data[:1] == b"S" and len(fds) == 3:
        pid = os.fork()
        if pid == 0:  # the new worker
            _become_worker(control, fds, own)
        for fd in fds:
            os.close(fd)
        children.add(pid)
        control.send(b"P" + _PID.pack(pid))
        return True
    for fd in fds:
        os.close(fd)
    if data[:1] == b"K" and len(data) == 1 + _PID.size:
        (pid,) = _PID.unpack_from(data, 1)
        if pid in children:  # not reaped yet: the pid is still this worker's
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    return True


def _become_worker(control: socket.socket, fds: list[int], own: tuple[int, int]) -> None:
    from kg.store.child import child_main  # noqa: PLC0415 - imported by preload already

    code = 0
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        control.close()
        for fd in own:
            os.close(fd)
        os.dup2(fds[2], 2)
        os.close(fds[2])
        child_main(fds[0], fds[1])
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _reap(children: set[int], control: socket.socket) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        with contextlib.suppress(OSError):
            control.send(b"X" + _EXIT.pack(pid, os.waitstatus_to_exitcode(status)))


# -- the server side --------------------------------------------------------------------------


class ForkedProcess:
    """A worker forked by the zygote, with the part of ``subprocess.Popen`` the pool uses."""

    def __init__(self, server: ForkServer, pid: int) -> None:
        self.server = server
        self.pid = pid
        self.returncode: int | None = None
        self.stderr: IO[bytes] | None = None
        self._exited = threading.Event()

    def exited(self, code: int) -> None:
        self.returncode = code
        self._exited.set()

    def kill(self) -> None:
        if self.returncode is None:
            self.server.kill(self.pid)

    def wait(self, timeout: float | None = None) -> int:
        if not self._exited.wait(timeout):
            raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0.0)
        assert self.returncode is not None
        return self.returncode


class ForkServer:
    """The pool's end of the zygote."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self._pending: list[asyncio.Future[ForkedProcess]] = []
        self._children: dict[int, ForkedProcess] = {}
        self.alive = False

    async def start(self, timeout: float = 60.0) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            command = [sys.executable, "-c", _CODE, json.dumps(sys.path), str(theirs.fileno())]
            self.process = subprocess.Popen(
                command, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL
            )
        finally:
            theirs.close()
        ours.setblocking(False)
        self.sock = ours
        self.alive = True
        asyncio.get_running_loop().add_reader(ours.fileno(), self._readable)
        # A first worker proves the zygote works (and warms it); it is killed at once.
        probe = await asyncio.wait_for(self._probe(), timeout)
        probe.kill()
        await asyncio.to_thread(probe.wait, 10.0)

    async def _probe(self) -> ForkedProcess:
        # The probe gets a socket that is closed at once: it exits on end of file.
        a, b = socket.socketpair()
        r, w = os.pipe()
        state = os.memfd_create("kg-probe") if hasattr(os, "memfd_create") else os.dup(r)
        os.ftruncate(state, 4096)
        try:
            return await self.spawn((b.fileno(), state, w))
        finally:
            for fd in (state, r, w):
                os.close(fd)
            a.close()
            b.close()

    async def spawn(self, fds: tuple[int, int, int]) -> ForkedProcess:
        """Fork a worker that gets ``fds`` (its socket, its state cell, its stderr)."""
        if not self.alive or self.sock is None:
            raise OSError("the fork server is not running")
        future: asyncio.Future[ForkedProcess] = asyncio.get_running_loop().create_future()
        self._pending.append(future)
        try:
            socket.send_fds(self.sock, [b"S"], list(fds))
        except OSError:
            self._pending.remove(future)
            raise
        return await future

    def kill(self, pid: int) -> None:
        """Ask the zygote to SIGKILL ``pid`` (any thread)."""
        sock = self.sock
        if sock is not None and self.alive:
            with contextlib.suppress(OSError):
                sock.send(b"K" + _PID.pack(pid))

    def _readable(self) -> None:
        sock = self.sock
        if sock is None:
            return
        while True:
            try:
                data = sock.recv(64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self._gone()
                return
            if data[:1] == b"P" and len(data) == 1 + _PID.size and self._pending:
                (pid,) = _PID.unpack_from(data, 1)
                process = ForkedProcess(self, pid)
                self._children[pid] = process
                future = self._pending.pop(0)
                if not future.done():
                    future.set_result(process)
                else:  # the caller went away: nobody will use this worker
                    process.kill()
            elif data[:1] == b"X" and len(data) == 1 + _EXIT.size:
                pid, code = _EXIT.unpack_from(data, 1)
                found = self._children.pop(pid, None)
                if found is not None:
                    found.exited(code)

    def _gone(self) -> None:
        """The zygote died (or was closed): its workers died with it."""
        self.alive = False
        with contextlib.suppress(Exception):
            if self.sock is not None:
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
        for future in self._pending:
            if not future.done():
                future.set_exception(OSError("the fork server exited"))
        self._pending.clear()
        for process in self._children.values():
            process.exited(-signal.SIGKILL)
        self._children.clear()

    async def close(self) -> None:
        self._gone()
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.process is not None:
            process = self.process
            try:
                await asyncio.to_thread(process.wait, 5.0)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait, 5.0)
