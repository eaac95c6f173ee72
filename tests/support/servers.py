"""Real servers for tests: ``oxigraph serve`` and our own API under uvicorn, on 127.0.0.1.

Each context manager picks a free port, starts the process, waits until it answers HTTP, yields
its URL and stops it (terminate, then kill) however the test ends. A server that does not come
up raises ServerError with the end of its output.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

__all__ = [
    "REPO_ROOT",
    "ServerError",
    "api_server",
    "free_port",
    "kg_server",
    "oxigraph_bin",
    "oxigraph_load",
    "oxigraph_server",
]

REPO_ROOT = Path(__file__).resolve().parents[2]


class ServerError(RuntimeError):
    """A server did not come up (its output is in the message)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def oxigraph_bin() -> Path:
    """The ``oxigraph`` server binary of the running venv (PyPI package ``oxigraph``)."""
    candidate = Path(sys.executable).parent / "oxigraph"
    if candidate.exists():
        return candidate
    found = shutil.which("oxigraph")
    if found is None:
        raise ServerError(f"oxigraph not found next to {sys.executable} nor on PATH")
    return Path(found)


def oxigraph_load(data_file: Path, location: Path) -> None:
    """``oxigraph load --location DIR --file F`` (the format is guessed from the extension)."""
    done = subprocess.run(
        [str(oxigraph_bin()), "load", "--location", str(location), "--file", str(data_file)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise ServerError(f"oxigraph load failed: {done.stderr.decode(errors='replace')}")


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-4000:]
    except OSError:
        return "(no output)"


def _wait_until_answering(
    process: subprocess.Popen[bytes], probe: str, log: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"server exited with {process.returncode}:\n{_tail(log)}")
        try:
            httpx.get(probe, timeout=2.0)
        except httpx.TransportError:
            time.sleep(0.05)
            continue
        return
    raise ServerError(f"server not answering after {timeout:g} s:\n{_tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def _process(
    command: list[str], probe: str, log: Path, env: Mapping[str, str] | None, timeout: float
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=REPO_ROOT,
        )
    try:
        _wait_until_answering(process, probe, log, timeout)
        yield process
    finally:
        _stop(process)


@contextmanager
def oxigraph_server(
    data_file: Path,
    location: Path | None = None,
    *,
    union_default_graph: bool = True,
    read_only: bool = True,
    timeout_s: int | None = None,
    start_timeout: float = 60.0,
) -> Iterator[str]:
    """A real Oxigraph server holding ``data_file``; yields its query URL (``…/query``).

    The data is loaded with ``oxigraph load`` into ``location`` (a fresh temporary folder when
    not given), then served by ``serve-read-only`` (or ``serve`` when ``read_only`` is false:
    its update URL is the query URL with ``/update`` instead of ``/query``).
    """
    with tempfile.TemporaryDirectory(prefix="kg-oxigraph-") as scratch:
        folder = location if location is not None else Path(scratch) / "store"
        if folder.exists():
            shutil.rmtree(folder)
        oxigraph_load(data_file, folder)
        port = free_port()
        command = [
            str(oxigraph_bin()),
            "serve-read-only" if read_only else "serve",
            "--location",
            str(folder),
            "--bind",
            f"127.0.0.1:{port}",
        ]
        if union_default_graph:
            command.append("--union-default-graph")
        if timeout_s is not None:
            command += ["--timeout-s", str(timeout_s)]
        url = f"http://127.0.0.1:{port}/query"
        probe = f"{url}?query=ASK%7B%7D"
        with _process(command, probe, Path(scratch) / "oxigraph.log", None, start_timeout):
            yield url


@contextmanager
def api_server(
    env: Mapping[str, str], *, start_timeout: float = 60.0, log: Path | None = None
) -> Iterator[str]:
    """Our API (``uvicorn --factory api.app:create_app``) with the given ``KG_*`` variables.

    Yields the base URL (``http://127.0.0.1:<port>``). The child sees this checkout on its
    PYTHONPATH, the current environment, and ``env`` on top.
    """
    port = free_port()
    python_path = [str(REPO_ROOT / "src"), str(REPO_ROOT)]
    if os.environ.get("PYTHONPATH"):
        python_path.append(os.environ["PYTHONPATH"])
    full_env = {**os.environ, "PYTHONPATH": os.pathsep.join(python_path), **env}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "api.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="kg-api-") as scratch:
        log_file = log if log is not None else Path(scratch) / "api.log"
        with _process(command, f"{base}/sparql?query=ASK%7B%7D", log_file, full_env, start_timeout):
            yield base


@contextmanager
def kg_server(
    var_dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    start_timeout: float = 60.0,
    log: Path | None = None,
) -> Iterator[str]:
    """``kg serve`` itself (one HTTP process, the protocol and logging it sets up) over
    ``var_dir``; yields the base URL. ``env`` adds ``KG_*`` variables."""
    port = free_port()
    python_path = [str(REPO_ROOT / "src"), str(REPO_ROOT)]
    full_env = {**os.environ, "PYTHONPATH": os.pathsep.join(python_path), **(env or {})}
    command = [
        sys.executable,
        "-m",
        "kg.cli",
        "--var-dir",
        str(var_dir),
        "serve",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="kg-serve-") as scratch:
        log_file = log if log is not None else Path(scratch) / "serve.log"
        with _process(command, f"{base}/health", log_file, full_env, start_timeout):
            yield base
