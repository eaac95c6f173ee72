"""What the server and a query worker say to each other, and how it is framed on the socket.

Framing: a 13-byte prefix (header encoding, header length, body length), the header, then the
body bytes: a query's result already serialised, so nothing big is pickled. Requests (server
to worker, trusted) are marshalled tuples; replies are a fixed struct for a query answer, JSON
otherwise, and are never unmarshalled: a worker that a hostile query corrupted cannot feed the
server anything it trusts. Each side reads with ``recv_into`` into one reused buffer
(:class:`Inbox`), so a message costs no allocation but the body's single copy.

Every message is a frozen dataclass; the only code that turns one into bytes or back is in
this module. Failures travel as an error *code* from :data:`kg.errors.ERROR_CODES`.
"""

from __future__ import annotations

import json
import marshal
import socket
import struct
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Final, Literal

__all__ = [
    "Answer",
    "Done",
    "Failure",
    "GraphsJob",
    "Inbox",
    "InitJob",
    "Job",
    "NotReady",
    "PingJob",
    "QueryJob",
    "Ready",
    "Reply",
    "UpdateJob",
    "WorkerConfig",
    "decode_reply",
    "decode_request",
    "encode_reply_head",
    "encode_request",
]

WorkerMode = Literal["read-only", "read-write", "memory"]

#: Every frame starts with: how its header is encoded, the header's length, the body's length.
PREFIX: Final = struct.Struct("!BIQ")
#: Header encodings.
MARSHAL: Final = 1
JSON: Final = 2
ANSWER: Final = 3
#: A query answer's header: rows (-1 when unknown), truncated; then b"<kind>\n<media type>".
ANSWER_HEAD: Final = struct.Struct("!qB")
#: Size of a receive buffer; it grows for a bigger message and shrinks back after it.
INBOX_BYTES: Final = 64 * 1024
#: A frame announced as larger than this comes from a broken worker.
MAX_FRAME: Final = 1 << 32


@dataclass(frozen=True)
class WorkerConfig:
    """How each worker opens its store, and the limits it runs under."""

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
    #: Anonymous memory (MiB) a query may add to its worker (over what the open store holds);
    #: the pool's watchdog stops a query past it and RLIMIT_DATA (this plus some slack over the
    #: worker's size once ready) is the hard backstop. 0: no limit.
    memory_mb: int = 0


# -- requests (server to worker) ------------------------------------------------------------


@dataclass(frozen=True)
class InitJob:
    """The first message: how to open the store, and the updates to replay (memory mode)."""

    config: WorkerConfig
    updates: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueryJob:
    query: str
    accept: tuple[str, ...]
    max_rows: int
    default_graphs: tuple[str, ...] = ()
    named_graphs: tuple[str, ...] = ()
    union: bool = False
    base_iri: str | None = None
    #: prefix → IRI for Turtle/TriG/RDF/XML answers.
    prefixes: tuple[tuple[str, str], ...] = ()
    #: The longest value (bytes) an answer may carry; 0: no cap.
    max_value_bytes: int = 0


@dataclass(frozen=True)
class UpdateJob:
    update: str
    base_iri: str | None = None
    flush: bool = False


@dataclass(frozen=True)
class GraphsJob:
    """The store's named graphs, as a JSON list in the body."""


@dataclass(frozen=True)
class PingJob:
    """Answered with :class:`Done` (tests, health)."""


Job = InitJob | QueryJob | UpdateJob | GraphsJob | PingJob
_JOBS: Final[dict[str, type[Any]]] = {
    cls.__name__: cls for cls in (InitJob, QueryJob, UpdateJob, GraphsJob, PingJob)
}


#: Each job's field names, in order (a request carries the values as a tuple).
_FIELDS: Final[dict[type[Any], tuple[str, ...]]] = {
    cls: tuple(f.name for f in fields(cls)) for cls in _JOBS.values()
}


def encode_request(job: Job) -> bytes:
    """A request frame: the job as a marshalled (name, values) pair, values in field order
    (the worker's config nested as a dict in the one InitJob)."""
    if isinstance(job, InitJob):
        values: tuple[Any, ...] = (asdict(job.config), job.updates)
    else:
        values = tuple(getattr(job, name) for name in _FIELDS[type(job)])
    header = marshal.dumps((type(job).__name__, values))
    return PREFIX.pack(MARSHAL, len(header), 0) + header


