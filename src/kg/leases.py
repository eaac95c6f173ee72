"""Leases on build folders: a build a server is serving is never pruned from under it.

A serving process takes a lease on the build it opened: it creates
``builds/<id>/.serving.<pid>.<n>`` and holds a shared ``flock`` on it for as long as it serves
that build. ``kg build`` prunes a build only when no lease on it is held. The kernel drops a
lock when its process dies (even by SIGKILL), so the lease file of a dead server is stale: the
pruner recognises it by taking the lock itself and removes it. Nothing depends on pids being
alive or unique; the pid in the name only tells a person who held it.
"""

from __future__ import annotations

import fcntl
import itertools
import os
from pathlib import Path
from typing import IO, Final

__all__ = ["LEASE_PREFIX", "Lease", "is_leased", "take_lease"]

LEASE_PREFIX: Final = ".serving."
_counter = itertools.count()


class Lease:
    """A held lease on one build folder; :meth:`release` (or process exit) gives it up."""

    def __init__(self, folder: Path, path: Path, handle: IO[bytes]) -> None:
        self.folder = folder
        self.path = path
        self._handle: IO[bytes] | None = handle

    @property
    def held(self) -> bool:
        return self._handle is not None

    def release(self) -> None:
        """Give the lease up (idempotent)."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        # Unlink first, while locked: a pruner that sees the file and tries it finds it held.
        self.path.unlink(missing_ok=True)
        handle.close()  # closing drops the flock

    def __repr__(self) -> str:
        return f"Lease({self.path}, held={self.held})"


def take_lease(folder: Path) -> Lease:
    """Lease ``folder`` for this process. OSError when the folder cannot be written."""
    path = folder / f"{LEASE_PREFIX}{os.getpid()}.{next(_counter)}"
    handle = path.open("wb")
    try:
        fcntl.flock(handle, fcntl.LOCK_SH)
        # A pruner may have judged the file stale between its creation and our lock, and
        # removed it (and the build): then this lease guards nothing.
        if os.fstat(handle.fileno()).st_ino != path.stat().st_ino:
            raise FileNotFoundError(f"{folder} is being removed")
    except BaseException:
        handle.close()
        path.unlink(missing_ok=True)
        raise
    return Lease(folder, path, handle)


def is_leased(folder: Path) -> bool:
    """True when a live process holds a lease on ``folder``; stale lease files are removed."""
    leased = False
    try:
        candidates = [p for p in folder.iterdir() if p.name.startswith(LEASE_PREFIX)]
    except OSError:
        return False
    for path in candidates:
        try:
            handle = path.open("rb")
        except FileNotFoundError:  # released meanwhile
            continue
        except OSError:
            leased = True  # cannot tell: keep the build
            continue
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                leased = True
                continue
            # Nobody holds it: its process is gone. Remove it while we hold the lock.
            path.unlink(missing_ok=True)
    return leased
