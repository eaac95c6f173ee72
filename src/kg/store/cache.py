"""A small LRU of query answers in front of any store, bounded in entries AND total bytes.

Keyed by (store version, query text, dataset, accept, max_rows, row cap, base IRI): an
identical query on unchanged data is answered from memory, and a new build or an update (a new
version) makes every old entry unreachable. Concurrent identical queries share one computation.

An entry costs its answer's bytes plus its key's texts plus a fixed overhead; least recently
used entries go until the total is within ``total_bytes`` (setting cache_bytes).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Final

from kg.store.base import QueryRequest, QueryResult, Store, StoreInfo

__all__ = ["CachedStore"]

_Key = tuple[object, ...]

#: Answers bigger than this are not kept (they would push out many small ones).
MAX_ENTRY_BYTES: Final = 4 * 1024 * 1024
#: Total bytes held by default (Settings.cache_bytes).
TOTAL_BYTES: Final = 64 * 1024 * 1024
#: What an entry costs besides its texts and body: the key tuple, result object, LRU links.
ENTRY_OVERHEAD: Final = 512


def _cost(key: _Key, result: QueryResult) -> int:
    texts = sum(len(part) for part in key if isinstance(part, str))
    graphs = sum(len(g) for part in key if isinstance(part, tuple) for g in part)
    return len(result.body) + texts + graphs + ENTRY_OVERHEAD


class CachedStore:
    """Wrap ``inner`` with an LRU of at most ``entries`` answers and ``total_bytes`` (either 0
    disables the cache)."""

    def __init__(
        self,
        inner: Store,
        entries: int,
        max_entry_bytes: int = MAX_ENTRY_BYTES,
        *,
        total_bytes: int = TOTAL_BYTES,
    ) -> None:
        self.inner = inner
        self.entries = entries if total_bytes > 0 else 0
        self.total_bytes = total_bytes
        # One answer never takes more than a quarter of the cache.
        self.max_entry_bytes = min(max_entry_bytes, total_bytes // 4)
        #: Bytes held now (see _cost).
        self.bytes = 0
        self._lru: OrderedDict[_Key, tuple[QueryResult, int]] = OrderedDict()
        self._running: dict[_Key, asyncio.Task[QueryResult]] = {}
        self.hits = 0
        self.misses = 0

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        self._clear()
        await self.inner.close()

    def _clear(self) -> None:
        self._lru.clear()
        self.bytes = 0

    async def info(self) -> StoreInfo:
        return await self.inner.info()

    async def query(self, request: QueryRequest) -> QueryResult:
        if self.entries <= 0:
            return await self.inner.query(request)
        version = (await self.inner.info()).version
        key: _Key = (
            version,
            request.query,
            request.default_graph_uris,
            request.named_graph_uris,
            request.accept,
            request.max_rows,
            request.row_cap,
            request.base_iri,
        )
        cached = self._lru.get(key)
        if cached is not None:
            self._lru.move_to_end(key)
            self.hits += 1
            return cached[0]
        task = self._running.get(key)
        if task is None:
            self.misses += 1
            task = asyncio.ensure_future(self._compute(key, request))
            task.add_done_callback(_retrieve)
            self._running[key] = task
        else:
            self.hits += 1
        # The computation belongs to the cache: one caller going away cancels nobody else's.
        return await asyncio.shield(task)

    async def _compute(self, key: _Key, request: QueryRequest) -> QueryResult:
        try:
            result = await self.inner.query(request)
        finally:
            self._running.pop(key, None)
        if len(result.body) <= self.max_entry_bytes and key not in self._lru:
            cost = _cost(key, result)
            self._lru[key] = (result, cost)
            self.bytes += cost
            while len(self._lru) > self.entries or self.bytes > self.total_bytes:
                _, (_, freed) = self._lru.popitem(last=False)
                self.bytes -= freed
        return result

    async def update(self, update: str, timeout: float | None = None) -> None:
        await self.inner.update(update, timeout)
        # The version changes with the update; dropping old entries frees their memory now.
        self._clear()

    def __getattr__(self, name: str) -> object:
        # Diagnostics of the inner store (e.g. its worker pool) stay reachable.
        return getattr(self.inner, name)


def _retrieve(task: asyncio.Task[QueryResult]) -> None:
    # Every caller may have gone away: mark the error seen so asyncio does not log it.
    if not task.cancelled():
        task.exception()
