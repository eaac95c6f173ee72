"""Open the store the settings ask for, started and wrapped in the result cache."""

from __future__ import annotations

from kg.config import Settings
from kg.store.base import Store
from kg.store.cache import CachedStore

__all__ = ["check_store", "create_store", "open_store"]


def create_store(settings: Settings) -> Store:
    """The configured store, not started (``start()`` spawns workers or checks the remote)."""
    inner: Store
    if settings.store == "remote":
        from kg.store.remote import RemoteStore  # noqa: PLC0415 - load the engine in use only

        inner = RemoteStore(settings)
    else:
        from kg.store.embedded import EmbeddedStore  # noqa: PLC0415

        inner = EmbeddedStore(settings)
    if settings.cache_entries > 0 and settings.cache_bytes > 0:
        return CachedStore(inner, settings.cache_entries, total_bytes=settings.cache_bytes)
    return inner


async def open_store(settings: Settings) -> Store:
    """The configured store, started: embedded (on disk), memory, or remote, with the cache."""
    store = create_store(settings)
    await store.start()
    return store


def check_store(settings: Settings) -> None:
    """Raise StoreUnavailable now, with a clear message, when the embedded store cannot open
    (no build yet, no dataset file). A remote endpoint is checked when the store starts."""
    if settings.store != "remote":
        from kg.store.embedded import EmbeddedStore  # noqa: PLC0415

        EmbeddedStore(settings).check()
