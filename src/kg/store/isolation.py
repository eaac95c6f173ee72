"""Query workers leave the network, and the server does not start if they cannot.

The guard refuses SERVICE and LOAD before any parser sees a query; a worker that has left the
network namespace (``unshare(CLONE_NEWNET)``, through a user namespace when unprivileged)
could not reach anything even if the guard missed one. That second wall fails closed: when
the kernel refuses the namespace, :func:`require` stops the start-up with one line, unless
the setting ``allow_unisolated`` says to run without it; then a warning is logged and SERVICE
stays refused by the guard whatever ``allow_service`` says.

With ``allow_service`` on, workers are not isolated at all: SERVICE needs the network.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Final

from kg.config import Settings
from kg.errors import StoreUnavailable

__all__ = ["Isolation", "drop_network", "probe", "require"]

log = logging.getLogger(__name__)

_CLONE_NEWNET: Final = 0x40000000
_CLONE_NEWUSER: Final = 0x10000000


@dataclass(frozen=True)
class Isolation:
    """How leaving the network went: ``detail`` is what the server logs."""

    isolated: bool
    detail: str

    @classmethod
    def from_detail(cls, detail: str) -> Isolation:
        """Read back a worker's report (it crosses the process boundary as text)."""
        return cls(detail.startswith("isolated"), detail)


def _write_id_map(path: str, line: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(line)


def drop_network() -> Isolation:
    """Leave the network namespace (this process, for good); says how it went."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(_CLONE_NEWNET) == 0:
            return Isolation(True, "isolated")
        uid, gid = os.geteuid(), os.getegid()
        # Unprivileged: a new user namespace grants the right to a new network namespace.
        if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0:
            with contextlib.suppress(OSError):
                _write_id_map("/proc/self/setgroups", "deny")
                _write_id_map("/proc/self/uid_map", f"{uid} {uid} 1")
                _write_id_map("/proc/self/gid_map", f"{gid} {gid} 1")
            return Isolation(True, "isolated (user namespace)")
        return Isolation(False, f"not isolated: unshare failed: {os.strerror(ctypes.get_errno())}")
    except (OSError, AttributeError) as exc:
        return Isolation(False, f"not isolated: {exc}")


_PROBE: Final = (
    "import json, sys; sys.path[:0] = json.loads(sys.argv[1]); "
    "from kg.store.isolation import drop_network; print(drop_network().detail)"
)


def probe(timeout: float = 30.0) -> Isolation:
    """Whether a worker would manage to leave the network: tried in a short-lived child
    process, started as workers are (so ``kg serve`` can say so before it listens)."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, json.dumps(sys.path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Isolation(False, f"not isolated: the probe did not run: {exc}")
    lines = done.stdout.strip().splitlines()
    detail = lines[-1] if lines else f"not isolated: the probe failed ({done.returncode})"
    return Isolation.from_detail(detail)


def require(isolation: Isolation, settings: Settings) -> bool:
    """True when the workers are isolated. When they are not: StoreUnavailable, in one line,
    unless ``allow_unisolated``; then a warning, and False (callers keep SERVICE refused)."""
    if isolation.isolated:
        return True
    if not settings.allow_unisolated:
        raise StoreUnavailable(
            f"query workers cannot leave the network ({isolation.detail}); refusing to start "
            "(set allow_unisolated, KG_ALLOW_UNISOLATED=true, to run with the guard alone)"
        )
    log.warning(
        "query workers are not isolated from the network (%s): running with the guard "
        "alone, SERVICE refused (setting allow_unisolated)",
        isolation.detail,
    )
    return False
