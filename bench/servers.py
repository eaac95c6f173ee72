"""The servers under test: start one on 127.0.0.1, wait until it answers, measure it, stop it.

Each server runs in its own process group (``start_new_session``), so stopping it also stops
the worker processes it spawned; nothing else on the machine is touched.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = [
    "Memory",
    "Server",
    "ServerSpec",
    "cpu_seconds_of_tree",
    "free_port",
    "memory_of_tree",
    "sampling_memory",
    "start_server",
    "stop_server",
    "venv_bin",
    "wait_idle",
]


def venv_bin(name: str) -> Path:
    """A console script installed next to the running interpreter (the project's venv)."""
    return Path(sys.executable).parent / name


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server and where it answers SPARQL queries."""

    name: str
    description: str
    argv: list[str]
    #: Path of the query endpoint (``/query`` for oxigraph, ``/sparql`` for kg).
    query_path: str
    env: Mapping[str, str] = field(default_factory=dict)
    #: An N-Quads file to POST to ``/store`` after start (oxigraph in memory).
    load_file: Path | None = None
    #: Files written before the start, ``{port}`` in their text replaced (e.g. virtuoso.ini).
    config_files: Mapping[Path, str] = field(default_factory=dict)
    #: Called once the server answers, to load its data some other way (timed as the load).
    loader: Callable[[Server], None] | None = None


@dataclass
class Server:
    spec: ServerSpec
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    #: Seconds from spawn until the first query answered (plus the HTTP load, if any).
    start_seconds: float = 0.0
    load_seconds: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def query_url(self) -> str:
        return self.base_url + self.spec.query_path


@dataclass(frozen=True)
class Memory:
    """Resident and proportional set size of a process and all its descendants, in bytes."""

    rss: int
    pss: int
    processes: int


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            kids.extend(int(k) for k in text.split())
    except OSError:
        pass
    return kids


def _field_kib(path: Path, name: str) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def memory_of_tree(pid: int) -> Memory:
    """RSS double-counts pages shared between workers (the store's mmap); PSS splits them."""
    rss = pss = count = 0
    for current in _descendants(pid):
        count += 1
        rss += _field_kib(Path(f"/proc/{current}/status"), "VmRSS")
        pss += _field_kib(Path(f"/proc/{current}/smaps_rollup"), "Pss")
    return Memory(rss=rss, pss=pss, processes=count)


@contextlib.contextmanager
def sampling_memory(pid: int, interval: float = 0.25) -> Iterator[list[Memory]]:
    """Samples the memory of ``pid`` and its descendants every ``interval`` seconds while the
    body runs; the list fills as it goes."""
    samples: list[Memory] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            samples.append(memory_of_tree(pid))
            stop.wait(interval)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


_TICKS = os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(_children(current))
    return found


def cpu_seconds_of_tree(pid: int) -> dict[int, float]:
    """User + system CPU seconds used so far by the process and each live descendant.

    Per process, so that a delta over a run can ignore processes that came or went.
    """
    used: dict[int, float] = {}
    for current in _descendants(pid):
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        # After the command name: state is field 3, utime 14 and stime 15 (1-based).
        used[current] = (int(fields[11]) + int(fields[12])) / _TICKS
    return used


def wait_idle(server: Server, timeout: float = 180.0, interval: float = 0.5) -> float:
    """Wait until the server's processes use under 5% of a core; return the seconds waited.

    wrk stops with requests in flight; a server that keeps computing them would steal CPU
    from the next measurement (all servers share the machine).
    """
    began = time.monotonic()
    previous = cpu_seconds_of_tree(server.process.pid)
    while time.monotonic() - began < timeout:
        time.sleep(interval)
        current = cpu_seconds_of_tree(server.process.pid)
        used = sum(t - previous.get(p, 0.0) for p, t in current.items())
        if used < 0.05 * interval:
            break
        previous = current
    return time.monotonic() - began


_PROBE = "ASK { ?s ?p ?o }"


def _wait_ready(server: Server, deadline: float) -> None:
    with httpx.Client(timeout=5.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"{server.spec.name} exited with {server.process.returncode} while starting; "
                    f"log: {server.log}\n{_tail(server.log)}"
                )
            try:
                response = client.get(
                    server.query_url,
                    params={"query": _PROBE},
                    headers={"Accept": "application/sparql-results+json"},
                )
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"{server.spec.name} did not answer in time; log: {server.log}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start_server(spec: ServerSpec, log_dir: Path, timeout: float = 300.0) -> Server:
    """Spawn ``spec`` on a free 127.0.0.1 port (``{port}`` in argv), wait until it answers."""
    port = free_port()
    argv = [a.replace("{port}", str(port)) for a in spec.argv]
    for path, template in spec.config_files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.replace("{port}", str(port)), encoding="utf-8")
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{spec.name}.log"
    env = {**os.environ, **spec.env}
    began = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    server = Server(spec=spec, port=port, process=process, log=log)
    try:
        _wait_ready(server, began + timeout)
        server.start_seconds = time.monotonic() - began
        if spec.load_file is not None:
            server.load_seconds = _post_dataset(server, spec.load_file, timeout)
        if spec.loader is not None:
            loading = time.monotonic()
            spec.loader(server)
            server.load_seconds = time.monotonic() - loading
    except BaseException:
        stop_server(server)
        raise
    return server


def _post_dataset(server: Server, path: Path, timeout: float) -> float:
    began = time.monotonic()

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as data:
            while block := data.read(1 << 20):
                yield block

    response = httpx.post(
        server.base_url + "/store",
        content=chunks(),
        headers={"Content-Type": "application/n-quads"},
        timeout=timeout,
    )
    if response.status_code >= 300:
        raise RuntimeError(f"loading {path} into {server.spec.name}: HTTP {response.status_code}")
    return time.monotonic() - began


def stop_server(server: Server) -> None:
    """SIGTERM the server's process group, SIGKILL it if still there after 10 s."""
    if server.process.poll() is None:
        try:
            os.killpg(server.process.pid, signal.SIGTERM)
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)
        except ProcessLookupError:
            pass
    # Workers that outlived their parent (same group) must not linger either.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.process.pid, signal.SIGKILL)
