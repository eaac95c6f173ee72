"""The embedded store: pyoxigraph in killable worker processes (see :mod:`kg.store.workers`).

Two ways to hold the data, chosen by ``Settings.store``:

- ``embedded``: every worker opens the on-disk store of the current build read-only
  (``settings.store_path`` or ``var/current/store``, resolved once at start so a new build
  does not change a running server). Its version is the build id from ``manifest.json``.
- ``memory``: every worker loads ``settings.dataset_file`` (default: the current build's
  ``dataset.nq``) into memory. Its version is the build id next to the file, else a hash of it.

SPARQL Update (only with ``update_token`` set): in memory, each update is applied to every
worker while no query runs, and logged so that a replacement worker replays it; on disk, the
pool is a single read-write worker (RocksDB allows one writer), so queries and updates are
serialised through it. Either way the version changes with every update.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from kg.config import Settings
from kg.errors import (
    BadParameter,
    NotAcceptable,
    QuerySyntaxError,
    StoreError,
    StoreUnavailable,
    UnsupportedQuery,
    UpdateNotAllowed,
)
from kg.sparql import guard
from kg.sparql.results import choose_media_type
from kg.store import isolation
from kg.store.base import QueryRequest, QueryResult, ResultKind, StoreInfo
from kg.store.isolation import Isolation
from kg.store.workers import WorkerConfig, WorkerPool

__all__ = ["EmbeddedStore", "build_version"]

_KINDS: dict[str, ResultKind] = {
    "SELECT": "solutions",
    "ASK": "boolean",
    "CONSTRUCT": "graph",
    "DESCRIBE": "graph",
}


def build_version(folder: Path) -> str | None:
    """The build id from ``folder/manifest.json``, or None when there is none."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict):
        return None
    build_id = manifest.get("build_id")
    return str(build_id) if build_id else None


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _raise_error(header: dict[str, Any]) -> None:
    error = header.get("error")
    message = str(header.get("message", "the query failed"))
    if error == "syntax":
        raise QuerySyntaxError(message)
    if error == "not_acceptable":
        raise NotAcceptable(message, header.get("offered") or ())
    if error == "bad_parameter":
        raise BadParameter(message)
    if error == "unsupported":
        raise UnsupportedQuery(message)
    raise StoreError(message)


