"""The build: compile → validate → canonical N-Quads → on-disk store → manifest → switch.

Layout under ``settings.var_dir``::

    builds/<build-id>/dataset.nq      every quad, sorted, blank nodes canonically named
    builds/<build-id>/store/          pyoxigraph on-disk store loaded from dataset.nq
    builds/<build-id>/search.sqlite   the search index (kg.search): names, pinyin, codes
    builds/<build-id>/manifest.json   id, created, base_iri, counts, sha256, kg version
    current -> builds/<build-id>      switched atomically, only after a build succeeded

A build is assembled in ``builds/.<build-id>.partial`` and renamed when complete, so a failed
or interrupted build never looks like a finished one and never touches ``current``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyoxigraph as ox

from kg import __version__
from kg.errors import BuildError, DataIssue, StoreUnavailable
from kg.fingerprint import build_inputs
from kg.leases import is_leased

if TYPE_CHECKING:  # rdflib is slow to import: `kg serve` and `kg query` never load it
    import rdflib

    from kg.config import Settings  # pydantic: not on the path of an unchanged `kg build`

__all__ = [
    "DATASET_FILE",
    "KEEP_BUILDS",
    "MANIFEST_FILE",
    "SEARCH_FILE",
    "STORE_DIR",
    "UPDATES_DIR",
    "BuildResult",
    "Log",
    "build",
    "canonical_nquads",
    "current_build",
    "find_current",
    "inputs_of",
    "publish",
    "read_manifest",
    "unchanged_build",
]

Log = Callable[[str], None]

#: Finished builds kept on disk (the current one is never removed).
KEEP_BUILDS = 3
DATASET_FILE = "dataset.nq"
STORE_DIR = "store"
MANIFEST_FILE = "manifest.json"
#: The search index of the build (kg.search), named in the manifest.
SEARCH_FILE = "search.sqlite"
#: Under var/: the stores that SPARQL updates were applied to, one per base build.
UPDATES_DIR = "updates"
#: The key counting quads of the default graph in the manifest (all data should be in named graphs).
DEFAULT_GRAPH_KEY = "default"
#: The manifest key of the build inputs' fingerprint (:mod:`kg.fingerprint`).
INPUTS_KEY = "inputs"
_BUILD_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}$")


@dataclass(frozen=True)
class BuildResult:
    """What a build produced (or reused, when ``unchanged``)."""

    build_id: str
    path: Path
    manifest: Mapping[str, Any]
    unchanged: bool

    @property
    def triples(self) -> int:
        return int(self.manifest["triples"])


def build(settings: Settings, *, log: Log = print) -> BuildResult:
    """Compile and validate the data, then publish it as the current build.

    Raises DataError (file:line issues) when the input is wrong, ValidationError (with the
    readable report) on a SHACL violation, BuildError when writing the build fails. In every
    failure the previous current build stays in place.
    """
    started = time.perf_counter()
    inputs = inputs_of(settings)
    found = unchanged_build(settings.var_dir, inputs)
    if found is not None:
        log(f"unchanged: the current build {found.build_id} was made from the same inputs")
        return found

    # Imported here so that the build's collaborators load only when a build runs.
    from kg.compile import compile_dataset  # noqa: PLC0415
    from kg.validate import validate  # noqa: PLC0415

    dataset = compile_dataset(settings)
    log(f"compiled {_quad_count(dataset)} quads in {time.perf_counter() - started:.2f}s")

    step = time.perf_counter()
    validate(dataset, settings.ontology_dir, base_iri=settings.base_iri).raise_on_violations()
    log(f"validated in {time.perf_counter() - step:.2f}s")

    nquads = canonical_nquads(dataset)
    result = publish(
        settings.var_dir, nquads, base_iri=settings.base_iri, log=log, inputs=inputs, checked=True
    )
    log(f"done in {time.perf_counter() - started:.2f}s")
    return result


def inputs_of(settings: Settings) -> str:
    """The fingerprint of what a build with these settings reads (:mod:`kg.fingerprint`)."""
    return build_inputs(
        data_dir=settings.data_dir, ontology_dir=settings.ontology_dir, base_iri=settings.base_iri
    )


def unchanged_build(var_dir: Path, inputs: str) -> BuildResult | None:
    """The current build when it was made from inputs with this fingerprint and its store and
    search index are still there; else None (a build is needed)."""
    current = find_current(var_dir)
    if current is None:
        return None
    manifest = read_manifest(current)
    if manifest.get(INPUTS_KEY) != inputs or not isinstance(manifest.get("triples"), int):
        return None
    if not _complete(current, manifest):
        return None
    return BuildResult(current.name, current, manifest, unchanged=True)


def _quad_count(dataset: rdflib.Dataset) -> int:
    return sum(1 for _ in dataset.quads((None, None, None, None)))


def canonical_nquads(dataset: rdflib.Dataset) -> bytes:
    """The dataset as sorted N-Quads with canonical blank node labels: same data, same bytes."""
    # rdflib accepts terms (IRIs with spaces, bad language tags) that RDF does not; its
    # serialiser then fails with a bare Exception, pyoxigraph's parser with a SyntaxError.
    try:
        raw = dataset.serialize(format="nquads", encoding="utf-8")
        quads = ox.Dataset(ox.parse(raw, format=ox.RdfFormat.N_QUADS))
    except Exception as exc:
        raise BuildError(DataIssue("<compiled dataset>", None, f"invalid RDF: {exc}")) from None
    quads.canonicalize(ox.CanonicalizationAlgorithm.UNSTABLE)
    lines = (ox.serialize(quads, format=ox.RdfFormat.N_QUADS) or b"").splitlines()
    lines.sort()
    return b"".join(line + b"\n" for line in lines)


def publish(
    var_dir: Path,
    nquads: bytes | Path,
    *,
    base_iri: str,
    log: Log = print,
    keep: int = KEEP_BUILDS,
    inputs: str | None = None,
    checked: bool = False,
) -> BuildResult:
    """Write ``nquads`` as a new build, load its store, and make it the current build.

    ``nquads`` is the dataset itself or an N-Quads file (hashed and copied in chunks, never
    held in memory). ``inputs`` is the fingerprint of what the dataset was made from
    (:func:`kg.fingerprint.build_inputs`), recorded in the manifest for the next `kg build`.
    ``checked``: the N-Quads were written by oxigraph's serialiser (:func:`canonical_nquads`
    parsed every term), so the bulk loader skips checking IRIs again (``lenient``, ~14 % less
    CPU at 1M quads); malformed lines still fail.
    When the current build already holds exactly these bytes it is reused (``unchanged``).
    """
    builds = var_dir / "builds"
    try:
        builds.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BuildError(DataIssue(str(builds), None, f"cannot create: {exc}")) from None
    digest = _sha256(nquads)
    with _build_lock(builds):
        current = find_current(var_dir)
        if current is not None:
            manifest = read_manifest(current)
            if manifest.get("sha256") == digest and _complete(current, manifest):
                log(f"unchanged: the current build {current.name} holds the same dataset")
                if inputs is not None and manifest.get(INPUTS_KEY) != inputs:
                    manifest = {**manifest, INPUTS_KEY: inputs}
                    with suppress(OSError):  # only an optimisation: the next `kg build` is quick
                        _write_manifest(current, manifest)
                return BuildResult(current.name, current, manifest, unchanged=True)

        created = datetime.now(UTC).replace(microsecond=0)
        build_id = f"{created:%Y%m%dT%H%M%SZ}-{digest[:12]}"
        final = builds / build_id
        partial = builds / f".{build_id}.partial"
        try:
            manifest = _assemble(
                partial,
                nquads,
                digest=digest,
                build_id=build_id,
                created=created,
                base_iri=base_iri,
                inputs=inputs,
                checked=checked,
            )
            if final.exists():  # the same data built earlier this second, not current
                shutil.rmtree(final)
            partial.rename(final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        _switch(var_dir, final)
        log(f"built {build_id}: {manifest['triples']} quads; current -> builds/{build_id}")
        for old in _prune(builds, keep, final):
            log(f"pruned {old.name}")
        return BuildResult(build_id, final, manifest, unchanged=False)


def _complete(folder: Path, manifest: Mapping[str, Any]) -> bool:
    """The build holds its store and its search index (a build of an older kg may lack it)."""
    index = manifest.get("search_index")
    return (folder / STORE_DIR).is_dir() and isinstance(index, str) and (folder / index).is_file()


def _sha256(nquads: bytes | Path) -> str:
    if isinstance(nquads, bytes):
        return hashlib.sha256(nquads).hexdigest()
    try:
        with nquads.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise BuildError(DataIssue(str(nquads), None, f"cannot read: {exc}")) from None


def _graph_counts(store: ox.Store, pool: ThreadPoolExecutor) -> dict[str, int]:
    """Quads per named graph and in the default graph, counted by the engine, one count per
    graph (``build-graph-counts.rq`` with ``?g`` bound, ``build-default-graph-count.rq``) on
    the threads of ``pool``: iterating the quads in Python took as long as the bulk load itself
    at 1M quads, and one GROUP BY over every quad twice as long as these counts at 10M."""
    from kg.queries import get_query  # noqa: PLC0415 - the full build path only

    per_graph, default = (
        get_query("build-graph-counts").text,
        get_query("build-default-graph-count").text,
    )

    def count(graph: ox.NamedNode | ox.BlankNode | None) -> tuple[str, int]:
        if graph is None:
            solutions = store.query(default)
        else:
            solutions = store.query(per_graph, substitutions={ox.Variable("g"): graph})
        assert isinstance(solutions, ox.QuerySolutions)
        total = sum(int(n.value) for row in solutions if isinstance(n := row["n"], ox.Literal))
        if graph is None:
            return DEFAULT_GRAPH_KEY, total
        return (graph.value if isinstance(graph, ox.NamedNode) else str(graph)), total

    graphs: list[ox.NamedNode | ox.BlankNode | None] = [None, *store.named_graphs()]
    return {key: n for key, n in pool.map(count, graphs) if n}


def _class_counts(store: ox.Store) -> list[tuple[str, int]]:
    """The answer of ``stats-entities-by-class`` (the home page's counts), kept in the search
    index file: a whole-graph aggregate (4 s at 10M quads) answered once, by the build."""
    from kg.queries import get_query  # noqa: PLC0415 - the full build path only

    solutions = store.query(get_query("stats-entities-by-class").text)
    assert isinstance(solutions, ox.QuerySolutions)
    return [
        (row["class"].value, int(row["count"].value))
        for row in solutions
        if isinstance(row["class"], ox.NamedNode) and isinstance(row["count"], ox.Literal)
    ]


def _search_index(
    dataset: Path,
    folder: Path,
    *,
    base_iri: str,
    version: str,
    lenient: bool = False,
    stop: threading.Event | None = None,
) -> int:
    """Write the build's search index (:mod:`kg.search`) from its dataset file, streamed:
    built once here, instead of from one giant answer in every server process. It reads the
    file itself (:func:`kg.search.nquads_rows`), so it runs while the engine loads it."""
    from kg.search import nquads_rows, write_index  # noqa: PLC0415

    rows = nquads_rows(dataset, lenient=lenient, stop=stop)
    return write_index(folder / SEARCH_FILE, rows, base=base_iri, version=version, stop=stop)


def _assemble(
    folder: Path,
    nquads: bytes | Path,
    *,
    digest: str,
    build_id: str,
    created: datetime,
    base_iri: str,
    inputs: str | None,
    checked: bool,
) -> dict[str, Any]:
    try:
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
        dataset = folder / DATASET_FILE
        if isinstance(nquads, bytes):
            dataset.write_bytes(nquads)
        else:
            shutil.copyfile(nquads, dataset)  # copy_file_range/sendfile: no Python buffers
        # The search index is written from the same file on a thread of its own while the
        # engine loads it (the loader releases the GIL): the build takes about as long as
        # the load alone on two cores, instead of the load plus the index.
        stop = threading.Event()
        with ThreadPoolExecutor(1, thread_name_prefix="kg-search-index") as pool:
            indexed = pool.submit(
                _search_index,
                dataset,
                folder,
                base_iri=base_iri,
                version=build_id,
                lenient=checked,
                stop=stop,
            )
            try:
                store = ox.Store(str(folder / STORE_DIR))
                store.bulk_load(path=str(dataset), format=ox.RdfFormat.N_QUADS, lenient=checked)
                store.optimize()
                store.flush()
                # Whole-store counts, each on its own thread (the engine releases the GIL).
                with ThreadPoolExecutor(2, thread_name_prefix="kg-build-count") as counting:
                    classes_counted = counting.submit(_class_counts, store)
                    graphs = _graph_counts(store, counting)
                    classes = classes_counted.result()
                del store  # closes the store before its folder is renamed
            except BaseException:
                stop.set()  # the index of a build that failed is not wanted: stop it soon
                raise
            searched = indexed.result()
        from kg.search import add_class_counts  # noqa: PLC0415 - the full build path only

        add_class_counts(folder / SEARCH_FILE, classes)
    except (OSError, SyntaxError, sqlite3.Error) as exc:
        raise BuildError(DataIssue(str(folder), None, f"cannot write the build: {exc}")) from None
    manifest: dict[str, Any] = {
        "build_id": build_id,
        "created": created.isoformat().replace("+00:00", "Z"),
        "base_iri": base_iri,
        "kg_version": __version__,
        "engine": f"pyoxigraph {ox.__version__}",
        "sha256": digest,
        "triples": sum(graphs.values()),
        "graphs": dict(sorted(graphs.items())),
        "dataset": DATASET_FILE,
        "store": STORE_DIR,
        "search_index": SEARCH_FILE,
        "search_entries": searched,
    }
    if inputs is not None:
        manifest[INPUTS_KEY] = inputs
    _write_manifest(folder, manifest)
    return manifest


def _write_manifest(folder: Path, manifest: Mapping[str, Any]) -> None:
    """Write the manifest atomically (a reader never sees half of it)."""
    tmp = folder / f".{MANIFEST_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MANIFEST_FILE)


def _switch(var_dir: Path, target: Path) -> None:
    """Point ``var_dir/current`` at ``target`` in one atomic rename."""
    link = var_dir / "current"
    tmp = var_dir / f".current.{os.getpid()}.tmp"
    try:
        tmp.unlink(missing_ok=True)
        # Relative, so that the var folder can be moved or mounted elsewhere.
        tmp.symlink_to(os.path.relpath(target, var_dir))
        os.replace(tmp, link)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        problem = f"cannot switch to the new build: {exc}"
        raise BuildError(DataIssue(str(link), None, problem)) from None


def _prune(builds: Path, keep: int, current: Path) -> list[Path]:
    """Remove finished builds beyond the newest ``keep`` and leftovers of crashed builds.

    A build a server holds a lease on (:mod:`kg.leases`) is kept, however old: its workers
    may have to reopen its store at any time. Removing a build also removes the copy that
    updates were applied to (``var/updates/<id>``, see :mod:`kg.updates`).
    """
    # Newest first by the time the manifest was written: ids only have one-second resolution.
    finished = sorted(
        (p for p in builds.iterdir() if _BUILD_ID.match(p.name) and (p / MANIFEST_FILE).is_file()),
        key=lambda p: (p / MANIFEST_FILE).stat().st_mtime_ns,
        reverse=True,
    )
    removed = [p for p in finished[keep:] if p != current and not is_leased(p)]
    # Under the build lock no other build is running, so every partial folder is stale.
    removed += [p for p in builds.glob(".*.partial") if p.is_dir()]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
        if _BUILD_ID.match(path.name):
            shutil.rmtree(builds.parent / UPDATES_DIR / path.name, ignore_errors=True)
    return removed


@contextmanager
def _build_lock(builds: Path) -> Iterator[None]:
    with (builds / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            problem = "another build is running; try again when it has finished"
            raise BuildError(DataIssue(str(builds), None, problem)) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current_build(var_dir: Path) -> Path:
    """The folder of the current build; StoreUnavailable when there is none yet."""
    folder = find_current(var_dir)
    if folder is None:
        raise StoreUnavailable(f"no current build in {var_dir}: run `kg build` first")
    return folder


def find_current(var_dir: Path) -> Path | None:
    """The folder ``var_dir/current`` points at, if it is a finished build; else None."""
    folder = (var_dir / "current").resolve()
    return folder if (folder / MANIFEST_FILE).is_file() else None


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a build folder (empty if missing or unreadable)."""
    try:
        data = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
