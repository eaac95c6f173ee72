"""The query worker process: opens one pyoxigraph store and answers jobs until end of file.

Started by :mod:`kg.store.pool` as ``python -c`` (no fork of a threaded asyncio server), with a
Unix socket and a one-byte shared-memory cell that says what the worker is doing (idle,
parsing, evaluating), so the server can tell where it died. Before opening its store it tries to
leave the network (``unshare(CLONE_NEWNET)``, through a user namespace when unprivileged) unless
SERVICE is allowed, caps its own data segment (RLIMIT_DATA, the backstop behind the pool's
memory watchdog), and runs its loop in a thread with a large stack so the native parser has
room to spare.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import mmap
import re
import resource
import socket
import threading
from typing import Any, Final

from kg.store.isolation import drop_network
from kg.store.messages import (
    Answer,
    Done,
    Failure,
    GraphsJob,
    Inbox,
    InitJob,
    Job,
    NotReady,
    PingJob,
    QueryJob,
    Ready,
    Reply,
    UpdateJob,
    WorkerConfig,
    decode_request,
    encode_reply_head,
)

__all__ = ["IDLE", "PARSING", "RUNNING", "child_main", "preload"]

#: What a worker is doing (its shared-memory cell), so the server knows where it died.
IDLE: Final = 0
PARSING: Final = 1
RUNNING: Final = 2

#: pyoxigraph's messages for a query it parses but cannot evaluate.
_UNSUPPORTED: Final = re.compile(r"is not supported")

_PR_SET_PDEATHSIG: Final = 1
#: RLIMIT_DATA above the watchdog's limit: the watchdog should always act first.
_SLACK_BYTES: Final = 256 * 1024 * 1024


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0)


def _limit_memory(config: WorkerConfig) -> None:
    """RLIMIT_DATA (heap, anonymous mappings, thread stacks) as a hard backstop.

    The engine aborts when an allocation fails; the pool then reports the query as over the
    memory limit. The watchdog in the pool normally stops the query earlier, more gently.
    """
    if config.memory_mb <= 0:
        return
    limit = config.memory_mb * 1024 * 1024 + config.stack_bytes + _SLACK_BYTES
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def _recv_job(sock: socket.socket, inbox: Inbox) -> Job:
    """The next job from the server (blocking); EOFError when the server is gone."""
    while (frame := inbox.take()) is None:
        if inbox.receive(sock) == 0:
            raise EOFError
    tag, header, _ = frame  # requests carry no body
    job = decode_request(tag, header)
    if job is None:
        raise EOFError  # not a request: the socket is not the server's
    return job


def _send(sock: socket.socket, reply: Reply, data: bytes = b"") -> None:
    head = encode_reply_head(reply, len(data))
    sent = sock.sendmsg([head, data]) if data else sock.send(head)
    total = len(head) + len(data)
    if sent < total:
        rest = (head + data)[sent:] if sent < len(head) else memoryview(data)[sent - len(head) :]
        sock.sendall(rest)


def preload() -> None:
    """Import what answering a query needs (the fork server does it once for every worker)."""
    import pyoxigraph  # noqa: F401, PLC0415

    import kg.errors  # noqa: PLC0415
    import kg.sparql.results  # noqa: F401, PLC0415


def child_main(socket_fd: int, state_fd: int) -> None:
    """Entry point of a worker process (called by the ``python -c`` command line)."""
    _die_with_parent()
    sock = socket.socket(fileno=socket_fd)
    state = mmap.mmap(state_fd, 1)
    inbox = Inbox()
    init = _recv_job(sock, inbox)
    if not isinstance(init, InitJob):
        return
    config = init.config
    network = drop_network().detail if config.isolate_network else "not isolated: SERVICE allowed"
    _limit_memory(config)
    threading.stack_size(config.stack_bytes)
    thread = threading.Thread(
        target=_serve,
        args=(sock, inbox, state, config),
        kwargs={"updates": init.updates, "network": network},
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
    inbox: Inbox,
    cell: mmap.mmap,
    config: WorkerConfig,
    *,
    updates: tuple[str, ...],
    network: str,
) -> None:
    state = _State(cell)
    try:
        store = _open_store(config)
        for update in updates:
            store.update(update)
    except Exception as exc:
        _send(sock, NotReady(f"{type(exc).__name__}: {exc}"))
        return
    _send(sock, Ready(len(updates), network))
    while True:
        try:
            job = _recv_job(sock, inbox)
        except (EOFError, OSError):
            return
        reply, body = handle(store, job, state)
        state.value = IDLE
        try:
            _send(sock, reply, body)
        except OSError:
            return


def handle(store: Any, job: Job, state: Any) -> tuple[Reply, bytes]:
    """Run one job on the worker's store; every failure becomes a :class:`Failure`."""
    from kg.errors import KgError, QuerySyntaxError  # noqa: PLC0415

    try:
        if isinstance(job, QueryJob):
            return _query(store, job, state)
        if isinstance(job, UpdateJob):
            state.value = PARSING
            store.update(job.update, base_iri=job.base_iri)
            if job.flush and hasattr(store, "flush"):
                store.flush()
            return Done(), b""
        if isinstance(job, GraphsJob):
            import pyoxigraph as ox  # noqa: PLC0415

            graphs = sorted(g.value for g in store.named_graphs() if isinstance(g, ox.NamedNode))
            return Done(), json.dumps(graphs).encode()
        if isinstance(job, PingJob):
            return Done(), b""
        return Failure("store_error", f"unexpected job {type(job).__name__}"), b""
    except KgError as exc:
        return Failure(exc.code, exc.message, tuple(getattr(exc, "offered", ()))), b""
    except SyntaxError as exc:
        return Failure(QuerySyntaxError.code, str(exc)), b""
    except ValueError as exc:
        return Failure("bad_parameter", str(exc)), b""
    except MemoryError:
        return Failure("query_memory", "the query needed more memory than a worker may use"), b""
    except RuntimeError as exc:
        # The engine reports a query it cannot evaluate (e.g. an unknown extension function)
        # as a RuntimeError: that is the query's fault, not the store's.
        if _UNSUPPORTED.search(str(exc)):
            return Failure("unsupported_query", str(exc)), b""
        return Failure("store_error", f"{type(exc).__name__}: {exc}"), b""
    except Exception as exc:
        return Failure("store_error", f"{type(exc).__name__}: {exc}"), b""


