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
import textwrap
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
    "virtuoso_bin",
    "virtuoso_server",
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
    workers: int = 1,
) -> Iterator[str]:
    """``kg serve`` itself (``workers`` HTTP processes, the protocol and logging it sets up)
    over ``var_dir``; yields the base URL. ``env`` adds ``KG_*`` variables."""
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
        str(workers),
    ]
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="kg-serve-") as scratch:
        log_file = log if log is not None else Path(scratch) / "serve.log"
        with _process(command, f"{base}/health", log_file, full_env, start_timeout):
            yield base


# --- Virtuoso (Debian's virtuoso-opensource) ------------------------------------------------

#: Debian's binaries; `make virtuoso` installs the package when they are missing.
VIRTUOSO_T = "virtuoso-t"
VIRTUOSO_ISQL = "isql-vt"

#: A bounded, loopback-only server: ~80 MiB of buffers, one thread per query, SPARQL answers
#: capped, no proxy, no VAD (web UI) installed. `{dir}`, `{sql}`, `{http}` filled in per run.
VIRTUOSO_INI = textwrap.dedent(
    """\
    [Database]
    DatabaseFile       = {dir}/virtuoso.db
    ErrorLogFile       = {dir}/virtuoso.log
    LockFile           = {dir}/virtuoso.lck
    TransactionFile    = {dir}/virtuoso.trx
    xa_persistent_file = {dir}/virtuoso.pxa
    ErrorLogLevel      = 7
    FileExtend         = 200
    MaxCheckpointRemap = 2000
    Striping           = 0
    TempStorage        = TempDatabase

    [TempDatabase]
    DatabaseFile       = {dir}/virtuoso-temp.db
    TransactionFile    = {dir}/virtuoso-temp.trx
    MaxCheckpointRemap = 2000
    Striping           = 0

    [Parameters]
    ServerPort               = 127.0.0.1:{sql}
    LiteMode                 = 0
    DisableUnixSocket        = 1
    DisableTcpSocket         = 0
    MaxClientConnections     = 16
    CheckpointInterval       = 0
    O_DIRECT                 = 0
    CaseMode                 = 2
    AllowOSCalls             = 0
    DirsAllowed              = ., {dir}, {data}
    NumberOfBuffers          = {buffers}
    MaxDirtyBuffers          = {dirty}
    MaxQueryMem              = 256M
    ThreadsPerQuery          = 1
    AsyncQueueMaxThreads     = 4
    VADInstallDir            = {dir}/no-vad

    [HTTPServer]
    ServerPort                  = 127.0.0.1:{http}
    ServerRoot                  = {dir}
    MaxClientConnections        = 16
    ServerThreads               = 16
    MaxKeepAlives               = 16
    KeepAliveTimeout            = 10
    HTTPProxyEnabled            = 0
    EnabledDavVSP               = 0
    EnabledGzipContent          = 0
    Charset                     = UTF-8

    [SPARQL]
    ResultSetMaxRows           = 100000
    MaxQueryCostEstimationTime = 0
    MaxQueryExecutionTime      = {timeout}
    MaxSortedTopRows           = 100000
    """
)


def virtuoso_bin(name: str = VIRTUOSO_T) -> Path:
    """A Virtuoso binary on PATH (Debian package ``virtuoso-opensource``)."""
    found = shutil.which(name)
    if found is None:
        raise ServerError(
            f"{name} not found: install Debian's virtuoso-opensource (`make virtuoso`)"
        )
    return Path(found)


