"""The application context: the settings, and the store being served with what belongs to it.

``app.state.ctx`` holds one :class:`AppContext` (made by :func:`api.app.create_app`). Its
:class:`Served` — a started store, the build it serves, the lease on that build, the build's
Last-Modified and dump file, and the service-description cache — is replaced as a whole when the
server switches to a new build (:mod:`api.follow`): a request takes the current one once, with
:meth:`AppContext.use`, and finishes on it even if a switch happens meanwhile; the old store is
closed when its last request has finished.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from starlette.requests import Request

from kg.config import Settings
from kg.describe import VocabularyCache
from kg.errors import KgError, StoreUnavailable
from kg.leases import Lease
from kg.sparql.service_description import VoidStatistics, collect_statistics
from kg.store.base import Store, StoreInfo
from kg.updates import UpdatesStore

__all__ = ["AppContext", "Served", "ServiceCache", "context_of", "http_date"]

log = logging.getLogger("kg.api")


@functools.lru_cache(maxsize=16)
def http_date(when: datetime) -> str:
    """An HTTP date (RFC 9110 IMF-fixdate); cached: every answer carries the build's."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return format_datetime(when.astimezone(UTC), usegmt=True)


class ServiceCache:
    """VoID statistics (one store run per version) and serialised descriptions."""

    #: Seconds a description waits for the statistics of a new version before it is served
    #: without them (they keep running; later descriptions carry them): whole-graph
    #: aggregates, milliseconds on the project's data, 20 s at 10M quads.
    wait: float = 2.0

    def __init__(self) -> None:
        self._version: str | None = None
        self._stats: VoidStatistics | None = None
        self._bodies: dict[tuple[str, str], bytes] = {}
        self._task: asyncio.Task[VoidStatistics | None] | None = None
        self._task_version: str | None = None

    async def statistics(
        self, store: Store, settings: Settings, info: StoreInfo
    ) -> VoidStatistics | None:
        """The statistics for ``info.version``; None while they are still being counted (the
        request that starts the count waits :attr:`wait` for it, later ones not at all) or if
        they failed (counted again next time)."""
        if self._version == info.version and self._stats is not None:
            return self._stats
        task = self._task
        if task is not None and self._task_version == info.version and not task.done():
            return None  # an earlier request started the count and waited: do not wait again
        if (
            task is None
            or self._task_version != info.version
            or task.cancelled()
            or task.exception()
            or task.result() is None
        ):
            task = asyncio.ensure_future(self._collect(store, settings, info.version))
            self._task, self._task_version = task, info.version
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.wait)
        except TimeoutError:
            log.info("VoID statistics still counting: description served without them")
            return None

    async def _collect(
        self, store: Store, settings: Settings, version: str
    ) -> VoidStatistics | None:
        try:
            stats = await collect_statistics(store, settings)
        except KgError as exc:
            log.warning("VoID statistics failed, description served without them: %s", exc)
            return None
        self._version, self._stats, self._bodies = version, stats, {}
        return stats

    def body(self, version: str, key: tuple[str, str]) -> bytes | None:
        return self._bodies.get(key) if self._version == version else None

    def store_body(self, version: str, key: tuple[str, str], body: bytes) -> None:
        if self._version == version:
            if len(self._bodies) > 256:  # many Host names: keep the cache bounded
                self._bodies.clear()
            self._bodies[key] = body


@dataclass(eq=False)
class Served:
    """One started store and what belongs to it; replaced as a whole on a build switch."""

    store: Store
    #: The build folder served (None for a remote store, a fixed store path or dataset file).
    build: Path | None = None
    build_id: str | None = None
    #: When the build was made (manifest ``created``), else the data file's time.
    created: datetime | None = None
    #: The N-Quads file the data came from (None for a remote store).
    dump: Path | None = None
    lease: Lease | None = None
    #: The updates layer (journal and copy) when updates are enabled on a build.
    updates: UpdatesStore | None = None
    service: ServiceCache = field(default_factory=ServiceCache)
    #: The ontology's terms for the pages, read once for this store.
    vocabulary: VocabularyCache = field(default_factory=VocabularyCache)
    users: int = 0
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.idle.set()

    def last_modified(self) -> str | None:
        """Last-Modified of the served data: the build's time, or the last update's."""
        when = self.created
        updates = self.updates
        if updates is not None and updates.last_update is not None:
            when = max(when, updates.last_update) if when else updates.last_update
        return http_date(when) if when else None

    async def retire(self, grace: float) -> None:
        """Close the store once its last request has finished (or after ``grace`` seconds),
        then give the build's lease up."""
        try:
            if self.users:
                await asyncio.wait_for(self.idle.wait(), grace)
        except TimeoutError:
            log.warning("closing %s with %d request(s) still running", self.build_id, self.users)
        try:
            await self.store.close()
        finally:
            if self.lease is not None:
                self.lease.release()


@dataclass(eq=False)
class AppContext:
    """Everything the routes share: the settings, the Cache-Control value, the served store."""

    settings: Settings
    cache_control: str
    served: Served | None = None
    #: Held by an update and by a build switch with updates: no update lost in between.
    update_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Set when a switch failed (the old build keeps being served): shown by /health.
    follow_error: str | None = None

    def current(self) -> Served:
        served = self.served
        if served is None:
            raise StoreUnavailable("the store is not open (the server is starting or stopping)")
        return served

    @asynccontextmanager
    async def use(self) -> AsyncIterator[Served]:
        """The served store for one request, kept open until the request is done with it."""
        served = self.current()
        served.users += 1
        served.idle.clear()
        try:
            yield served
        finally:
            served.users -= 1
            if served.users == 0:
                served.idle.set()

    def swap(self, new: Served | None) -> Served | None:
        """Serve ``new`` from now on; returns the store it replaces (to be retired)."""
        old, self.served = self.served, new
        return old


def context_of(request: Request) -> AppContext:
    """The application context of the app handling ``request``."""
    ctx: AppContext = request.app.state.ctx
    return ctx
