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
import logging
from pathlib import Path

import pyoxigraph as ox

from kg.build import read_manifest
from kg.config import Settings
from kg.errors import StoreError, StoreUnavailable, UpdateNotAllowed, error_from_code
from kg.sparql.types import QueryRequest, QueryResult, ResultKind, StoreInfo
from kg.store import isolation
from kg.store.inprocess import InProcessLane, supervised
from kg.store.isolation import Isolation
from kg.store.messages import Answer, Done, Failure, GraphsJob, QueryJob, Reply, UpdateJob
from kg.store.prepare import PreparedQuery, prepare_query, prepare_update
from kg.store.workers import WorkerConfig, WorkerPool

__all__ = [
    "EmbeddedStore",
    "build_version",
    "check_reply",
    "query_job",
    "query_result",
    "search_index_file",
]

log = logging.getLogger("kg.store")

_RESULT_KINDS: dict[str, ResultKind] = {
    "boolean": "boolean",
    "solutions": "solutions",
    "graph": "graph",
}


def build_version(folder: Path) -> str | None:
    """The build id from ``folder/manifest.json``, or None when there is none."""
    build_id = read_manifest(folder).get("build_id")
    return str(build_id) if build_id else None


def search_index_file(folder: Path) -> str | None:
    """The search index file the build in ``folder`` holds (kg.search), None without one."""
    name = read_manifest(folder).get("search_index")
    if not isinstance(name, str) or not name or "/" in name:
        return None
    path = folder / name
    return str(path) if path.is_file() else None


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def check_reply(reply: Reply) -> None:
    """Raise the error a worker reported (by its code in kg.errors.ERROR_CODES)."""
    if isinstance(reply, Failure):
        raise error_from_code(reply.code, reply.message, reply.offered)
    if not isinstance(reply, Answer | Done):
        raise StoreError(f"a query worker answered {reply!r}")


def query_job(request: QueryRequest, prepared: PreparedQuery, settings: Settings) -> QueryJob:
    """The job a worker runs for ``request`` (guarded and capped by ``prepared``)."""
    protocol_dataset = bool(request.default_graph_uris or request.named_graph_uris)
    return QueryJob(
        query=request.query,
        accept=tuple(request.accept),
        max_rows=prepared.max_rows,
        default_graphs=tuple(request.default_graph_uris),
        named_graphs=tuple(request.named_graph_uris),
        # pyoxigraph's union flag would override a FROM clause: only without one.
        union=settings.union_default_graph
        and not prepared.shape.has_dataset
        and not protocol_dataset,
        base_iri=request.base_iri,
        prefixes=tuple(prepared.shape.prefixes.items()) if prepared.kind == "graph" else (),
        max_value_bytes=prepared.max_value_bytes,
    )


def query_result(reply: Reply, body: bytes) -> QueryResult:
    """The answer a worker sent for a :class:`QueryJob`; raises the error of a Failure."""
    check_reply(reply)
    assert isinstance(reply, Answer)  # check_reply let only an answer through
    kind = _RESULT_KINDS.get(reply.kind)
    if kind is None:
        raise StoreError(f"a query worker answered an unknown kind {reply.kind!r}")
    return QueryResult(body, reply.media_type, kind, rows=reply.rows, truncated=reply.truncated)