def virtuoso_isql(port: int, sql: str, *, timeout: float = 600.0) -> str:
    """Run ``sql`` with ``isql-vt`` as dba (default password of a fresh database)."""
    done = subprocess.run(
        [str(virtuoso_bin(VIRTUOSO_ISQL)), f"127.0.0.1:{port}", "dba", "dba", "VERBOSE=OFF"],
        input=sql.encode("utf-8"),
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    out = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    # isql exits 0 even when a statement fails; its error lines start with '*** Error'.
    if done.returncode != 0 or "*** Error" in out:
        raise ServerError(f"isql failed ({done.returncode}):\n{out[-4000:]}")
    return out


def virtuoso_load_sql(data_file: Path) -> str:
    """Bulk-load one N-Quads (``.nq``) file: ``ld_dir`` + ``rdf_loader_run`` + checkpoint."""
    folder = str(data_file.parent.resolve()).replace("'", "''")
    name = data_file.name.replace("'", "''")
    # The graph argument is only used for triples files; N-Quads name their own graphs.
    return (
        f"ld_dir('{folder}', '{name}', 'urn:kg:virtuoso:default');\n"
        "rdf_loader_run();\n"
        "checkpoint;\n"
        "SELECT ll_file, ll_state, ll_error FROM DB.DBA.load_list WHERE ll_error IS NOT NULL;\n"
    )


#: Virtuoso's own graphs (its schema, service description, LDP vocabulary) sit in the default
#: graph of a fresh database; made private, anonymous SPARQL sees only the loaded data.
_HIDE_SYSTEM_GRAPHS = """\
DB.DBA.RDF_GRAPH_GROUP_CREATE ('http://www.openlinksw.com/schemas/virtrdf#PrivateGraphs', 1);
CREATE PROCEDURE DB.DBA.KG_HIDE_SYSTEM_GRAPHS () {
  FOR (SELECT DISTINCT __id2i (G) AS GNAME FROM DB.DBA.RDF_QUAD) DO {
    DB.DBA.RDF_GRAPH_GROUP_INS ('http://www.openlinksw.com/schemas/virtrdf#PrivateGraphs', GNAME);
  }
};
DB.DBA.KG_HIDE_SYSTEM_GRAPHS ();
DB.DBA.RDF_DEFAULT_USER_PERMS_SET ('nobody', 0, 1);
DB.DBA.RDF_DEFAULT_USER_PERMS_SET ('nobody', 1, 0);
checkpoint;
"""


def _write_ini(
    folder: Path, data_dir: Path, buffers: int, max_query_seconds: int
) -> tuple[Path, int, int]:
    sql_port, http_port = free_port(), free_port()
    (folder / "no-vad").mkdir(exist_ok=True)
    ini = folder / "virtuoso.ini"
    ini.write_text(
        VIRTUOSO_INI.format(
            dir=folder.resolve(),
            data=data_dir,
            sql=sql_port,
            http=http_port,
            buffers=buffers,
            dirty=buffers * 3 // 4,
            timeout=max_query_seconds,
        ),
        encoding="utf-8",
    )
    return ini, sql_port, http_port


def _virtuoso_template() -> Path:
    """An empty database with the system graphs hidden, made once and kept (~20 s to make).

    Creating a Virtuoso database is most of its start-up time; each server copies this file.
    Kept under var/test-cache/, keyed by the binary (a new package version makes a new one).
    """
    binary = virtuoso_bin().resolve()
    stat = binary.stat()
    folder = REPO_ROOT / "var" / "test-cache" / f"virtuoso-{stat.st_size}-{int(stat.st_mtime)}"
    if (folder / "virtuoso.db").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="virtuoso-template-", dir=folder.parent))
    try:
        ini, sql_port, http_port = _write_ini(work, work, 2000, 60)
        command = [str(binary), "+foreground", "+configfile", str(ini)]
        probe = f"http://127.0.0.1:{http_port}/sparql?query=ASK%7B%7D"
        with _process(command, probe, work / "virtuoso.out", None, 180.0):
            virtuoso_isql(sql_port, _HIDE_SYSTEM_GRAPHS)
        folder.mkdir(exist_ok=True)
        # Another test process may have made it meanwhile: same content, last rename wins.
        os.replace(work / "virtuoso.db", folder / "virtuoso.db")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder


@contextmanager
def virtuoso_server(
    data_file: Path | None,
    *,
    workdir: Path | None = None,
    buffers: int = 10_000,
    max_query_seconds: int = 60,
    start_timeout: float = 120.0,
) -> Iterator[str]:
    """A real Virtuoso on 127.0.0.1 (fresh database in a temporary folder), holding ``data_file``.

    Yields its SPARQL endpoint URL (``http://127.0.0.1:<port>/sparql``). Virtuoso's default
    graph with no FROM and no ``default-graph-uri`` is the union of all graphs, as kg's; its
    own system graphs are private. ``buffers`` × 8 KiB is its page cache (10,000 ≈ 80 MiB).
    """
    template = _virtuoso_template()
    with tempfile.TemporaryDirectory(prefix="kg-virtuoso-") as scratch:
        folder = workdir if workdir is not None else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template / "virtuoso.db", folder / "virtuoso.db")
        data_dir = data_file.parent.resolve() if data_file is not None else folder
        ini, sql_port, http_port = _write_ini(folder, data_dir, buffers, max_query_seconds)
        command = [str(virtuoso_bin()), "+foreground", "+configfile", str(ini)]
        url = f"http://127.0.0.1:{http_port}/sparql"
        probe = f"{url}?query=ASK%7B%7D"
        with _process(command, probe, folder / "virtuoso.out", None, start_timeout):
            if data_file is not None:
                virtuoso_isql(sql_port, virtuoso_load_sql(data_file))
            yield url
