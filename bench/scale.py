"""How kg grows with the data: build, load, disk, memory and every named query, per size.

    python -m bench.scale [--sizes 10000 100000 1000000] [--samples 15] [--url PATH ...]

For each size the synthetic national network (bench/generate.py) is generated (or reused),
then measured:

- **build**: ``kg.build.publish`` (the code behind ``kg build``) into a fresh var dir, wall time,
  quads/s and peak RSS (``wait4``); then the same build again (**unchanged rebuild**);
- **engine load**: ``oxigraph load`` (the engine's own bulk loader) + ``oxigraph optimize``, same
  figures, so the build rate reads as a fraction of the engine's;
- **disk**: the build's store folder and the oxigraph store folder;
- **queries**: kg served as ``kg serve`` runs it (uvicorn, ``KG_STORE=embedded``) with the result
  cache off, every named query (``ontology/queries/**/*.rq``) sent to ``/sparql`` bound with
  kg's own binding (``kg.queries.bind``), parameters drawn without replacement from the data
  (a different district, county or prefecture per sample), one client, p50/p95/max wall time;
  plus any ``--url`` routes (REST / network pages once they exist): paths with ``{district}``,
  ``{county}``, ``{prefecture}`` or ``{district_id}``-style placeholders filled per sample;
- **server memory**: RSS and PSS of the server's process tree, idle and after the queries.

Results: ``bench/results/<name>.md`` and ``.json``; the summary table in bench/README.md
(between the ``bench:scale`` markers). The machine, its load average before and after, and the
spread of samples are recorded with the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.generate import DEFAULT_BASE, GeneratedDataset, generate, load_meta
from bench.machine import describe_machine, load_average
from bench.servers import (
    ServerSpec,
    memory_of_tree,
    sampling_memory,
    start_server,
    stop_server,
    venv_bin,
)
from kg.config import ONTOLOGY_NS
from kg.errors import BadParameter
from kg.queries import NamedQuery, bind, parse_query_file

__all__ = ["Measured", "main", "parameters_for", "percentile"]

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
QUERY_DIR = ROOT / "ontology" / "queries"
SIZES = (10_000, 100_000, 1_000_000)
JSON_RESULTS = "application/sparql-results+json"
#: Seconds of samples per query at most: at least one sample, three when they are quick.
QUERY_BUDGET = 10.0
#: kg's deadline during the run: a query still running then is answered 503 (an error here).
QUERY_TIMEOUT = 60

_BUILD = """
import sys
from pathlib import Path
from kg.build import publish
# checked=True as `kg build` passes it (its N-Quads come from oxigraph's serialiser).
publish(Path(sys.argv[1]), Path(sys.argv[2]), base_iri=sys.argv[3], log=lambda m: None,
        checked=True)