class EmbeddedStore:
    """pyoxigraph behind a pool of worker processes; ``settings.store`` is embedded or memory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: WorkerPool | None = None
        #: The in-process lane (see kg.store.inprocess), on an on-disk read-only store only.
        self._lane: InProcessLane | None = None
        self._version = ""
        #: The build's search index file (its version is checked where it is read).
        self._search_index: str | None = None
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
        memory = settings.worker_memory_mb
        source = self._source()
        self._search_index = search_index_file(source.parent)
        if settings.store == "memory":
            self._version = build_version(source.parent) or _file_digest(source)
            self._mode = "memory"
            config = WorkerConfig(
                "memory", dataset_file=str(source), isolate_network=isolate, memory_mb=memory
            )
            return config, settings.query_workers
        self._version = build_version(source.parent) or _file_digest_of_folder(source)
        if self._writable:
            # RocksDB allows one writer: queries and updates share a single read-write worker.
            self._mode = "on-disk, read-write"
            config = WorkerConfig(
                "read-write", path=str(source), isolate_network=isolate, memory_mb=memory
            )
            return config, 1
        self._mode = "on-disk, read-only"
        config = WorkerConfig(
            "read-only", path=str(source), isolate_network=isolate, memory_mb=memory
        )
        return config, settings.query_workers

    def check(self) -> None:
        """Raise StoreUnavailable if the configured store or dataset is missing. Cheap: opens,
        hashes and spawns nothing (start() does that)."""
        self._source()

    async def start(self) -> None:
        """Spawn the workers and learn the store's named graphs. StoreUnavailable when the
        workers should leave the network and cannot, unless ``allow_unisolated``."""
        config, size = self._configure()
        settings = self.settings
        # The read-write store has one process (one RocksDB writer): no second lane there.
        lanes = config.mode != "read-write"
        pool = WorkerPool(
            config,
            size,
            light_budget=settings.light_budget if lanes else None,
            heavy_slots=settings.heavy_queries,
            queue_limit=settings.query_queue,
            client_limit=settings.client_concurrency,
            client_penalty=settings.client_penalty,
            memory_budget_mb=settings.query_memory_budget_mb,
        )
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
        if self._use_lane(config):
            assert config.path is not None  # read-only mode has a path
            lane = InProcessLane(
                config.path,
                budget=settings.inprocess_budget,
                threads=settings.inprocess_threads,
                memory_mb=settings.worker_memory_mb,
                stack_bytes=config.stack_bytes,
            )
            try:
                await lane.start()
            except (OSError, ValueError, RuntimeError) as exc:  # the workers opened it: unlikely
                log.warning("no in-process lane (%s): every query goes to a worker", exc)
            else:
                self._lane = lane
                self._engine += f", in-process lane ({settings.inprocess_budget:g} s budget)"
        await self._refresh_graphs()

    def _use_lane(self, config: WorkerConfig) -> bool:
        """The lane needs a read-only store, a budget, and a supervisor to replace this
        process should a query thread run away (see kg.store.inprocess); tests may force it."""
        budget = self.settings.inprocess_budget
        return config.mode == "read-only" and budget > 0 and (self.force_lane or supervised())

    #: Run the lane without a supervisor (tests; a stray thread then cannot be got rid of).
    force_lane = False

    @property
    def lane(self) -> InProcessLane | None:
        """The in-process lane, if this store runs one (diagnostics and tests)."""
        return self._lane

    async def close(self) -> None:
        lane, self._lane = self._lane, None
        if lane is not None:
            await lane.close()
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
        reply, body = await self.pool.request(GraphsJob(), self.settings.query_timeout)
        check_reply(reply)
        self._graphs = tuple(json.loads(body))

    async def info(self) -> StoreInfo:
        self.pool  # noqa: B018 - raises StoreUnavailable when closed
        return StoreInfo(
            self._version,
            self._engine,
            self._graphs,
            writable=self._writable,
            search_index=self._search_index,
        )

    async def query(self, request: QueryRequest) -> QueryResult:
        """Guard the query, then run it under its deadline: in the in-process lane when a
        thread is free there, else in a worker."""
        settings = self.settings
        # pyoxigraph never fetches a graph name: an unknown graph is just empty.
        prepared = await prepare_query(
            request,
            settings,
            self._graphs,
            refuse_unknown_graphs=False,
            allow_service=self._service_allowed,
        )
        job = query_job(request, prepared, settings)
        lane = self._lane
        first = lane.run if lane is not None and lane.usable else None
        reply, body = await self.pool.request(
            job, prepared.timeout, client=request.client, first=first
        )
        return query_result(reply, body)

    async def update(self, update: str, timeout: float | None = None) -> None:
        """Apply a SPARQL Update (only when ``update_token`` is set)."""
        if not self._writable:
            raise UpdateNotAllowed(
                "this store is read-only: SPARQL Update is disabled (set update_token, "
                "KG_UPDATE_TOKEN, to enable it)"
            )
        default = await prepare_update(
            update, self.settings, self._graphs, allow_service=self._service_allowed
        )
        deadline = timeout if timeout is not None else default
        job = UpdateJob(update)
        pool = self.pool
        if pool.config.mode == "memory":
            reply, _ = await pool.broadcast(job, deadline)
        else:
            reply, _ = await pool.request(job, deadline)
        check_reply(reply)
        self._version = hashlib.sha256(f"{self._version}\n{update}".encode()).hexdigest()[:16]
        await self._refresh_graphs()


def _file_digest_of_folder(path: Path) -> str:
    """A cheap stand-in version for a store folder without a manifest: names, sizes, mtimes."""
    digest = hashlib.sha256(str(path).encode())
    for item in sorted(path.iterdir()):
        stat = item.stat()
        digest.update(f"{item.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]