def _query(store: Any, job: QueryJob, state: Any) -> tuple[Reply, bytes]:
    import pyoxigraph as ox  # noqa: PLC0415 - only workers load the engine

    from kg.sparql.results import serialize_result  # noqa: PLC0415

    kwargs: dict[str, Any] = {}
    if job.default_graphs or job.named_graphs:
        kwargs["default_graph"] = [ox.NamedNode(g) for g in job.default_graphs]
        kwargs["named_graphs"] = [ox.NamedNode(g) for g in job.named_graphs]
    elif job.union:
        kwargs["use_default_graph_as_union"] = True
    # pyoxigraph parses and plans in query() (and evaluates ASK and aggregates there too):
    # PARSING covers that call, RUNNING the rest. Only a native crash (SIGSEGV, a stack
    # overflow) in PARSING is blamed on the query's shape; a kill never is (see kg.store.pool).
    state.value = PARSING
    result = store.query(job.query, base_iri=job.base_iri, **kwargs)
    state.value = RUNNING
    answer = serialize_result(
        result,
        job.accept,
        job.max_rows,
        dict(job.prefixes) or None,
        rerun=lambda: store.query(job.query, base_iri=job.base_iri, **kwargs),
        max_value_bytes=job.max_value_bytes,
    )
    reply = Answer(answer.media_type, answer.kind, answer.rows, answer.truncated)
    return reply, answer.body
