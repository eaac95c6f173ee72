"""Open the served store, and follow ``var/current`` to each new build while serving.

The server holds a lease (:mod:`kg.leases`) on the build it serves, so ``kg build`` never prunes
it. Every ``follow_interval`` seconds it looks where ``var/current`` points; when that is a new
build it opens a store for it beside the old one, swaps the two in the application context
(:meth:`api.state.AppContext.swap`), and retires the old one: requests already running finish on
it, then it is closed and its lease given up. A build that fails to open is logged, reported by
``/health``, and not tried again until ``var/current`` moves; the old build keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any

from api.state import AppContext, Served
from kg.build import find_current, read_manifest
from kg.config import Settings
from kg.errors import KgError, StoreUnavailable
from kg.leases import Lease, take_lease
from kg.store.base import Store
from kg.store.factory import create_build_store, create_store, follows_builds

__all__ = ["follow", "open_build", "open_served", "served_for"]

log = logging.getLogger("kg.api")


def _created(manifest: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(manifest["created"]))
    except (KeyError, ValueError):
        return None


def served_for(settings: Settings, store: Store) -> Served:
    """Describe a store that is not one of the builds (a fixed path or file, remote, a test's)."""
    if settings.store == "remote":
        return Served(store)
    if settings.store == "memory":
        dump = settings.dataset_file or settings.current_build / "dataset.nq"
        folder = dump.resolve().parent
    else:
        path = settings.store_path or settings.current_build / "store"
        folder = path.resolve().parent
        dump = folder / "dataset.nq"
    manifest = read_manifest(folder)
    created = _created(manifest)
    if created is None:
        try:
            created = datetime.fromtimestamp(dump.stat().st_mtime).astimezone()
        except OSError:
            created = None
    return Served(
        store,
        build=folder if manifest else None,
        build_id=str(manifest["build_id"]) if "build_id" in manifest else None,
        created=created,
        dump=dump,
    )


async def open_build(settings: Settings, folder: Path) -> Served:
    """Lease the build ``folder`` and start a store over it."""
    lease: Lease | None
    try:
        lease = take_lease(folder)
    except FileNotFoundError:
        raise StoreUnavailable(f"the build {folder.name} was removed meanwhile") from None
    except OSError as exc:  # a read-only var/: serve anyway, say that pruning may hit us
        log.warning("cannot lease %s (%s): kg build may prune it while it is served", folder, exc)
        lease = None
    try:
        manifest = read_manifest(folder)
        if not manifest:
            raise StoreUnavailable(f"the build {folder} has no readable manifest")
        store, updates = await create_build_store(settings, folder)
        await store.start()
    except BaseException:
        if lease is not None:
            lease.release()
        raise
    return Served(
        store,
        build=folder,
        build_id=str(manifest.get("build_id", folder.name)),
        created=_created(manifest),
        dump=folder / "dataset.nq",
        lease=lease,
        updates=updates,
    )


async def open_served(settings: Settings) -> Served:
    """What the settings ask to serve: the current build (followed), or a fixed store."""
    if follows_builds(settings):
        folder = find_current(settings.var_dir)
        if folder is None:
            raise StoreUnavailable(f"no current build in {settings.var_dir}: run `kg build` first")
        return await open_build(settings, folder)
    store = create_store(settings)
    await store.start()
    return served_for(settings, store)


def _switch_lock(ctx: AppContext) -> AbstractAsyncContextManager[object]:
    # With updates, no update may land on the old store after the new one replayed the journal.
    return ctx.update_lock if ctx.settings.update_token else nullcontext()


async def follow(ctx: AppContext, interval: float) -> None:
    """Switch to each new build ``var/current`` points at, until cancelled."""
    settings = ctx.settings
    failed: Path | None = None
    retiring: set[asyncio.Task[None]] = set()
    grace = settings.query_timeout + 5.0
    try:
        while True:
            await asyncio.sleep(interval)
            target = await asyncio.to_thread(find_current, settings.var_dir)
            served = ctx.served
            if target is None or served is None or target in (served.build, failed):
                continue
            try:
                async with _switch_lock(ctx):
                    new = await open_build(settings, target)
                    old = ctx.swap(new)
            except (KgError, OSError) as exc:
                failed = target
                message = getattr(exc, "message", str(exc))
                ctx.follow_error = f"cannot switch to build {target.name}: {message}"
                log.error("%s; still serving %s", ctx.follow_error, served.build_id)
                continue
            failed, ctx.follow_error = None, None
            log.info("now serving build %s (was %s)", new.build_id, served.build_id)
            if old is not None:
                task = asyncio.create_task(old.retire(grace))
                retiring.add(task)
                task.add_done_callback(retiring.discard)
    finally:
        for task in list(retiring):
            await asyncio.shield(task)
