"""A pool of killable query worker processes, each holding one pyoxigraph store.

pyoxigraph cannot be interrupted from Python: a running query holds its thread in native code.
So every query runs in a worker process; at the deadline the worker is SIGKILLed and replaced
in the background while the other workers keep serving. A native crash (a stack overflow on a
hostile query) costs one worker, never the server.

Workers are plain ``python -c`` subprocesses (no fork of a threaded asyncio server, no
re-import of the server's ``__main__``), each connected by a Unix socket pair. Framing: a
13-byte prefix (header encoding, header length, body length), the header, then the body bytes:
the result already serialised, so nothing big is pickled. Requests (server to worker) are
marshalled; replies are a fixed struct for a query answer, JSON otherwise (never unmarshalled:
a worker that a hostile query corrupted cannot feed the server anything it trusts). Each side
reads with ``recv_into`` into one reused buffer, so a message costs no allocation but the body's
single copy. The server side reads with a permanent ``loop.add_reader`` on a non-blocking
socket and never blocks the event loop; end of file on the socket is how it learns that a
worker died, busy or idle.

A one-byte shared-memory cell per worker says whether it was parsing or evaluating, so a crash
can be reported as a query problem (crashed while parsing) or an engine failure.

Before opening its store a worker tries to leave the network (``unshare(CLONE_NEWNET)``,
through a user namespace when unprivileged) unless SERVICE is allowed, and runs its loop in a
thread with a large stack so the native parser has room to spare.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import marshal
import mmap
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

from kg.errors import QuerySyntaxError, QueryTimeout, StoreError, StoreUnavailable
from kg.store.isolation import drop_network

__all__ = ["WorkerConfig", "WorkerCrashed", "WorkerPool"]

#: pyoxigraph's messages for a query it parses but cannot evaluate.
_UNSUPPORTED: Final = re.compile(r"is not supported")

log = logging.getLogger(__name__)

#: What a worker is doing (its shared-memory cell), so the server knows where it died.
_IDLE: Final = 0
_PARSING: Final = 1
_RUNNING: Final = 2

_PR_SET_PDEATHSIG: Final = 1

#: Every frame starts with: how its header is encoded, the header's length, the body's length.
_PREFIX: Final = struct.Struct("!BIQ")
#: Header encodings: a request (server to worker, trusted) is marshalled; a reply is JSON, or
#: for a query answer ``_ANSWER_HEAD`` followed by ``kind`` and the media type in UTF-8.
_MARSHAL: Final = 1
_JSON: Final = 2
_ANSWER: Final = 3
#: A query answer's header: rows (-1 when unknown), truncated; then b"<kind>\n<media type>".
_ANSWER_HEAD: Final = struct.Struct("!qB")
#: Size of a receive buffer; it grows for a bigger message and shrinks back after it.
_INBOX_BYTES: Final = 64 * 1024
#: A frame announced as larger than this comes from a broken worker.
_MAX_FRAME: Final = 1 << 32

WorkerMode = Literal["read-only", "read-write", "memory"]


@dataclass(frozen=True)
class WorkerConfig:
    """How each worker opens its store. Sent to the worker as JSON."""

    mode: WorkerMode
    #: The on-disk store folder (read-only / read-write modes).
    path: str | None = None
    #: The N-Quads/TriG file loaded into memory (memory mode).
    dataset_file: str | None = None
    #: Leave the network namespace (defence in depth when SERVICE is disabled).
    isolate_network: bool = True
    #: Stack of the thread that runs queries; deep recursion in the parser needs room.
    stack_bytes: int = 256 * 1024 * 1024
    #: Seconds a worker may take to open its store.
    start_timeout: float = 300.0


class WorkerCrashed(StoreError):
    """A worker process died while answering; it has been replaced."""

    code = "worker_crashed"


class _Gone(Exception):
    """The worker's socket closed: the process exited."""