"""


@dataclass
class Measured:
    """One command: wall seconds, peak resident memory (MiB) and CPU seconds (user + system,
    robust to other load) of its process."""

    seconds: float
    peak_rss_mib: float
    cpu_seconds: float = 0.0


@dataclass
class QueryTiming:
    name: str
    samples: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    rows: int | None
    errors: int
    statuses: list[int] = field(default_factory=list)


@dataclass
class SizeResult:
    target: int
    quads: int
    file_mib: float
    pairings: int
    build: Measured
    rebuild: Measured
    oxigraph_load: Measured
    oxigraph_optimize: Measured
    store_mib: float
    oxigraph_store_mib: float
    server_idle_rss_mib: float = 0.0
    server_rss_mib: float = 0.0
    server_pss_mib: float = 0.0
    queries: list[QueryTiming] = field(default_factory=list)

    @property
    def build_rate(self) -> float:
        return self.quads / self.build.seconds if self.build.seconds else 0.0

    @property
    def load_rate(self) -> float:
        seconds = self.oxigraph_load.seconds + self.oxigraph_optimize.seconds
        return self.quads / seconds if seconds else 0.0


def _python_env() -> dict[str, str]:
    paths = [str(ROOT / "src"), str(ROOT)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return {**os.environ, "PYTHONPATH": ":".join(paths)}


def measure(argv: Sequence[str], env: dict[str, str] | None = None) -> Measured:
    """Run ``argv`` to completion; wall time and the child's peak RSS (``wait4``'s maxrss)."""
    began = time.monotonic()
    process = subprocess.Popen(
        list(argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        error = process.stderr.read().decode(errors="replace") if process.stderr else ""
        raise RuntimeError(f"{argv[0]} failed ({process.returncode}): {error[-2000:]}")
    if process.stderr:
        process.stderr.close()
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(round(seconds, 3), round(usage.ru_maxrss / 1024, 1), round(cpu, 2))


def du_mib(path: Path) -> float:
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return round(total / 2**20, 1)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def _cycle(items: Sequence[str], seed: int) -> Iterator[str]:
    """Items drawn without replacement (reshuffled when exhausted)."""
    rng = random.Random(seed)
    while True:
        pool = list(items)
        rng.shuffle(pool)
        yield from pool


def parameters_for(
    query: NamedQuery, dataset: GeneratedDataset, seed: int
) -> Iterator[dict[str, str]]:
    """Values for a query's parameters, a fresh choice per sample: the helper/entity is a
    district, recipient/subject a county, the prefecture a recipient prefecture, the class
    gq:County; other optional parameters stay unbound."""
    names = {p.name for p in query.params}
    districts = _cycle(dataset.districts, seed)
    counties = _cycle(dataset.counties or dataset.districts, seed + 1)
    prefectures = _cycle(dataset.prefectures or ["522700"], seed + 2)
    while True:
        values: dict[str, str] = {}
        if "helper" in names:
            values["helper"] = next(districts)
        if "entity" in names:
            values["entity"] = next(districts)
        if "recipient" in names and "helper" not in names:
            values["recipient"] = next(counties)
        if "subject" in names:
            values["subject"] = next(counties)
        if "prefectureCode" in names:
            values["prefectureCode"] = next(prefectures)
        if "class" in names:
            values["class"] = ONTOLOGY_NS + "County"
        for param in query.params:
            # Any other required resource (queries added later): a district.
            if param.name not in values and param.required and param.type == "iri":
                values[param.name] = next(districts)
        yield values


def named_queries() -> list[NamedQuery]:
    return [parse_query_file(path) for path in sorted(QUERY_DIR.rglob("*.rq"))]


def _time_requests(
    client: httpx.Client, name: str, requests: Iterator[tuple[str, dict[str, str]]], samples: int
) -> QueryTiming:
    timings: list[float] = []
    statuses: list[int] = []
    rows: int | None = None
    errors = 0
    began = time.monotonic()
    while len(timings) < samples:
        spent = time.monotonic() - began
        if timings and (spent > QUERY_BUDGET or (len(timings) >= 3 and spent > QUERY_BUDGET / 2)):
            break
        url, params = next(requests)
        start = time.perf_counter()
        response = client.get(url, params=params, headers={"Accept": JSON_RESULTS})
        body = response.content
        timings.append((time.perf_counter() - start) * 1000)
        statuses.append(response.status_code)
        if response.status_code != 200:
            errors += 1
        elif rows is None and response.headers.get("content-type", "").startswith(JSON_RESULTS):
            rows = len(json.loads(body).get("results", {}).get("bindings", []))
    return QueryTiming(
        name=name,
        samples=len(timings),
        p50_ms=round(percentile(timings, 50), 2),
        p95_ms=round(percentile(timings, 95), 2),
        max_ms=round(max(timings), 2),
        rows=rows,
        errors=errors,
        statuses=sorted(set(statuses)),
    )


def _fill(template: str, draws: dict[str, Iterator[str]]) -> str:
    out = template
    for key, values in draws.items():
        if "{" + key + "}" in out:
            out = out.replace("{" + key + "}", next(values))
    return out


def _query_timings(
    base_url: str, dataset: GeneratedDataset, samples: int, urls: Sequence[str], seed: int
) -> list[QueryTiming]:
    results = []
    with httpx.Client(base_url=base_url, timeout=600.0) as client:
        for query in named_queries():
            values = parameters_for(query, dataset, seed)
            try:
                bind(query, next(parameters_for(query, dataset, seed)))
            except BadParameter as exc:
                print(f"bench.scale:   {query.name}: skipped ({exc.message})", file=sys.stderr)
                continue

            def requests(
                q: NamedQuery = query, v: Iterator[dict[str, str]] = values
            ) -> Iterator[tuple[str, dict[str, str]]]:
                while True:
                    yield "/sparql", {"query": bind(q, next(v))}

            timing = _time_requests(client, query.name, requests(), samples)
            print(
                f"bench.scale:   {query.name:38} p50 {timing.p50_ms:9.2f} ms  "
                f"p95 {timing.p95_ms:9.2f} ms  n={timing.samples} rows={timing.rows} "
                f"errors={timing.errors}",
                file=sys.stderr,
                flush=True,
            )
            results.append(timing)
        draws = {
            "district": _cycle(dataset.districts, seed),
            "county": _cycle(dataset.counties or dataset.districts, seed + 1),
            "prefecture": _cycle(dataset.prefectures or ["522700"], seed + 2),
            "district_id": _cycle([d.rsplit("/", 1)[-1] for d in dataset.districts], seed),
            "county_id": _cycle(
                [c.rsplit("/", 1)[-1] for c in dataset.counties or dataset.districts], seed + 1
            ),
        }
        for template in urls:

            def route(t: str = template) -> Iterator[tuple[str, dict[str, str]]]:
                while True:
                    yield _fill(t, draws), {}

            results.append(_time_requests(client, template, route(), samples))
    return results


def measure_size(target: int, work: Path, args: argparse.Namespace) -> SizeResult:
    data_path = work / f"data-{target}-s{args.seed}" / "dataset.nq"
    dataset = load_meta(data_path)
    if dataset is None or not dataset.counties:
        print(f"bench.scale: generating {target} quads", file=sys.stderr, flush=True)
        dataset = generate(data_path, target, args.seed, DEFAULT_BASE)
    env = _python_env()
    var_dir = work / f"var-{target}"
    shutil.rmtree(var_dir, ignore_errors=True)
    build_argv = [sys.executable, "-c", _BUILD, str(var_dir), str(data_path), DEFAULT_BASE]
    print(f"bench.scale: {dataset.triples} quads: kg build", file=sys.stderr, flush=True)
    build = measure(build_argv, env)
    rebuild = measure(build_argv, env)
    oxigraph = str(venv_bin("oxigraph"))
    location = work / f"oxigraph-{target}"
    shutil.rmtree(location, ignore_errors=True)
    print("bench.scale:   oxigraph load + optimize", file=sys.stderr, flush=True)
    load = measure([oxigraph, "load", "--location", str(location), "--file", str(data_path)])
    optimize = measure([oxigraph, "optimize", "--location", str(location)])
    store_dir = max((var_dir / "builds").glob("*/store"), key=lambda p: p.stat().st_mtime)
    result = SizeResult(
        target=target,
        quads=dataset.triples,
        file_mib=round(data_path.stat().st_size / 2**20, 1),
        pairings=sum(dataset.pairings_by_level.values()),
        build=build,
        rebuild=rebuild,
        oxigraph_load=load,
        oxigraph_optimize=optimize,
        store_mib=du_mib(store_dir),
        oxigraph_store_mib=du_mib(location),
    )
    shutil.rmtree(location, ignore_errors=True)  # disk: only kg's store is served
    if args.no_queries:
        return result
    uvicorn = [
        sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app",
        "--host", "127.0.0.1", "--port", "{port}", "--no-access-log", "--log-level", "warning",
        "--workers", "2",
    ]  # fmt: skip
    spec = ServerSpec(
        "kg-nocache",
        "kg as `kg serve` runs it, result cache off",
        uvicorn,
        "/sparql",
        env={
            **env,
            "KG_STORE": "embedded",
            "KG_VAR_DIR": str(var_dir),
            "KG_BASE_IRI": DEFAULT_BASE,
            "KG_CACHE_ENTRIES": "0",
            "KG_QUERY_TIMEOUT": str(QUERY_TIMEOUT),
            # One sequential client: the penalty after a deadline would turn the next queries
            # of the run into 429s (scale-b) instead of measuring them.
            "KG_CLIENT_PENALTY": "0",
        },
    )
    server = start_server(spec, work / "logs")
    try:
        result.server_idle_rss_mib = round(memory_of_tree(server.process.pid).rss / 2**20, 1)
        with sampling_memory(server.process.pid, 0.5) as memory:
            result.queries = _query_timings(
                server.base_url, dataset, args.samples, args.url, args.seed
            )
        result.server_rss_mib = round(max(m.rss for m in memory) / 2**20, 1)
        result.server_pss_mib = round(max(m.pss for m in memory) / 2**20, 1)
    finally:
        stop_server(server)
    return result


# --- report -------------------------------------------------------------------------------


def _growth(values: list[float]) -> str:
    if len(values) < 2 or not values[0]:
        return ""
    return f"×{values[-1] / values[0]:.1f}"


def render(results: list[SizeResult], meta: dict[str, Any]) -> str:
    lines = [
        f"# Scale run {meta['started']}",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in meta["machine"].items()) + ".",
        "",
        f"Load average before {meta['load_before']}, after "
        f"{meta['load_after']} (other sessions shared the machine: timings are noisy). "
        f"{meta['samples']} samples per query at most ({QUERY_BUDGET:g} s budget, at least one; "
        f"kg's deadline {QUERY_TIMEOUT} s, a query past it counts as an error), "
        "one client, result cache off, parameters drawn without replacement.",
        "",
        "| quads | file MiB | kg build s | build quads/s | build peak RSS MiB "
        "| unchanged rebuild s | oxigraph load+optimize s | load quads/s | build / load rate "
        "| CPU s build / load (ratio) "
        "| oxigraph peak RSS MiB "
        "| kg store MiB | oxigraph store MiB | server RSS idle / peak MiB (PSS) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        load_s = r.oxigraph_load.seconds + r.oxigraph_optimize.seconds
        ratio = r.build_rate / r.load_rate if r.load_rate else 0.0
        peak_ox = max(r.oxigraph_load.peak_rss_mib, r.oxigraph_optimize.peak_rss_mib)
        load_cpu = r.oxigraph_load.cpu_seconds + r.oxigraph_optimize.cpu_seconds
        cpu_ratio = f"{load_cpu / r.build.cpu_seconds:.2f}×" if r.build.cpu_seconds else "–"
        lines.append(
            f"| {r.quads:,} | {r.file_mib:,} | {r.build.seconds:.1f} | {r.build_rate:,.0f} "
            f"| {r.build.peak_rss_mib:,.0f} | {r.rebuild.seconds:.2f} | {load_s:.1f} "
            f"| {r.load_rate:,.0f} | {ratio:.2f}× "
            f"| {r.build.cpu_seconds:.1f} / {load_cpu:.1f} ({cpu_ratio}) "
            f"| {peak_ox:,.0f} | {r.store_mib:,} "
            f"| {r.oxigraph_store_mib:,} | {r.server_idle_rss_mib:,.0f} / "
            f"{r.server_rss_mib:,.0f} ({r.server_pss_mib:,.0f}) |"
        )
    names = [q.name for q in results[0].queries] if results else []
    header = " | ".join(f"{r.quads:,} p50 / p95 ms" for r in results)
    lines += [
        "",
        "Named queries (kg `/sparql`, kg's binding) and routes: p50 / p95 wall ms per size; "
        "growth = p50 at the largest size ÷ p50 at the smallest.",
        "",
        f"| query | {header} | growth | rows (largest) |",
        "|---|" + "---:|" * (len(results) + 2),
    ]
    for i, name in enumerate(names):
        cells = []
        p50s = []
        for r in results:
            q = r.queries[i]
            err = f" ({q.errors} err {q.statuses})" if q.errors else ""
            cells.append(f"{q.p50_ms:,.1f} / {q.p95_ms:,.1f}{err}")
            p50s.append(q.p50_ms)
        rows = results[-1].queries[i].rows
        lines.append(f"| {name} | {' | '.join(cells)} | {_growth(p50s)} | {rows} |")
    return "\n".join(lines) + "\n"


README_START = "<!-- bench:scale:start -->"
README_END = "<!-- bench:scale:end -->"


def update_readme(readme: Path, table: str, report_name: str) -> None:
    text = readme.read_text(encoding="utf-8")
    block = f"{README_START}\nFull report: [results/{report_name}](results/{report_name}).\n\n"
    block += table.split("\n", 2)[2] + README_END
    if README_START in text:
        head, rest = text.split(README_START, 1)
        text = head + block + rest.split(README_END, 1)[1]
    else:
        text = text.rstrip() + "\n\n## Scale (bench.scale)\n\n" + block + "\n"
    readme.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--samples", type=int, default=15, help="samples per query at most")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--url",
        action="append",
        default=[],
        help="an extra GET route to time, e.g. '/api/entity/{district_id}' (repeatable)",
    )
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--name", default=None, help="result file name (default <date>-scale)")
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument(
        "--no-queries", action="store_true", help="build, load and disk only (no server)"
    )
    args = parser.parse_args(argv)
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    meta: dict[str, Any] = {
        "started": started.isoformat(),
        "machine": describe_machine(venv_bin("oxigraph"), shutil.which("wrk") or "wrk"),
        "load_before": [round(x, 2) for x in load_average()],
        "samples": args.samples,
        "sizes": args.sizes,
    }
    results = []
    for target in args.sizes:
        results.append(measure_size(target, args.work, args))
    meta["load_after"] = [round(x, 2) for x in load_average()]
    name = args.name or f"{started:%Y-%m-%d}-scale"
    args.results.mkdir(parents=True, exist_ok=True)
    table = render(results, meta)
    (args.results / f"{name}.md").write_text(table, encoding="utf-8")
    payload = {
        "meta": meta,
        "sizes": [
            {**asdict(r), "build_rate": r.build_rate, "load_rate": r.load_rate} for r in results
        ],
    }
    (args.results / f"{name}.json").write_text(
        json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    if not args.no_readme:
        update_readme(BENCH_DIR / "README.md", table, f"{name}.md")
    print(table)
    print(f"bench.scale: results in {args.results / name}.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
