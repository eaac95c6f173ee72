"""Where a build's time goes: each step of ``kg.build.publish`` against ``oxigraph load`` +
``oxigraph optimize`` on the same N-Quads file, wall and CPU seconds.

    python -m bench.build_steps [--triples 1000000] [--python-count]

Steps, in this process (CPU = user + system of this process, robust to other load):
sha256 of the file (streamed), copy into the build folder, ``bulk_load`` from the path
(validating, as ``oxigraph load`` does, and ``lenient`` as `kg build` loads its own
oxigraph-serialised N-Quads, into two stores), ``optimize()``, the per-graph count
(the SPARQL aggregate kg uses; ``--python-count`` adds the former Python loop over every quad),
and the search index (``kg.build._search_index``: kg's own product, not engine bookkeeping;
`kg build` writes it from the dataset file on a second thread while the engine loads the file,
so its time overlaps the load's).
The engine's CLI runs as child processes (CPU from ``wait4``). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyoxigraph as ox

from bench.generate import DEFAULT_BASE, generate, load_meta
from bench.machine import load_average
from bench.servers import venv_bin
from kg.build import _graph_counts, _search_index

ROOT = Path(__file__).resolve().parent.parent


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _step(name: str, work: Callable[[], object], rows: list[tuple[str, float, float]]) -> None:
    wall, cpu = time.perf_counter(), _cpu()
    work()
    rows.append((name, time.perf_counter() - wall, _cpu() - cpu))
    print(f"bench.build_steps: {name}: {rows[-1][1]:.2f} s", file=sys.stderr, flush=True)


def _child(argv: list[str]) -> tuple[float, float]:
    began = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv[:2]} failed")
    return time.perf_counter() - began, usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.build_steps", description=__doc__)
    parser.add_argument("--triples", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--python-count", action="store_true")
    args = parser.parse_args(argv)
    data = args.work / f"data-{args.triples}-s{args.seed}" / "dataset.nq"
    meta = load_meta(data) or generate(data, args.triples, args.seed, DEFAULT_BASE)
    before = load_average()
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        folder = Path(tmp)

        def digest() -> str:
            with data.open("rb") as handle:
                return hashlib.file_digest(handle, "sha256").hexdigest()

        _step("sha256 of the file (streamed)", digest, rows)
        copy = folder / "dataset.nq"
        _step("copy into the build folder", lambda: shutil.copyfile(data, copy), rows)
        checked = ox.Store(str(folder / "checked"))
        _step(
            "bulk_load from the path (validating)",
            lambda: checked.bulk_load(path=str(copy), format=ox.RdfFormat.N_QUADS),
            rows,
        )
        store = ox.Store(str(folder / "store"))
        _step(
            "bulk_load from the path (lenient, as kg build)",
            lambda: store.bulk_load(path=str(copy), format=ox.RdfFormat.N_QUADS, lenient=True),
            rows,
        )
        _step("optimize()", store.optimize, rows)
        with ThreadPoolExecutor(2) as counting:
            _step(
                "count per graph (SPARQL, one per graph)",
                lambda: _graph_counts(store, counting),
                rows,
            )
        _step(
            "search index (search.sqlite, from the file; in `kg build` beside the load)",
            lambda: _search_index(
                copy, folder, base_iri=meta.base_iri, version="bench", lenient=True
            ),
            rows,
        )
        if args.python_count:
            _step(
                "count per graph (Python loop, before)",
                lambda: Counter(str(q.graph_name) for q in store),
                rows,
            )
        oxigraph = str(venv_bin("oxigraph"))
        location = folder / "oxigraph"
        load = _child([oxigraph, "load", "--location", str(location), "--file", str(data)])
        rows.append(("`oxigraph load`", *load))
        optimize = _child([oxigraph, "optimize", "--location", str(location)])
        rows.append(("`oxigraph optimize`", *optimize))
    print(
        f"{meta.triples:,} quads ({data.stat().st_size / 2**20:,.1f} MiB); load average "
        f"before {[round(x, 2) for x in before]}, after "
        f"{[round(x, 2) for x in load_average()]}.\n"
    )
    print("| step | wall s | CPU s |\n|---|---:|---:|")
    for name, wall, cpu in rows:
        print(f"| {name} | {wall:.2f} | {cpu:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
