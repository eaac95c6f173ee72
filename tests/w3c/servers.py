"""Start the servers under test on 127.0.0.1 free ports, and stop them.

Two kinds: the reference ``oxigraph serve-read-only`` (PyPI ``oxigraph``) on a store loaded from
the suite's N-Quads, and our endpoint (``api.app:create_app`` under uvicorn, in-memory store on
the same file).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = [
    "REPO_ROOT",
    "Server",
    "ServerError",
    "free_port",
    "kg_server",
    "oxigraph_server",
]

REPO_ROOT = Path(__file__).resolve().parents[2]


class ServerError(RuntimeError):
    """A server did not come up (its output is in the message)."""


@dataclass(frozen=True)
class Server:
    """A running server: its query endpoint URL and its process."""

    endpoint: str
    process: subprocess.Popen[bytes]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _bin(name: str) -> str:
    """A console script of the running interpreter's venv (falls back to PATH)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ServerError(f"{name} not found next to {sys.executable} nor on PATH")
    return found


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            httpx.get(url, params={"query": "ASK {}"}, timeout=2.0)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        return
    raise ServerError(f"server not ready after {timeout}s:\n{log.read_text()[-4000:]}")


@contextmanager
def _running(
    cmd: list[str], endpoint: str, log: Path, env: dict[str, str] | None
) -> Iterator[Server]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
    try:
        _wait_ready(proc, endpoint, log, timeout=60.0)
        yield Server(endpoint=endpoint, process=proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def oxigraph_server(nquads: Path, workdir: Path) -> Iterator[Server]:
    """``oxigraph serve-read-only`` on a fresh store loaded from ``nquads``."""
    store = workdir / "oxigraph-store"
    if store.exists():
        shutil.rmtree(store)
    oxigraph = _bin("oxigraph")
    done = subprocess.run(
        [oxigraph, "load", "--location", str(store), "--file", str(nquads)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise ServerError(f"oxigraph load failed: {done.stderr.decode(errors='replace')}")
    port = free_port()
    cmd = [oxigraph, "serve-read-only", "--location", str(store), "--bind", f"127.0.0.1:{port}"]
    with _running(cmd, f"http://127.0.0.1:{port}/query", workdir / "oxigraph.log", None) as s:
        yield s


@contextmanager
def kg_server(nquads: Path, workdir: Path, path: str = "/sparql") -> Iterator[Server]:
    """Our endpoint (``api.app:create_app``) under uvicorn, in-memory store on ``nquads``."""
    port = free_port()
    env = {
        **os.environ,
        "KG_STORE": "memory",
        "KG_DATASET_FILE": str(nquads),
        "KG_QUERY_TIMEOUT": "10",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)]),
    }
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "api.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with _running(cmd, f"http://127.0.0.1:{port}{path}", workdir / "kg.log", env) as s:
        yield s
