"""Open the store the settings ask for, started and wrapped in the result cache.

A server opens one store per build (:func:`create_build_store`): when a new build appears it
opens a new store beside the old one and swaps them, so a store is always bound to one build
folder and never re-pointed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from kg.config import Settings
from kg.store.base import Store
from kg.store.cache import CachedStore
from kg.updates import UpdatesStore, prepare_copy

__all__ = [
    "check_store",
    "create_build_store",
    "create_store",
    "follows_builds",
    "open_store",
]


def follows_builds(settings: Settings) -> bool:
    """True when the served data is ``var/current`` (not a fixed path, file or endpoint)."""
    if settings.store == "embedded":
        return settings.store_path is None
    if settings.store == "memory":
        return settings.dataset_file is None
    return False


def _cached(settings: Settings, inner: Store) -> Store:
    if settings.cache_entries > 0 and settings.cache_bytes > 0:
        return CachedStore(inner, settings.cache_entries, total_bytes=settings.cache_bytes)
    return inner


def create_store(settings: Settings) -> Store:
    """The configured store, not started (``start()`` spawns workers or checks the remote)."""
    inner: Store
    if settings.store == "remote":
        from kg.store.remote import RemoteStore  # noqa: PLC0415 - load the engine in use only

        inner = RemoteStore(settings)
    else:
        from kg.store.embedded import EmbeddedStore  # noqa: PLC0415

        inner = EmbeddedStore(settings)
    return _cached(settings, inner)


async def create_build_store(settings: Settings, build: Path) -> tuple[Store, UpdatesStore | None]:
    """A store (not started) over the build folder ``build``, for a server following builds,
    and its updates layer.

    With ``update_token`` on the on-disk store, the store is the build's updates copy
    (:mod:`kg.updates`): updates never write into a build.
    """
    from kg.store.embedded import EmbeddedStore  # noqa: PLC0415

    if settings.store == "memory":
        store = EmbeddedStore(_pinned(settings, dataset_file=build / "dataset.nq"))
        return _cached(settings, store), None
    if not settings.update_token:
        return _cached(settings, EmbeddedStore(_pinned(settings, store_path=build / "store"))), None
    copy = await asyncio.to_thread(prepare_copy, settings.var_dir, build)
    inner = EmbeddedStore(_pinned(settings, store_path=copy / "store"))
    updates = UpdatesStore(inner, settings.var_dir, build.name, copy)
    return _cached(settings, updates), updates


def _pinned(settings: Settings, **update: Path) -> Settings:
    return settings.model_copy(update=update)


async def open_store(settings: Settings) -> Store:
    """The configured store, started: embedded (on disk), memory, or remote, with the cache."""
    store = create_store(settings)
    await store.start()
    return store


def check_store(settings: Settings) -> None:
    """Raise StoreUnavailable now, with a clear message, when the embedded store cannot open
    (no build yet, no dataset file) or its workers cannot leave the network (unless
    ``allow_unisolated``). A remote endpoint is checked when the store starts."""
    if settings.store != "remote":
        from kg.store.embedded import EmbeddedStore  # noqa: PLC0415
        from kg.store.isolation import probe, require  # noqa: PLC0415

        EmbeddedStore(settings).check()
        if not settings.allow_service:
            require(probe(), settings)