def _request_frame(message: dict[str, Any]) -> bytes:
    header = marshal.dumps(message)
    return _PREFIX.pack(_MARSHAL, len(header), 0) + header


def _reply_head(header: dict[str, Any], body_size: int) -> bytes:
    """A reply's prefix and header: the fixed struct for a query answer, else JSON."""
    if header.get("ok") and "kind" in header:
        rows = header["rows"]
        encoded = _ANSWER_HEAD.pack(-1 if rows is None else rows, bool(header["truncated"]))
        encoded += f"{header['kind']}\n{header['media_type']}".encode()
        return _PREFIX.pack(_ANSWER, len(encoded), body_size) + encoded
    # ASCII escapes: a lone surrogate in an error message cannot break the encoding.
    encoded = json.dumps(header).encode("ascii")
    return _PREFIX.pack(_JSON, len(encoded), body_size) + encoded


def _decode_reply(tag: int, header: bytes) -> dict[str, Any]:
    """A reply's header as a dict; ValueError when it is not one a worker sends."""
    if tag == _ANSWER:
        try:
            rows, truncated = _ANSWER_HEAD.unpack_from(header)
        except struct.error as exc:
            raise ValueError(str(exc)) from None
        kind, _, media_type = header[_ANSWER_HEAD.size :].decode().partition("\n")
        return {
            "ok": True,
            "media_type": media_type,
            "kind": kind,
            "rows": None if rows < 0 else rows,
            "truncated": bool(truncated),
        }
    if tag == _JSON:
        decoded = json.loads(header)
        if isinstance(decoded, dict):
            return decoded
    raise ValueError(f"not a reply header (encoding {tag})")


class _Inbox:
    """Frames received with ``recv_into`` into one reused buffer (no allocation per message)."""

    __slots__ = ("buffer", "filled", "view")

    def __init__(self) -> None:
        self.buffer = bytearray(_INBOX_BYTES)
        self.view = memoryview(self.buffer)
        self.filled = 0

    def receive(self, sock: socket.socket) -> int:
        """One ``recv_into``: the bytes read, 0 at end of file; ValueError for a huge frame.

        A non-blocking socket with nothing to read raises BlockingIOError as ``recv`` does.
        """
        end = self._frame_end()
        if end > len(self.buffer) or self.filled == len(self.buffer):
            self._resize(max(end, 2 * len(self.buffer)))  # room for the whole frame at once
        count = sock.recv_into(self.view[self.filled :])
        self.filled += count
        return count

    def take(self) -> tuple[int, bytes, bytes] | None:
        """The next complete frame as (header encoding, header, body), else None."""
        end = self._frame_end()
        if end == 0 or self.filled < end:
            return None
        tag, header_size, _ = _PREFIX.unpack_from(self.buffer)
        start = _PREFIX.size + header_size
        header = bytes(self.view[_PREFIX.size : start])
        body = bytes(self.view[start:end])
        rest = self.filled - end
        if rest:  # never in request-reply order; kept for the next take()
            self.view[:rest] = bytes(self.view[end : self.filled])
        self.filled = rest
        if len(self.buffer) > _INBOX_BYTES and rest <= _INBOX_BYTES:
            self._resize(_INBOX_BYTES)
        return tag, header, body

    def _frame_end(self) -> int:
        """Where the frame being received ends (0 until its prefix is in)."""
        if self.filled < _PREFIX.size:
            return 0
        _, header_size, body_size = _PREFIX.unpack_from(self.buffer)
        end: int = _PREFIX.size + header_size + body_size
        if end > _MAX_FRAME:
            raise ValueError(f"a frame of {end} bytes")
        return end

    def _resize(self, size: int) -> None:
        buffer = bytearray(size)
        buffer[: self.filled] = self.view[: self.filled]
        self.view.release()
        self.buffer, self.view = buffer, memoryview(buffer)


# --------------------------------------------------------------------------------------------
# The worker side (runs in the child process).
# --------------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0)


