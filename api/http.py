"""uvicorn's httptools protocol with bounded request heads and bodies.

uvicorn bounds neither the size nor the number of header lines (httptools buffers a header
value whole, however long), and sets no deadline on a request's head or body: one client
sending a 16 MB header, 20,000 headers, or one byte every few seconds holds memory or a
connection for as long as it likes. :class:`LimitedHttpProtocol` adds, per connection:

- ``max_header_bytes``: request line plus header lines, counted as bytes arrive → 431, or
  414 when the request target (the URL: a long ``GET /sparql?query=``) alone is over it;
- ``max_headers``: header lines → 431;
- ``header_timeout``: from the connection (or the first byte of the next request) to the end
  of the headers → 408, connection closed;
- ``body_timeout``: from the end of the headers to the end of the body → 408 (or just closed
  when the answer has begun); the app sees a disconnect (logged once at debug level).

``kg serve`` passes the class to uvicorn (``http=``); the limits come from
:func:`kg.config.get_settings`, as everything else in the serving process.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kg.config import Settings, get_settings

__all__ = ["LimitedHttpProtocol"]

log = logging.getLogger("kg.api")

_REASONS: Final = {
    408: b"Request Timeout",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
}


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing this request."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LimitedHttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with header size/count limits and head/body deadlines."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings: Settings = get_settings()
        self._max_head = settings.max_header_bytes
        self._max_headers = settings.max_headers
        self._header_timeout = settings.header_timeout
        self._body_timeout = settings.body_timeout
        #: Bytes of the current request's head seen so far; None while past the head.
        self._head: int | None = 0
        self._headers_seen = 0
        self._head_exact = 0
        self._url_bytes = 0
        self._refusal: _Refused | None = None
        self._too_big = _Refused(
            431, f"request headers over {self._max_head} bytes (setting max_header_bytes)"
        )
        self._timer: asyncio.TimerHandle | None = None
        #: Requests whose head arrived on this connection; set when the server drains.
        self._requests = 0
        self._draining = False

    # --- timers -----------------------------------------------------------------------------

    def _arm(self, seconds: float, status: int, what: str) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._expired, status, what)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self, status: int, what: str) -> None:
        self._timer = None
        if self.transport is None or self.transport.is_closing():
            return
        log.debug("closing a connection from %s: %s", self.client, what)
        if self._head is not None:
            # In the head: answer when some of it came (a silent connection just closes).
            speak = self._head > 0
        else:  # in the body: answer unless the app has begun its own answer
            speak = self.cycle is not None and not self.cycle.response_started
        if speak:
            self._write_refusal(_Refused(status, what))
        self.transport.close()

    # --- protocol hooks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self._header_timeout, 408, "request headers not received in time")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head is not None:
            self._head += len(data)
        super().data_received(data)
        if (
            self._head is not None
            and self._head > self._max_head
            and not self.transport.is_closing()
        ):
            self._refusal = self._too_big
            self.send_400_response("")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._headers_seen = 0
        self._head_exact = 0
        self._url_bytes = 0
        if self._head is None:
            self._head = 0
        if self._timer is None:
            self._arm(self._header_timeout, 408, "request headers not received in time")

    def on_url(self, url: bytes) -> None:
        # Called once per piece of the URL that arrived; the URL alone over the limit is a 414
        # (RFC 9110: the target is too long, not the headers), which says what to do instead.
        self._head_exact += len(url)
        self._url_bytes += len(url)
        if self._url_bytes > self._max_head:
            raise _Refused(
                414,
                f"the request target (URL) is over {self._max_head} bytes (setting "
                "max_header_bytes): send a long query by POST, in the body",
            )
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # Counted exactly here too: a whole head can arrive in one read, parsed at once.
        self._headers_seen += 1
        self._head_exact += len(name) + len(value) + 4
        if self._headers_seen > self._max_headers:
            raise _Refused(431, f"more than {self._max_headers} header lines (setting max_headers)")
        if self._head_exact > self._max_head:
            raise _Refused(self._too_big.status, self._too_big.message)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head = None
        self._arm(self._body_timeout, 408, "request body not received in time")
        super().on_headers_complete()
        self._requests += 1
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False

    def shutdown(self) -> None:
        """Graceful shutdown (e.g. a process recycling, see kg.store.inprocess): a connection
        accepted just before the server stopped accepting, whose first request is still on its
        way, gets that request answered (then closed) instead of a reset; the header deadline
        bounds the wait. Idle keep-alive connections close at once, as in uvicorn."""
        if self._requests == 0 and not self.transport.is_closing():  # no cycle yet
            self._draining = True
            return
        super().shutdown()

    def on_message_complete(self) -> None:
        self._disarm()
        self._head = 0
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this for any parser error, including one our callbacks raised.
        refusal = self._refusal or _raised_refusal()
        self._refusal = None
        if refusal is None:
            super().send_400_response(msg)
            return
        self._write_refusal(refusal)
        self.transport.close()

    def _write_refusal(self, refusal: _Refused) -> None:
        body = f"{refusal.status} {refusal.message}\n".encode()
        reason = _REASONS.get(refusal.status, b"Error")
        self.transport.write(
            b"HTTP/1.1 %d %s\r\n" % (refusal.status, reason)
            + b"content-type: text/plain; charset=utf-8\r\n"
            + b"content-length: %d\r\n" % len(body)
            + b"x-content-type-options: nosniff\r\n"
            + b"connection: close\r\n\r\n"
            + body
        )


def _raised_refusal() -> _Refused | None:
    """The refusal a callback raised, when called while httptools' wrapper is handled."""
    error = sys.exc_info()[1]
    context = error.__context__ if error is not None else None
    return context if isinstance(context, _Refused) else None
