"""Caches bounded in bytes: the generic LRU, and the guard's cache of query shapes."""

from __future__ import annotations

import pytest

from kg.sizedcache import SizedCache
from kg.sparql import guard


def test_least_recently_used_leave_first_until_the_total_fits() -> None:
    cache: SizedCache[str, int] = SizedCache(10)
    cache.put("a", 1, 4)
    cache.put("b", 2, 4)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3, 4)
    assert "b" not in cache
    assert (cache.get("a"), cache.get("c")) == (1, 3)
    assert cache.size == 8


def test_an_entry_larger_than_the_capacity_is_not_kept() -> None:
    cache: SizedCache[str, int] = SizedCache(10)
    cache.put("a", 1, 4)
    cache.put("huge", 2, 11)
    assert "huge" not in cache
    assert cache.get("a") == 1


def test_replacing_an_entry_counts_its_new_size_only() -> None:
    cache: SizedCache[str, int] = SizedCache(10)
    cache.put("a", 1, 6)
    cache.put("a", 2, 3)
    assert (cache.get("a"), cache.size, len(cache)) == (2, 3, 1)


def test_negative_capacity_is_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        SizedCache(-1)


def test_the_guard_cache_holds_a_bounded_number_of_bytes() -> None:
    """Two dozen distinct 1 MB queries: the former count-bounded cache kept all of them."""
    guard._cache.clear()
    body = "ASK { } # " + "x" * 1_000_000
    texts = [f"{body}{n}" for n in range(24)]
    for text in texts:
        assert guard.inspect(text).form == "ASK"
    assert guard._cache.size <= guard.CACHE_BYTES
    assert 0 < len(guard._cache) < len(texts)
    assert (texts[-1], None) in guard._cache  # the most recent stays
    assert (texts[0], None) not in guard._cache
    guard._cache.clear()