def _recv_message(sock: socket.socket, inbox: _Inbox) -> dict[str, Any]:
    """The next request from the server (blocking); EOFError when the server is gone."""
    while (frame := inbox.take()) is None:
        if inbox.receive(sock) == 0:
            raise EOFError
    tag, header, _ = frame  # requests carry no body
    # Only the server writes to this socket (marshal would trust anything).
    message = marshal.loads(header) if tag == _MARSHAL else None  # noqa: S302
    if not isinstance(message, dict):
        raise EOFError  # not a request: the socket is not the server's
    return message


def _send_message(sock: socket.socket, header: dict[str, Any], data: bytes = b"") -> None:
    head = _reply_head(header, len(data))
    sent = sock.sendmsg([head, data]) if data else sock.send(head)
    total = len(head) + len(data)
    if sent < total:
        rest = (head + data)[sent:] if sent < len(head) else memoryview(data)[sent - len(head) :]
        sock.sendall(rest)


def child_main(socket_fd: int, state_fd: int) -> None:
    """Entry point of a worker process (called by the ``python -c`` command line)."""
    _die_with_parent()
    sock = socket.socket(fileno=socket_fd)
    state = mmap.mmap(state_fd, 1)
    inbox = _Inbox()
    init = _recv_message(sock, inbox)
    config = WorkerConfig(**init["config"])
    network = drop_network().detail if config.isolate_network else "not isolated: SERVICE allowed"
    threading.stack_size(config.stack_bytes)
    thread = threading.Thread(
        target=_serve,
        args=(sock, inbox, state, config),
        kwargs={"updates": init["updates"], "network": network},
        name="kg-query",
    )
    thread.start()
    thread.join()


def _open_store(config: WorkerConfig) -> Any:
    import pyoxigraph as ox  # noqa: PLC0415 - only workers load the engine

    if config.mode == "memory":
        store = ox.Store()
        if config.dataset_file is not None:
            store.bulk_load(path=config.dataset_file)
        return store
    if config.path is None:
        raise OSError("no store path configured")
    if config.mode == "read-only":
        return ox.Store.read_only(config.path)
    return ox.Store(config.path)


class _State:
    """The shared-memory cell, as an attribute."""

    __slots__ = ("cell",)

    def __init__(self, cell: mmap.mmap) -> None:
        self.cell = cell

    @property
    def value(self) -> int:
        return self.cell[0]

    @value.setter
    def value(self, value: int) -> None:
        self.cell[0] = value


