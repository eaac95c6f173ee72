"""Per-client admission: how many queries one client may have in flight, and the wait after
one of its queries was stopped.

A client is whatever the caller names it (the API passes the remote address). Both limits are
checked before a query takes a worker; refusals are :class:`kg.errors.TooManyRequests` (429
with Retry-After). State is bounded: counters exist only for clients with queries in flight,
penalties are forgotten once over (and swept when more than ``_MAX_PENALISED`` are kept).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Final

from kg.errors import KgError, Overloaded, QueryMemoryExceeded, QueryTimeout, TooManyRequests

__all__ = ["ClientAdmission", "penalised_for"]

_MAX_PENALISED: Final = 10_000


def penalised_for(error: KgError) -> bool:
    """Whether ``error`` stops the client for a while: its query was stopped (deadline,
    memory, heavy lane full), not merely kept waiting for a worker."""
    if isinstance(error, QueryTimeout):
        return not error.message.startswith("no query worker")
    return isinstance(error, Overloaded | QueryMemoryExceeded)


class ClientAdmission:
    """At most ``limit`` queries per client in flight (None: no limit); ``penalty`` seconds of
    429 after a stopped query (0: none)."""

    def __init__(self, limit: int | None, penalty: float) -> None:
        self.limit = limit
        self.penalty = penalty
        self._in_flight: Counter[str] = Counter()
        self._penalised: dict[str, float] = {}

    def enter(self, client: str) -> None:
        """Admit one query of ``client`` or raise TooManyRequests; pair with :meth:`leave`."""
        if self._penalised:
            self._check_penalty(client)
        if self.limit is not None and self._in_flight[client] >= self.limit:
            raise TooManyRequests(
                f"this client already has {self._in_flight[client]} queries running or "
                "waiting (setting client_concurrency); send the next when one is answered",
                1.0,
            )
        self._in_flight[client] += 1

    def leave(self, client: str, error: KgError | None = None) -> None:
        """One query of ``client`` ended (with ``error``, if it failed)."""
        self._in_flight[client] -= 1
        if self._in_flight[client] <= 0:
            del self._in_flight[client]
        if error is not None and self.penalty > 0 and penalised_for(error):
            self._penalise(client)

    def _check_penalty(self, client: str) -> None:
        now = time.monotonic()
        until = self._penalised.get(client)
        if until is None:
            return
        if until <= now:
            del self._penalised[client]
            return
        raise TooManyRequests(
            "this client's last query was stopped (deadline, memory, or too many long "
            f"queries); it may send the next in {until - now:.1f} s (setting client_penalty)",
            until - now,
        )

    def _penalise(self, client: str) -> None:
        now = time.monotonic()
        if len(self._penalised) > _MAX_PENALISED:  # forget those whose wait is over
            self._penalised = {c: u for c, u in self._penalised.items() if u > now}
        self._penalised[client] = now + self.penalty
