"""Per-app caches keyed by store version: the build's metadata and the service description.

Nothing here is computed per request: each value is made once for a store version (a new
build changes the version) and reused until the version changes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from kg.config import Settings
from kg.errors import KgError
from kg.sparql.service_description import VoidStatistics, collect_statistics
from kg.store.base import Store, StoreInfo

__all__ = ["BuildMeta", "ServiceCache", "build_dir", "dump_file"]

log = logging.getLogger("kg.api")


def build_dir(settings: Settings) -> Path | None:
    """The folder of the served build (embedded store only)."""
    if settings.store != "embedded":
        return None
    if settings.store_path is not None:
        return settings.store_path.parent
    return settings.current_build.resolve()


def dump_file(settings: Settings) -> Path | None:
    """The N-Quads (or TriG) file the served data came from; None for a remote store."""
    if settings.store == "memory":
        return settings.dataset_file
    folder = build_dir(settings)
    return folder / "dataset.nq" if folder is not None else None


@dataclass
class _Meta:
    version: str
    last_modified: str | None
    dump: Path | None


class BuildMeta:
    """Last-Modified and the dump file of the current store version, read once per version."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._meta: _Meta | None = None

    def _load(self, version: str) -> _Meta:
        dump = dump_file(self._settings)
        folder = build_dir(self._settings)
        when: datetime | None = None
        if folder is not None:
            try:
                manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
                when = datetime.fromisoformat(str(manifest["created"]))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.info("no build time from %s/manifest.json: %s", folder, exc)
        if when is None and dump is not None:
            try:
                when = datetime.fromtimestamp(dump.stat().st_mtime, UTC)
            except OSError:
                when = None
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        stamp = format_datetime(when.astimezone(UTC), usegmt=True) if when else None
        return _Meta(version, stamp, dump)

    def _current(self, info: StoreInfo) -> _Meta:
        meta = self._meta
        if meta is None or meta.version != info.version:
            meta = self._meta = self._load(info.version)
        return meta

    def last_modified(self, info: StoreInfo) -> str | None:
        """HTTP date of the build (manifest ``created``, else the data file's mtime)."""
        return self._current(info).last_modified

    def dump(self, info: StoreInfo) -> Path | None:
        return self._current(info).dump


class ServiceCache:
    """VoID statistics (one store run per version) and serialised descriptions."""

    def __init__(self) -> None:
        self._version: str | None = None
        self._stats: VoidStatistics | None = None
        self._bodies: dict[tuple[str, str], bytes] = {}
        self._lock = asyncio.Lock()

    async def statistics(
        self, store: Store, settings: Settings, info: StoreInfo
    ) -> VoidStatistics | None:
        """The statistics for ``info.version``; None (and retried next time) if they failed."""
        if self._version == info.version and self._stats is not None:
            return self._stats
        async with self._lock:
            if self._version == info.version and self._stats is not None:
                return self._stats
            try:
                stats = await collect_statistics(store, settings)
            except KgError as exc:
                log.warning("VoID statistics failed, description served without them: %s", exc)
                return None
            self._version, self._stats, self._bodies = info.version, stats, {}
            return stats

    def body(self, version: str, key: tuple[str, str]) -> bytes | None:
        return self._bodies.get(key) if self._version == version else None

    def store_body(self, version: str, key: tuple[str, str], body: bytes) -> None:
        if self._version == version:
            if len(self._bodies) > 256:  # many Host names: keep the cache bounded
                self._bodies.clear()
            self._bodies[key] = body
