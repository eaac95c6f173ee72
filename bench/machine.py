"""What the benchmark ran on: CPU, memory, kernel, load, and the versions of every piece."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["describe_machine", "load_average"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return 0.0


def load_average() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _command_version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "not found"
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def describe_machine(oxigraph: Path, wrk: str) -> dict[str, str]:
    """A flat description, ready for a markdown table."""
    return {
        "CPU": f"{_cpu_model()} × {os.cpu_count()} logical cores",
        "memory": f"{_mem_total_gib():.1f} GiB",
        "kernel": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "oxigraph server": _command_version([str(oxigraph), "--version"]),
        "pyoxigraph": _version("pyoxigraph"),
        "uvicorn / uvloop / httptools": " / ".join(
            _version(p) for p in ("uvicorn", "uvloop", "httptools")
        ),
        "fastapi / starlette": f"{_version('fastapi')} / {_version('starlette')}",
        "wrk": _command_version([wrk, "--version"]),
    }
