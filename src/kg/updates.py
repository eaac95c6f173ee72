"""SPARQL updates live beside the builds, never in one.

A build is immutable: its store is what ``kg build`` loaded from the data, and "unchanged"
compares the build's own inputs. Updates (only with ``update_token``) go to a store of their
own, as a journal and a copy:

    var/updates/journal.jsonl          every accepted update, in order (one JSON object a line)
    var/updates/<build-id>/store/      a copy of the build's store with the journal applied
    var/updates/<build-id>/state.json  how many journal entries that copy holds

When the server opens a build with updates enabled, :func:`prepare_copy` copies the build's
store once (later starts reuse the copy) and :class:`UpdatesStore` applies the journal entries
the copy does not hold yet. A new build therefore gets every earlier update replayed on top of
it; to fold updates into the data for good, add them to ``data/`` and remove the journal.

The version (ETags, the result cache) is ``<build-id>+<n>.<digest of the n updates>``: it
changes with each update and stays the same across restarts.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from kg.errors import KgError
from kg.store.base import QueryRequest, QueryResult, Store, StoreInfo

__all__ = [
    "JOURNAL_FILE",
    "UpdatesStore",
    "UpdatesSummary",
    "prepare_copy",
    "read_journal",
    "summary",
    "updates_dir",
]

log = logging.getLogger("kg.updates")

JOURNAL_FILE: Final = "journal.jsonl"
STATE_FILE: Final = "state.json"
STORE_DIR: Final = "store"


def updates_dir(var_dir: Path) -> Path:
    return var_dir / "updates"


@dataclass(frozen=True)
class Entry:
    """One accepted update."""

    update: str
    at: str


def read_journal(var_dir: Path) -> list[Entry]:
    """Every update accepted so far, oldest first (empty when there is none)."""
    path = updates_dir(var_dir) / JOURNAL_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            entries.append(Entry(str(data["update"]), str(data.get("at", ""))))
        except (ValueError, KeyError, TypeError):
            # A torn last line (the process died while appending) was never applied.
            log.warning("%s:%d: unreadable journal entry skipped", path, number)
    return entries


def _digest(entries: list[Entry]) -> str:
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(entry.update.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()[:12]


def version_of(build_id: str, entries: list[Entry]) -> str:
    """The data version of build ``build_id`` with ``entries`` applied."""
    return f"{build_id}+{len(entries)}.{_digest(entries)}" if entries else build_id


def _applied(copy: Path) -> int:
    try:
        data = json.loads((copy / STATE_FILE).read_text(encoding="utf-8"))
        return int(data["applied"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _write_state(copy: Path, build_id: str, applied: int) -> None:
    tmp = copy / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps({"build_id": build_id, "applied": applied}) + "\n", "utf-8")
    os.replace(tmp, copy / STATE_FILE)


def prepare_copy(var_dir: Path, build: Path) -> Path:
    """The folder of the updates copy of ``build`` (``<copy>/store``), made once.

    The build's store is copied file by file while no process writes it (builds are
    read-only), into a partial folder renamed when complete.
    """
    copy = updates_dir(var_dir) / build.name
    if (copy / STORE_DIR).is_dir():
        return copy
    partial = updates_dir(var_dir) / f".{build.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        shutil.copytree(build / STORE_DIR, partial / STORE_DIR)
        _write_state(partial, build.name, 0)
        shutil.rmtree(copy, ignore_errors=True)
        partial.rename(copy)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return copy


@dataclass(frozen=True)
class UpdatesSummary:
    """What ``kg build`` and ``kg stats`` say about updates."""

    changes: int
    copies: dict[str, int]  # build id -> journal entries its copy holds

    def lines(self, current: str | None) -> list[str]:
        if not self.changes and not self.copies:
            return []
        lines = [f"updates: {self.changes} change(s) in the journal (var/updates/{JOURNAL_FILE})"]
        for build_id, applied in sorted(self.copies.items()):
            mark = " (current build)" if build_id == current else ""
            lines.append(
                f"updates on top of build {build_id}{mark}: {applied} change(s), "
                f"served from var/updates/{build_id}/{STORE_DIR}"
            )
        if current is not None and current not in self.copies and self.changes:
            lines.append(
                f"the current build {current} has no updates copy yet: `kg serve` with "
                f"update_token makes one and replays the {self.changes} change(s)"
            )
        return lines


def summary(var_dir: Path) -> UpdatesSummary:
    root = updates_dir(var_dir)
    copies: dict[str, int] = {}
    if root.is_dir():
        for folder in root.iterdir():
            if (
                folder.is_dir()
                and not folder.name.startswith(".")
                and (folder / STORE_DIR).is_dir()
            ):
                copies[folder.name] = _applied(folder)
    return UpdatesSummary(len(read_journal(var_dir)), copies)


class UpdatesStore:
    """A store over an updates copy: journals each update, replays missing ones at start."""

    def __init__(self, inner: Store, var_dir: Path, build_id: str, copy: Path) -> None:
        self.inner = inner
        self.var_dir = var_dir
        self.build_id = build_id
        self.copy = copy
        self._entries: list[Entry] = []
        self._lock = asyncio.Lock()
        self.last_update: datetime | None = None

    @property
    def changes(self) -> int:
        return len(self._entries)

    @property
    def journal(self) -> Path:
        return updates_dir(self.var_dir) / JOURNAL_FILE

    async def start(self) -> None:
        await self.inner.start()
        entries = await asyncio.to_thread(read_journal, self.var_dir)
        applied = _applied(self.copy)
        for index in range(applied, len(entries)):
            try:
                await self.inner.update(entries[index].update)
            except KgError as exc:  # accepted once, so this should not happen; say so loudly
                log.warning("journal entry %d not applied to %s: %s", index + 1, self.copy, exc)
            _write_state(self.copy, self.build_id, index + 1)
        if len(entries) > applied:
            log.info("replayed %d update(s) onto %s", len(entries) - applied, self.copy)
        self._entries = entries
        if entries and entries[-1].at:
            self.last_update = _parse_time(entries[-1].at)

    async def close(self) -> None:
        await self.inner.close()

    async def info(self) -> StoreInfo:
        info = await self.inner.info()
        return StoreInfo(
            version_of(self.build_id, self._entries),
            info.engine,
            info.named_graphs,
            writable=info.writable,
        )

    async def query(self, request: QueryRequest) -> QueryResult:
        return await self.inner.query(request)

    async def update(self, update: str, timeout: float | None = None) -> None:
        """Journal the update, apply it to the copy; a refused update leaves no entry."""
        async with self._lock:
            at = datetime.now(UTC).replace(microsecond=0)
            entry = Entry(update, at.isoformat().replace("+00:00", "Z"))
            size = await asyncio.to_thread(self._append, entry)
            try:
                await self.inner.update(update, timeout)
            except BaseException:
                await asyncio.to_thread(_truncate, self.journal, size)
                raise
            self._entries.append(entry)
            self.last_update = at
            await asyncio.to_thread(_write_state, self.copy, self.build_id, len(self._entries))

    def _append(self, entry: Entry) -> int:
        """Append ``entry`` durably; returns the journal's size before it."""
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"at": entry.at, "update": entry.update}, ensure_ascii=False) + "\n"
        with self.journal.open("ab") as handle:
            size = handle.tell()
            handle.write(line.encode("utf-8", "surrogatepass"))
            handle.flush()
            os.fsync(handle.fileno())
        return size

    def __getattr__(self, name: str) -> Any:
        # Diagnostics of the inner store (e.g. its worker pool) stay reachable.
        return getattr(self.inner, name)


def _truncate(path: Path, size: int) -> None:
    with path.open("r+b") as handle:
        handle.truncate(size)


def _parse_time(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