def decode_request(tag: int, header: bytes) -> Job | None:
    """The job in a request frame; None when it is not one the server sends."""
    if tag != MARSHAL:
        return None
    # Only the server writes to a worker's socket (marshal would trust anything).
    try:
        decoded = marshal.loads(header)  # noqa: S302
    except (ValueError, EOFError, TypeError):
        return None
    if not (isinstance(decoded, tuple) and len(decoded) == 2):
        return None
    name, values = decoded
    cls = _JOBS.get(name) if isinstance(name, str) else None
    if cls is None or not isinstance(values, tuple) or len(values) != len(_FIELDS[cls]):
        return None
    try:
        if cls is InitJob:
            config, updates = values
            return InitJob(WorkerConfig(**config), tuple(updates))
        job: Job = cls(*values)
    except (KeyError, TypeError):
        return None
    return job


# -- replies (worker to server) -------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """A query's answer; the serialised result is the frame's body."""

    media_type: str
    kind: str
    rows: int | None
    truncated: bool


@dataclass(frozen=True)
class Done:
    """An update, ping or graphs job went well (graphs: JSON list in the body)."""


@dataclass(frozen=True)
class Failure:
    """The job failed; ``code`` is one of :data:`kg.errors.ERROR_CODES`."""

    code: str
    message: str
    offered: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Ready:
    """The worker opened its store and replayed ``applied`` updates."""

    applied: int
    network: str


@dataclass(frozen=True)
class NotReady:
    error: str


Reply = Answer | Done | Failure | Ready | NotReady
_REPLIES: Final[dict[str, type[Any]]] = {
    cls.__name__: cls for cls in (Done, Failure, Ready, NotReady)
}


def encode_reply_head(reply: Reply, body_size: int) -> bytes:
    """A reply's prefix and header: the fixed struct for a query answer, else JSON."""
    if isinstance(reply, Answer):
        rows = -1 if reply.rows is None else reply.rows
        encoded = ANSWER_HEAD.pack(rows, reply.truncated)
        encoded += f"{reply.kind}\n{reply.media_type}".encode()
        return PREFIX.pack(ANSWER, len(encoded), body_size) + encoded
    # ASCII escapes: a lone surrogate in an error message cannot break the encoding.
    encoded = json.dumps([type(reply).__name__, asdict(reply)]).encode("ascii")
    return PREFIX.pack(JSON, len(encoded), body_size) + encoded


def decode_reply(tag: int, header: bytes) -> Reply:
    """A reply's header; ValueError when it is not one a worker sends."""
    if tag == ANSWER:
        try:
            rows, truncated = ANSWER_HEAD.unpack_from(header)
        except struct.error as exc:
            raise ValueError(str(exc)) from None
        kind, _, media_type = header[ANSWER_HEAD.size :].decode().partition("\n")
        return Answer(media_type, kind, None if rows < 0 else rows, bool(truncated))
    if tag == JSON:
        decoded = json.loads(header)
        if isinstance(decoded, list) and len(decoded) == 2 and isinstance(decoded[1], dict):
            cls = _REPLIES.get(decoded[0]) if isinstance(decoded[0], str) else None
            if cls is not None:
                values = decoded[1]
                try:
                    if cls is Failure:
                        return Failure(
                            str(values["code"]),
                            str(values["message"]),
                            tuple(str(o) for o in values.get("offered") or ()),
                        )
                    if cls is Ready:
                        return Ready(int(values["applied"]), str(values["network"]))
                    if cls is NotReady:
                        return NotReady(str(values["error"]))
                    return Done()
                except (KeyError, TypeError, ValueError) as exc:
                    raise ValueError(f"a malformed reply header: {exc}") from None
    raise ValueError(f"not a reply header (encoding {tag})")


class Inbox:
    """Frames received with ``recv_into`` into one reused buffer (no allocation per message)."""

    __slots__ = ("buffer", "filled", "view")

    def __init__(self) -> None:
        self.buffer = bytearray(INBOX_BYTES)
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
        tag, header_size, _ = PREFIX.unpack_from(self.buffer)
        start = PREFIX.size + header_size
        header = bytes(self.view[PREFIX.size : start])
        body = bytes(self.view[start:end])
        rest = self.filled - end
        if rest:  # never in request-reply order; kept for the next take()
            self.view[:rest] = bytes(self.view[end : self.filled])
        self.filled = rest
        if len(self.buffer) > INBOX_BYTES and rest <= INBOX_BYTES:
            self._resize(INBOX_BYTES)
        return tag, header, body

    def _frame_end(self) -> int:
        """Where the frame being received ends (0 until its prefix is in)."""
        if self.filled < PREFIX.size:
            return 0
        _, header_size, body_size = PREFIX.unpack_from(self.buffer)
        end: int = PREFIX.size + header_size + body_size
        if end > MAX_FRAME:
            raise ValueError(f"a frame of {end} bytes")
        return end

    def _resize(self, size: int) -> None:
        buffer = bytearray(size)
        buffer[: self.filled] = self.view[: self.filled]
        self.view.release()
        self.buffer, self.view = buffer, memoryview(buffer)
