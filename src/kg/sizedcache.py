"""A least-recently-used cache bounded by the total size of its entries, not their count.

A count bound says nothing about memory when one entry may be a 1 MB query text: 4,096 of
them were 4 GB. Each entry here declares its size (characters, bytes: the caller's unit) and
the oldest entries leave until the total fits. Not thread-safe: callers that share one across
threads hold a lock around it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["SizedCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SizedCache(Generic[K, V]):
    """At most ``capacity`` units of entries; an entry larger than that is not kept."""

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        self.capacity = capacity
        self.size = 0
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: K) -> V | None:
        """The value, now the most recently used; None when absent."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: K, value: V, size: int) -> None:
        """Keep ``value`` (``size`` units), dropping the least recently used to make room."""
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= old[1]
        if size > self.capacity:
            return
        self._entries[key] = (value, size)
        self.size += size
        while self.size > self.capacity:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.size -= dropped

    def clear(self) -> None:
        self._entries.clear()
        self.size = 0