class EmbeddedStore:
    """pyoxigraph behind a pool of worker processes; ``settings.store`` is embedded or memory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: WorkerPool | None = None
        self._version = ""
        self._graphs: tuple[str, ...] = ()
        self._engine = ""
        self._writable = bool(settings.update_token)
        self._mode = ""
        #: SERVICE passes the guard only when allowed and the workers may use the network.
        self._service_allowed = False

    def _source(self) -> Path:
        """The dataset file (store=memory) or store folder to open; StoreUnavailable if missing."""
        settings = self.settings
        if settings.store == "memory":
            dataset = settings.dataset_file or settings.current_build / "dataset.nq"
            if not dataset.is_file():
                raise StoreUnavailable(
                    f"store=memory needs a dataset file: {dataset} does not exist "
                    "(set dataset_file, KG_DATASET_FILE, or run `kg build`)"
                )
            return dataset.resolve()
        path = settings.store_path or settings.current_build / "store"
        if not path.is_dir():
            raise StoreUnavailable(
                f"no on-disk store at {path} (run `kg build`, or set store_path, KG_STORE_PATH)"
            )
        return path.resolve()

    def _configure(self) -> tuple[WorkerConfig, int]:
        settings = self.settings
        isolate = not settings.allow_service
        source = self._source()
        if settings.store == "memory":
            self._version = build_version(source.parent) or _file_digest(source)
            self._mode = "memory"
            config = WorkerConfig("memory", dataset_file=str(source), isolate_network=isolate)
            return config, settings.query_workers
        self._version = build_version(source.parent) or _file_digest_of_folder(source)
        if self._writable:
            # RocksDB allows one writer: queries and updates share a single read-write worker.
            self._mode = "on-disk, read-write"
            return WorkerConfig("read-write", path=str(source), isolate_network=isolate), 1
        self._mode = "on-disk, read-only"
        config = WorkerConfig("read-only", path=str(source), isolate_network=isolate)
        return config, settings.query_workers

    def check(self) -> None:
        """Raise StoreUnavailable if the configured store or dataset is missing. Cheap: opens,
        hashes and spawns nothing (start() does that)."""
        self._source()

    async def start(self) -> None:
        """Spawn the workers and learn the store's named graphs. StoreUnavailable when the
        workers should leave the network and cannot, unless ``allow_unisolated``."""
        config, size = self._configure()
        pool = WorkerPool(config, size)
        await pool.start()
        if config.isolate_network:
            try:
                isolated = isolation.require(
                    Isolation.from_detail(pool.network_status), self.settings
                )
            except StoreUnavailable:
                await pool.close()
                raise
            # Not isolated (allowed by the setting): the guard alone keeps SERVICE out.
            self._service_allowed = self.settings.allow_service and isolated
        else:
            self._service_allowed = self.settings.allow_service
        self._pool = pool
        self._engine = f"pyoxigraph {ox.__version__} ({self._mode}, {size} worker processes)"
        await self._refresh_graphs()

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @property
    def pool(self) -> WorkerPool:
        """The worker pool (for diagnostics and tests); StoreUnavailable when closed."""
        if self._pool is None:
            raise StoreUnavailable("the store is not open")
        return self._pool

    async def _refresh_graphs(self) -> None:
        header, body = await self.pool.request({"op": "graphs"}, self.settings.query_timeout)
        if not header.get("ok"):
            _raise_error(header)
        self._graphs = tuple(json.loads(body))

    async def info(self) -> StoreInfo:
        self.pool  # noqa: B018 - raises StoreUnavailable when closed
        return StoreInfo(self._version, self._engine, self._graphs, writable=self._writable)

    async def query(self, request: QueryRequest) -> QueryResult:
        """Guard the query, then run it in a worker under its deadline."""
        settings = self.settings
        shape = await guard.check_off_loop(
            request.query,
            settings,
            self._graphs,
            default_graph_uris=request.default_graph_uris,
            named_graph_uris=request.named_graph_uris,
            base_iri=request.base_iri,
            # pyoxigraph never fetches a graph name: an unknown graph is just empty.
            refuse_unknown_graphs=False,
            allow_service=self._service_allowed,
        )
        if shape.is_update:
            raise QuerySyntaxError("this is a SPARQL Update, not a query: send it as an update")
        kind = _KINDS.get(shape.form or "")
        if kind is not None:
            choose_media_type(kind, request.accept)  # refuse early, without a round trip
        protocol_dataset = bool(request.default_graph_uris or request.named_graph_uris)
        max_rows = settings.max_result_rows
        if request.max_rows is not None:
            max_rows = min(max(request.max_rows, 0), max_rows)
        timeout = request.timeout if request.timeout is not None else settings.query_timeout
        message: dict[str, Any] = {
            "op": "query",
            "query": request.query,
            "accept": list(request.accept),
            "default_graphs": list(request.default_graph_uris),
            "named_graphs": list(request.named_graph_uris),
            # pyoxigraph's union flag would override a FROM clause: only without one.
            "union": settings.union_default_graph and not shape.has_dataset,
            "base_iri": request.base_iri,
            "max_rows": max_rows,
        }
        if protocol_dataset:
            message["union"] = False
        if kind == "graph" and shape.prefixes:
            message["prefixes"] = dict(shape.prefixes)
        header, body = await self.pool.request(message, timeout)
        if not header.get("ok"):
            _raise_error(header)
        return QueryResult(
            body,
            header["media_type"],
            header["kind"],
            rows=header.get("rows"),
            truncated=bool(header.get("truncated")),
        )

    async def update(self, update: str, timeout: float | None = None) -> None:
        """Apply a SPARQL Update (only when ``update_token`` is set)."""
        if not self._writable:
            raise UpdateNotAllowed(
                "this store is read-only: SPARQL Update is disabled (set update_token, "
                "KG_UPDATE_TOKEN, to enable it)"
            )
        shape = await guard.check_off_loop(
            update, self.settings, self._graphs, allow_service=self._service_allowed
        )
        if shape.form is not None and not shape.is_update:
            raise QuerySyntaxError("this is a query, not a SPARQL Update")
        deadline = timeout if timeout is not None else self.settings.query_timeout
        message = {"op": "update", "update": update}
        pool = self.pool
        if pool.config.mode == "memory":
            header, _ = await pool.broadcast(message, deadline)
        else:
            header, _ = await pool.request(message, deadline)
        if not header.get("ok"):
            _raise_error(header)
        self._version = hashlib.sha256(f"{self._version}\n{update}".encode()).hexdigest()[:16]
        await self._refresh_graphs()


def _file_digest_of_folder(path: Path) -> str:
    """A cheap stand-in version for a store folder without a manifest: names, sizes, mtimes."""
    digest = hashlib.sha256(str(path).encode())
    for item in sorted(path.iterdir()):
        stat = item.stat()
        digest.update(f"{item.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]
