"""The result cache: identical queries on unchanged data are answered once."""

from __future__ import annotations

import asyncio

import pytest

from kg.errors import QuerySyntaxError
from kg.store.base import QueryRequest, QueryResult, StoreInfo
from kg.store.cache import CachedStore


class CountingStore:
    """A fake inner store that counts the queries it really answers."""

    def __init__(self) -> None:
        self.version = "v1"
        self.calls: list[QueryRequest] = []
        self.delay = 0.0

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def info(self) -> StoreInfo:
        return StoreInfo(self.version, "counting")

    async def query(self, request: QueryRequest) -> QueryResult:
        self.calls.append(request)
        await asyncio.sleep(self.delay)
        if "oops" in request.query:
            raise QuerySyntaxError("oops")
        body = f"{self.version}:{request.query}:{len(self.calls)}".encode()
        return QueryResult(body, request.accept[0], "solutions", rows=1)

    async def update(self, update: str, timeout: float | None = None) -> None:
        del update, timeout
        self.version = "v2"


def run(inner: CountingStore, entries: int, requests: list[QueryRequest]) -> list[QueryResult]:
    async def main() -> list[QueryResult]:
        cache = CachedStore(inner, entries)
        return [await cache.query(r) for r in requests]

    return asyncio.run(main())


def test_identical_queries_are_answered_once() -> None:
    inner = CountingStore()
    q = QueryRequest("SELECT 1")
    results = run(inner, 8, [q, q, QueryRequest("SELECT 1")])
    assert len(inner.calls) == 1
    assert results[0] is results[1] is results[2]


@pytest.mark.parametrize(
    "other",
    [
        QueryRequest("SELECT 2"),
        QueryRequest("SELECT 1", accept=("text/csv",)),
        QueryRequest("SELECT 1", default_graph_uris=("http://g",)),
        QueryRequest("SELECT 1", named_graph_uris=("http://g",)),
        QueryRequest("SELECT 1", max_rows=3),
        QueryRequest("SELECT 1", row_cap=False),
        QueryRequest("SELECT 1", base_iri="http://b/"),
    ],
)
def test_anything_that_changes_the_answer_is_part_of_the_key(other: QueryRequest) -> None:
    inner = CountingStore()
    run(inner, 8, [QueryRequest("SELECT 1"), other])
    assert len(inner.calls) == 2


def test_a_new_version_is_a_miss() -> None:
    inner = CountingStore()

    async def main() -> tuple[QueryResult, QueryResult]:
        cache = CachedStore(inner, 8)
        first = await cache.query(QueryRequest("SELECT 1"))
        await cache.update("INSERT DATA {}")
        return first, await cache.query(QueryRequest("SELECT 1"))

    first, second = asyncio.run(main())
    assert first.body.startswith(b"v1:")
    assert second.body.startswith(b"v2:")


def test_least_recently_used_is_evicted() -> None:
    inner = CountingStore()
    a, b, c = (QueryRequest(f"SELECT {n}") for n in "abc")
    run(inner, 2, [a, b, a, c, a, b])
    # a, b computed; a hit; c evicts b; a hit; b computed again.
    assert [r.query for r in inner.calls] == ["SELECT a", "SELECT b", "SELECT c", "SELECT b"]


def test_errors_are_not_cached() -> None:
    inner = CountingStore()

    async def main() -> None:
        cache = CachedStore(inner, 8)
        for _ in range(2):
            with pytest.raises(QuerySyntaxError):
                await cache.query(QueryRequest("oops"))

    asyncio.run(main())
    assert len(inner.calls) == 2


def test_concurrent_identical_queries_share_one_computation() -> None:
    inner = CountingStore()
    inner.delay = 0.05

    async def main() -> list[QueryResult]:
        cache = CachedStore(inner, 8)
        return await asyncio.gather(*(cache.query(QueryRequest("SELECT 1")) for _ in range(5)))

    results = asyncio.run(main())
    assert len(inner.calls) == 1
    assert len({r.body for r in results}) == 1


def test_zero_entries_disables_the_cache() -> None:
    inner = CountingStore()
    q = QueryRequest("SELECT 1")
    run(inner, 0, [q, q])
    assert len(inner.calls) == 2


def test_the_cache_is_bounded_in_total_bytes() -> None:
    """Many entries allowed, few bytes: the oldest answers go, the total stays under the cap."""
    inner = CountingStore()

    async def main() -> CachedStore:
        cache = CachedStore(inner, 10_000, total_bytes=8 * 1024)
        for i in range(200):
            await cache.query(QueryRequest(f"SELECT {i} # " + "x" * 200))
        return cache

    cache = asyncio.run(main())
    assert 0 < cache.bytes <= 8 * 1024
    assert len(cache._lru) < 20  # bytes, not entries, bounded it
    assert cache.bytes == sum(cost for _, cost in cache._lru.values())
    # The most recent answer is still there; the first is gone.
    calls = len(inner.calls)

    async def again() -> None:
        await cache.query(QueryRequest("SELECT 199 # " + "x" * 200))
        await cache.query(QueryRequest("SELECT 0 # " + "x" * 200))

    asyncio.run(again())
    assert len(inner.calls) == calls + 1


def test_an_answer_over_a_quarter_of_the_cache_is_not_kept() -> None:
    inner = CountingStore()

    async def main() -> CachedStore:
        cache = CachedStore(inner, 100, total_bytes=1024)
        await cache.query(QueryRequest("SELECT 1 # " + "y" * 400))
        await cache.query(QueryRequest("SELECT 1 # " + "y" * 400))
        return cache

    cache = asyncio.run(main())
    assert len(inner.calls) == 2
    assert cache.bytes == 0