def _serve(
    sock: socket.socket,
    inbox: _Inbox,
    cell: mmap.mmap,
    config: WorkerConfig,
    *,
    updates: Sequence[str],
    network: str,
) -> None:
    state = _State(cell)
    try:
        store = _open_store(config)
        for update in updates:
            store.update(update)
    except Exception as exc:
        _send_message(sock, {"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return
    _send_message(sock, {"ready": True, "applied": len(updates), "network": network})
    while True:
        try:
            request = _recv_message(sock, inbox)
        except (EOFError, OSError):
            return
        header, body = _handle(store, request, state)
        state.value = _IDLE
        try:
            _send_message(sock, header, body)
        except OSError:
            return


def _handle(store: Any, request: dict[str, Any], state: Any) -> tuple[dict[str, Any], bytes]:
    """Run one request on the worker's store; every failure becomes an error header."""
    import pyoxigraph as ox  # noqa: PLC0415 - only workers load the engine

    from kg.errors import NotAcceptable  # noqa: PLC0415
    from kg.sparql.results import serialize_result  # noqa: PLC0415

    op = request.get("op")
    try:
        if op == "query":
            kwargs: dict[str, Any] = {}
            default_graphs = request.get("default_graphs") or []
            named_graphs = request.get("named_graphs") or []
            if default_graphs or named_graphs:
                kwargs["default_graph"] = [ox.NamedNode(g) for g in default_graphs]
                kwargs["named_graphs"] = [ox.NamedNode(g) for g in named_graphs]
            elif request.get("union"):
                kwargs["use_default_graph_as_union"] = True
            state.value = _PARSING
            result = store.query(request["query"], base_iri=request.get("base_iri"), **kwargs)
            state.value = _RUNNING
            answer = serialize_result(
                result,
                request["accept"],
                int(request["max_rows"]),
                request.get("prefixes"),
                rerun=lambda: store.query(
                    request["query"], base_iri=request.get("base_iri"), **kwargs
                ),
            )
            header = {
                "ok": True,
                "media_type": answer.media_type,
                "kind": answer.kind,
                "rows": answer.rows,
                "truncated": answer.truncated,
            }
            return header, answer.body
        if op == "update":
            state.value = _PARSING
            store.update(request["update"], base_iri=request.get("base_iri"))
            if hasattr(store, "flush") and request.get("flush"):
                store.flush()
            return {"ok": True}, b""
        if op == "graphs":
            graphs = sorted(g.value for g in store.named_graphs() if isinstance(g, ox.NamedNode))
            return {"ok": True}, json.dumps(graphs).encode()
        if op == "ping":
            return {"ok": True}, b""
        return {"ok": False, "error": "bad_request", "message": f"unknown op {op!r}"}, b""
    except SyntaxError as exc:
        return {"ok": False, "error": "syntax", "message": str(exc)}, b""
    except NotAcceptable as exc:
        return {
            "ok": False,
            "error": "not_acceptable",
            "message": exc.message,
            "offered": list(exc.offered),
        }, b""
    except ValueError as exc:
        return {"ok": False, "error": "bad_parameter", "message": str(exc)}, b""
    except RuntimeError as exc:
        # The engine reports a query it cannot evaluate (e.g. an unknown extension function)
        # as a RuntimeError: that is the query's fault, not the store's.
        if _UNSUPPORTED.search(str(exc)):
            return {"ok": False, "error": "unsupported", "message": str(exc)}, b""
        return {"ok": False, "error": "store", "message": f"{type(exc).__name__}: {exc}"}, b""
    except Exception as exc:
        return {"ok": False, "error": "store", "message": f"{type(exc).__name__}: {exc}"}, b""


# --------------------------------------------------------------------------------------------
# The server side (asyncio).
# --------------------------------------------------------------------------------------------

_CHILD_CODE: Final = (
    "import sys, json; sys.path[:0] = json.loads(sys.argv[1]); "
    "from kg.store.workers import child_main; child_main(int(sys.argv[2]), int(sys.argv[3]))"
)
Reply = tuple[dict[str, Any], bytes]


class _Worker:
    __slots__ = ("busy", "cell", "dead", "future", "inbox", "process", "sock")

    def __init__(self, process: subprocess.Popen[bytes], sock: socket.socket, cell: mmap.mmap):
        self.process = process
        self.sock = sock
        self.cell = cell
        self.inbox = _Inbox()
        self.future: asyncio.Future[Reply] | None = None
        self.dead = False
        self.busy = False

    @property
    def where(self) -> int:
        try:
            return self.cell[0]
        except ValueError:  # the map is closed
            return _IDLE


def _state_fd() -> int:
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("kg-worker-state")
    else:  # pragma: no cover - not Linux
        with tempfile.TemporaryFile() as handle:
            fd = os.dup(handle.fileno())
    os.ftruncate(fd, mmap.PAGESIZE)
    return fd


class WorkerPool:
    """``size`` worker processes; :meth:`request` sends one message under a deadline."""

    def __init__(self, config: WorkerConfig, size: int) -> None:
        self.config = config
        self.size = size
        #: Idle workers, and the callers waiting for one (a worker goes straight to a waiter).
        self._idle: deque[_Worker] = deque()
        self._waiters: deque[asyncio.Future[_Worker]] = deque()
        self._workers: set[_Worker] = set()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._closed = False
        #: Updates applied since start (memory mode): replayed by every new worker.
        self.update_log: list[str] = []
        self._update_lock = asyncio.Lock()
        #: How the last worker fared leaving the network ("isolated", "not isolated: …").
        self.network_status = ""
        #: Called after a replacement worker joined the pool (tests, metrics).
        self.on_replaced: Callable[[], None] | None = None
        self.replacements = 0

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every worker; raises StoreUnavailable if one cannot open the store."""
        spawned = await asyncio.gather(
            *(self._spawn() for _ in range(self.size)), return_exceptions=True
        )
        for item in spawned:
            if isinstance(item, _Worker):
                self._release(item)
        for item in spawned:
            if isinstance(item, BaseException):
                await self.close()
                raise item

    async def close(self) -> None:
        """Stop every worker (end of file on its socket ends it; stragglers are killed)."""
        self._closed = True
        # Callers waiting for a worker or for an answer fail now, not at their deadline.
        pending: list[asyncio.Future[Any]] = [*self._waiters]
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
        await asyncio.gather(*(asyncio.to_thread(_reap, w.process, 2.0) for w in workers))

    async def _spawn(self) -> _Worker:
        loop = asyncio.get_running_loop()
        parent, child = socket.socketpair()
        state_fd = _state_fd()
        try:
            cell = mmap.mmap(state_fd, 1)
            command = [sys.executable, "-c", _CHILD_CODE, json.dumps(sys.path)]
            command += [str(child.fileno()), str(state_fd)]
            # Started from the loop's own thread: PR_SET_PDEATHSIG fires when the thread that
            # started a child ends, and executor threads may end before the server does.
            process = subprocess.Popen(
                command, pass_fds=(child.fileno(), state_fd), stdin=subprocess.DEVNULL
            )
        finally:
            child.close()
            os.close(state_fd)
        parent.setblocking(False)
        worker = _Worker(process, parent, cell)
        self._workers.add(worker)
        loop.add_reader(parent.fileno(), self._readable, worker)
        init: dict[str, Any] = {"config": asdict(self.config), "updates": list(self.update_log)}
        try:
            header, _ = await self._exchange(worker, init, self.config.start_timeout)
        except (TimeoutError, _Gone):
            self._kill(worker)
            code = await asyncio.to_thread(_reap, process, 1.0)
            raise StoreUnavailable(
                f"a query worker did not start within {self.config.start_timeout:.0f} s "
                f"(exit code {code}; its error output is in the server log)"
            ) from None
        if not header.get("ready"):
            self._kill(worker)
            raise StoreUnavailable(
                f"a query worker could not open the store: {header.get('error')}"
            )
        network = str(header.get("network"))
        if network != self.network_status:
            self.network_status = network
            level = logging.INFO if network.startswith("isolated") else logging.WARNING
            log.log(level, "query workers: network %s", network)
        applied = int(header.get("applied", 0))
        while applied < len(self.update_log):
            # Updates that were applied while this worker was starting.
            update = {"op": "update", "update": self.update_log[applied]}
            reply, _ = await self._exchange(worker, update, self.config.start_timeout)
            if not reply.get("ok"):
                self._kill(worker)
                raise StoreUnavailable(f"a new worker could not replay an update: {reply}")
            applied += 1
        return worker

    def _readable(self, worker: _Worker) -> None:
        """The permanent reader: a reply's bytes, or end of file when the worker died."""
        inbox = worker.inbox
        try:
            count = inbox.receive(worker.sock)
            if count == 0:
                self._on_eof(worker)
                return
            while (frame := inbox.take()) is not None:
                tag, header, body = frame
                reply = _decode_reply(tag, header), body
                future, worker.future = worker.future, None
                if future is None:
                    raise ValueError("a reply to no request")
                if not future.done():
                    future.set_result(reply)
        except (BlockingIOError, InterruptedError):
            return
        except ValueError as exc:
            # Not what a worker sends: replace it; the caller sees it as a worker that died.
            log.error("a query worker sent a malformed message (%s); replacing it", exc)
            self._discard(worker)
            self._on_eof(worker)
        except OSError:
            self._on_eof(worker)

    def _on_eof(self, worker: _Worker) -> None:
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(worker.sock.fileno())
        future, worker.future = worker.future, None
        if future is not None and not future.done():
            future.set_exception(_Gone())
        elif not worker.busy or future is not None:
            # Died while idle, or while its caller was gone or past its deadline: replace it.
            self._discard(worker)

    def _forget(self, worker: _Worker) -> None:
        worker.dead = True
        self._workers.discard(worker)
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(worker.sock.fileno())

    def _kill(self, worker: _Worker) -> None:
        self._forget(worker)
        with contextlib.suppress(OSError):
            worker.process.kill()
        worker.sock.close()
        self._background(asyncio.to_thread(_reap, worker.process, 5.0))

    def _discard(self, worker: _Worker) -> None:
        """Kill ``worker`` and start its replacement in the background."""
        if worker.dead:
            return
        self._kill(worker)
        if not self._closed:
            self._background(self._replace())

    async def _replace(self) -> None:
        delay = 0.1
        while not self._closed:
            try:
                worker = await self._spawn()
            except StoreUnavailable as exc:
                log.error("could not replace a query worker (retrying): %s", exc.message)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self.replacements += 1
            self._release(worker)
            if self.on_replaced is not None:
                self.on_replaced()
            return

    def _background(self, awaitable: Any) -> None:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- one exchange -----------------------------------------------------------------------

    async def _exchange(self, worker: _Worker, message: dict[str, Any], timeout: float) -> Reply:
        loop = asyncio.get_running_loop()
        head = _request_frame(message)
        future: asyncio.Future[Reply] = loop.create_future()
        worker.future = future
        try:
            sent = worker.sock.send(head)
            if sent < len(head):
                await loop.sock_sendall(worker.sock, head[sent:])
        except OSError:
            worker.future = None
            raise _Gone() from None
        timer = loop.call_later(max(timeout, 0.0), _expire, future)
        try:
            return await future
        finally:
            timer.cancel()

    async def _acquire(self, deadline: float, timeout: float) -> _Worker:
        while True:
            if self._closed:
                raise StoreUnavailable("the store is closed")
            if self._idle:
                worker = self._idle.popleft()
            else:
                try:
                    worker = await self._wait_idle(deadline)
                except TimeoutError:
                    raise QueryTimeout(
                        f"no query worker became free within {timeout:g} s (all {self.size} "
                        "busy; settings query_workers, query_timeout)",
                        timeout,
                    ) from None
            if worker.dead:
                continue
            worker.busy = True
            return worker

    async def _wait_idle(self, deadline: float) -> _Worker:
        """Wait for :meth:`_release` to hand over a worker; TimeoutError at the deadline."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[_Worker] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_at(deadline, _expire, waiter)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._release(waiter.result())  # handed over just as the caller went away
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise
        finally:
            timer.cancel()

    def _release(self, worker: _Worker) -> None:
        worker.busy = False
        if worker.dead:
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(worker)
                return
        self._idle.append(worker)

    async def request(self, message: dict[str, Any], timeout: float) -> Reply:
        """Send ``message`` to one idle worker and return its (header, body) reply.

        Raises QueryTimeout (the worker was killed and is being replaced), QuerySyntaxError
        (it died while parsing), WorkerCrashed (it died while evaluating), StoreUnavailable.
        """
        if self._update_lock.locked():
            async with self._update_lock:
                pass  # no query sees half of a broadcast update
        return await self._request(message, timeout, retry=True)

    async def _request(self, message: dict[str, Any], timeout: float, *, retry: bool) -> Reply:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        worker = await self._acquire(deadline, timeout)
        try:
            reply = await self._exchange(worker, message, deadline - loop.time())
        except TimeoutError:
            self._discard(worker)
            raise QueryTimeout(
                f"the query ran past its deadline of {timeout:g} s and was stopped "
                "(setting query_timeout, KG_QUERY_TIMEOUT)",
                timeout,
            ) from None
        except _Gone:
            where = worker.where
            self._discard(worker)
            if where == _IDLE and retry:
                # It died before it started on this request (killed from outside): try again.
                remaining = max(deadline - loop.time(), 0.001)
                return await self._request(message, remaining, retry=False)
            code = await asyncio.to_thread(_reap, worker.process, 1.0)
            raise _crash_error(where, code) from None
        except asyncio.CancelledError:
            self._settle(worker, deadline - loop.time())
            raise
        self._release(worker)
        return reply

    def _settle(self, worker: _Worker, remaining: float) -> None:
        """The caller went away: free ``worker`` now if it has answered, else once it has.

        Runs in the caller's cancellation, before any other callback: a reply that the reader
        saw meanwhile was dropped (its future was cancelled) and ``worker.future`` cleared.
        """
        if worker.dead:
            return
        if worker.future is None:
            self._release(worker)
            return
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        worker.future = future
        self._background(self._drain(worker, future, remaining))

    async def _drain(
        self, worker: _Worker, future: asyncio.Future[Reply], remaining: float
    ) -> None:
        timer = asyncio.get_running_loop().call_later(max(remaining, 0.0), _expire, future)
        try:
            await future
        except (TimeoutError, _Gone, StoreUnavailable):
            self._discard(worker)
            return
        finally:
            timer.cancel()
        self._release(worker)

    async def broadcast(self, message: dict[str, Any], timeout: float) -> Reply:
        """Apply an update to every worker (memory mode) with no query in between.

        The first worker's answer decides: an error there is the caller's, and no worker has
        changed. A later worker that fails is replaced (a new worker replays the log).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._update_lock:
            taken: list[_Worker] = []
            try:
                while len(taken) < self.size:
                    taken.append(await self._acquire(deadline, timeout))
                first, rest = taken[0], taken[1:]
                try:
                    reply = await self._exchange(first, message, deadline - loop.time())
                except TimeoutError:
                    taken.remove(first)
                    self._discard(first)
                    raise QueryTimeout(
                        f"the update ran past its deadline of {timeout:g} s and was stopped",
                        timeout,
                    ) from None
                except _Gone:
                    where = first.where
                    taken.remove(first)
                    self._discard(first)
                    raise _crash_error(where, None) from None
                if not reply[0].get("ok"):
                    return reply
                self.update_log.append(str(message["update"]))
                results = await asyncio.gather(
                    *(self._exchange(w, message, max(deadline - loop.time(), 1.0)) for w in rest),
                    return_exceptions=True,
                )
                for worker, result in zip(rest, results, strict=True):
                    if isinstance(result, BaseException) or not result[0].get("ok"):
                        taken.remove(worker)
                        self._discard(worker)
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
        while len([w for w in self._workers if not w.dead and not w.busy]) < self.size:
            if loop.time() > deadline:
                raise StoreUnavailable("the worker pool did not recover in time")
            await asyncio.sleep(0.02)


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


def _reap(process: subprocess.Popen[bytes], grace: float) -> int | None:
    try:
        return process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        try:
            return process.wait(5.0)
        except subprocess.TimeoutExpired:
            return None


def _crash_error(where: int, exitcode: int | None) -> Exception:
    how = f"signal {-exitcode}" if exitcode is not None and exitcode < 0 else f"exit {exitcode}"
    if where == _PARSING:
        return QuerySyntaxError(
            f"the query engine crashed ({how}) while parsing this query: it is probably nested "
            "or chained too deeply. The worker was replaced."
        )
    return WorkerCrashed(
        f"the query engine crashed ({how}) while evaluating this query; the worker was replaced"
    )
