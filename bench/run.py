"""Side-by-side SPARQL throughput: oxigraph from disk, oxigraph in memory, and kg's /sparql.

    python -m bench.run [--triples N] [--duration S] [--concurrency 8] [--rounds R]

One run, one dataset: the synthetic network (bench/generate.py) is loaded into an oxigraph
on-disk store (``oxigraph load`` + ``optimize``), into ``oxigraph serve`` in memory (HTTP POST),
and into a kg build (``kg.build.publish``: the same on-disk pyoxigraph store ``kg build`` makes).
All servers run at once on 127.0.0.1, idle but for the one under load; every case (query ×
request mode) is run against each server in turn, so background load on a shared machine hits
all of them alike. wrk sends the load; each server is stopped at the end, whatever happens.

Queries (bench/queries/*.rq): a one-hop "partners of a district" and an aggregation (pairings
per level), sent to every server as a user writes them: the district's IRI inline. Request
modes: ``same`` (one identical request: what a cache or ETag can serve); ``fresh`` (texts no
server has seen: each carries a nonce literal of this round in a FILTER that removes nothing —
FRESH_TEXTS of them per round, more than four times kg's result cache, cycled in order so an LRU
cache never hits, and new ones every round; one-hop also moves through every district);
``bound`` (kg's own named-query binding, ``kg.queries.bind``: the district as a trailing VALUES
block, fresh texts as above; kg and oxigraph only — it sends rdflib into a full scan); ``etag``
(identical request with ``If-None-Match``; only for servers that send an ETag). kg runs with
its default result cache and with ``KG_CACHE_ENTRIES=0``. Every case runs once per round, the
servers interleaved; reports give the median round and the min–max over rounds, for req/s and
for each ratio to ``oxigraph serve-read-only``. Results go to bench/results/<date>.md (+ .json)
and the table in bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from urllib.parse import quote

import httpx
from tests.support import servers as support  # Virtuoso set up as the tests do

from bench.generate import DEFAULT_BASE, GeneratedDataset, generate, load_meta
from bench.machine import describe_machine, load_average
from bench.report import CaseResult, RunReport, update_readme, write_report
from bench.servers import (
    Server,
    ServerSpec,
    cpu_seconds_of_tree,
    memory_of_tree,
    sampling_memory,
    start_server,
    stop_server,
    venv_bin,
    wait_idle,
)
from bench.wrk import WrkResult, find_wrk, run_wrk
from kg.queries import NamedQuery, bind, parse_query_file

__all__ = [
    "QUERIES",
    "ROOT",
    "dataset_for",
    "main",
    "query_texts",
    "request_paths",
    "server_specs",
]

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
QUERIES = {
    "one-hop": BENCH_DIR / "queries" / "partners-of-district.rq",
    "aggregation": BENCH_DIR / "queries" / "pairings-per-level.rq",
}
MODES = ("same", "fresh", "bound", "etag")
SERVERS = ("oxigraph-disk", "oxigraph-mem", "kg", "kg-nocache", "kg-remote")
#: Run when asked for: the Python peer (``rdflib-endpoint``, at the sizes it can load),
#: Virtuoso (Debian's ``virtuoso-opensource``), and diagnostics: kg-inprocess, and kg-lane
#: (kg-nocache with the opt-in in-process lane on; runs before 2026-12-02T07:45 named the
#: reverse "kg-workers", when the lane was on by default).
EXTRA_SERVERS = ("rdflib", "virtuoso", "kg-inprocess", "kg-lane")
#: Servers the ``bound`` mode (kg's VALUES binding) is sent to.
#: (Virtuoso 7.2 refuses a VALUES block after the query: not sent there either.)
BOUND_SERVERS = ("oxigraph-disk", "oxigraph-mem", "kg", "kg-nocache", "kg-remote")
JSON_RESULTS = "application/sparql-results+json"
#: Distinct texts per round in ``fresh``/``bound`` modes: 16 × kg's default 1,024-entry cache.
FRESH_TEXTS = 16384


# --- data and stores ----------------------------------------------------------------------


def dataset_for(work: Path, triples: int, seed: int) -> GeneratedDataset:
    path = work / f"data-{triples}-s{seed}" / "dataset.nq"
    existing = load_meta(path)
    if existing is not None and existing.seed == seed:
        print(f"bench: reusing {path} ({existing.triples} quads)", file=sys.stderr)
        return existing
    print(f"bench: generating {triples} quads into {path}", file=sys.stderr)
    return generate(path, triples, seed, DEFAULT_BASE)


@dataclass
class Loads:
    """Seconds each server needed to get the data."""

    oxigraph_load: float = 0.0
    oxigraph_optimize: float = 0.0
    kg_build: float = 0.0


def _load_oxigraph(data: Path, location: Path, loads: Loads) -> None:
    shutil.rmtree(location, ignore_errors=True)
    oxigraph = str(venv_bin("oxigraph"))
    began = time.monotonic()
    subprocess.run(
        [oxigraph, "load", "--location", str(location), "--file", str(data)],
        check=True,
        capture_output=True,
    )
    loads.oxigraph_load = time.monotonic() - began
    began = time.monotonic()
    subprocess.run(
        [oxigraph, "optimize", "--location", str(location)], check=True, capture_output=True
    )
    loads.oxigraph_optimize = time.monotonic() - began


_BUILD = """
import sys
from pathlib import Path
from kg.build import publish
publish(Path(sys.argv[1]), Path(sys.argv[2]), base_iri=sys.argv[3], log=lambda m: None)
"""


def _build_kg(data: Path, var_dir: Path, base: str, loads: Loads) -> None:
    # A fresh var dir: the build is really made (not reused as "unchanged"), so its time counts.
    shutil.rmtree(var_dir, ignore_errors=True)
    began = time.monotonic()
    subprocess.run(
        [sys.executable, "-c", _BUILD, str(var_dir), str(data), base],
        check=True,
        env=_python_env(),
    )
    loads.kg_build = time.monotonic() - began


def _python_env() -> dict[str, str]:
    paths = [str(ROOT / "src"), str(ROOT)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return {**os.environ, "PYTHONPATH": ":".join(paths)}


def _virtuoso_spec(work: Path, data: Path) -> ServerSpec:
    """Virtuoso on a copy of the tests' empty database, ini as the tests make it but with
    ~660 MiB of buffers; the data bulk-loaded by isql once it answers (timed as its load)."""
    folder = work / "virtuoso"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "no-vad").mkdir()
    shutil.copyfile(support._virtuoso_template() / "virtuoso.db", folder / "virtuoso.db")
    sql_port = support.free_port()
    ini = support.VIRTUOSO_INI.format(
        dir=folder,
        data=data.parent.resolve(),
        sql=sql_port,
        http="{port}",
        buffers=85_000,
        dirty=60_000,
        timeout=300,
    )

    def load(_server: Server) -> None:
        support.virtuoso_isql(sql_port, support.virtuoso_load_sql(data), timeout=3600)

    return ServerSpec(
        "virtuoso",
        "Virtuoso 7.2.5 (Debian `virtuoso-opensource`), 85,000 buffers (~660 MiB), data loaded "
        "with `ld_dir` + `rdf_loader_run`; system graphs private",
        [str(support.virtuoso_bin()), "+foreground", "+configfile", str(folder / "virtuoso.ini")],
        "/sparql",
        config_files={folder / "virtuoso.ini": ini},
        loader=load,
    )


def server_specs(work: Path, data: Path, names: Sequence[str]) -> list[ServerSpec]:
    oxigraph = str(venv_bin("oxigraph"))
    bind_arg = ["--bind", "127.0.0.1:{port}"]
    uvicorn = [
        sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app",
        "--host", "127.0.0.1", "--port", "{port}", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    # As `kg serve` runs it: KG_SERVE_WORKERS=2 HTTP processes (the web layer holds one core each).
    kg_uvicorn = [*uvicorn, "--workers", "2"]
    kg_env = {
        **_python_env(),
        "KG_STORE": "embedded",
        "KG_VAR_DIR": str(work / "var"),
        "KG_BASE_IRI": DEFAULT_BASE,
    }
    all_specs = {
        "oxigraph-disk": ServerSpec(
            "oxigraph-disk",
            "`oxigraph serve-read-only` on the on-disk store (`oxigraph load` + `optimize`)",
            [
                oxigraph,
                "serve-read-only",
                "--location",
                str(work / "oxigraph"),
                "--union-default-graph",
                *bind_arg,
            ],
            "/query",
        ),
        "oxigraph-mem": ServerSpec(
            "oxigraph-mem",
            "`oxigraph serve` without --location (in memory), data POSTed to /store",
            [oxigraph, "serve", "--union-default-graph", *bind_arg],
            "/query",
            load_file=data,
        ),
        "kg": ServerSpec(
            "kg",
            "kg /sparql as `kg serve` runs it: `uvicorn --factory api.app:create_app --workers 2`, "
            "KG_STORE=embedded (on-disk build), default result cache",
            kg_uvicorn,
            "/sparql",
            env=kg_env,
        ),
        "kg-nocache": ServerSpec(
            "kg-nocache",
            "the same with KG_CACHE_ENTRIES=0 (every query reaches the engine)",
            kg_uvicorn,
            "/sparql",
            env={**kg_env, "KG_CACHE_ENTRIES": "0"},
        ),
        "kg-lane": ServerSpec(
            "kg-lane",
            "kg-nocache with the opt-in in-process lane (KG_INPROCESS_BUDGET=0.3: uncached "
            "queries in a thread of the HTTP process, no worker round trip)",
            kg_uvicorn,
            "/sparql",
            env={**kg_env, "KG_CACHE_ENTRIES": "0", "KG_INPROCESS_BUDGET": "0.3"},
        ),
        "kg-remote": ServerSpec(
            "kg-remote",
            "kg /sparql with KG_STORE=remote in front of the oxigraph-disk server, "
            "KG_CACHE_ENTRIES=0 (its CPU column leaves out the oxigraph process it calls)",
            kg_uvicorn,
            "/sparql",
            # At start the remote store lists the graphs and counts the quads (two full scans
            # of the engine's store: > 10 s at 1M quads on a loaded machine), within the
            # query deadline; 60 s lets it start.
            env={**kg_env, "KG_STORE": "remote", "KG_CACHE_ENTRIES": "0", "KG_QUERY_TIMEOUT": "60"},
        ),
        "rdflib": ServerSpec(
            "rdflib",
            "the Python peer: `rdflib-endpoint serve` (rdflib-endpoint 0.6.3, rdflib's own "
            "store, union default graph), the N-Quads file loaded at start",
            [
                str(venv_bin("rdflib-endpoint")),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "{port}",
                str(data),
            ],
            "/",
        ),
        "kg-inprocess": ServerSpec(
            "kg-inprocess",
            "diagnostic: kg's app over pyoxigraph called in-process (bench/inprocess.py: no "
            "worker pool, guard, cache or deadline; not safe to serve)",
            [a.replace("api.app:create_app", "bench.inprocess:create_app") for a in uvicorn],
            "/sparql",
            env=kg_env,
        ),
    }
    if "virtuoso" in names:
        all_specs["virtuoso"] = _virtuoso_spec(work, data)
    return [all_specs[n] for n in names]


# --- requests -----------------------------------------------------------------------------


def inline(text: str, values: dict[str, str]) -> str:
    """``text`` with each ``?name`` replaced by ``<value>``: the query as a user writes it."""
    for name, value in values.items():
        text = re.sub(rf"[?$]{name}\b", f"<{value}>", text)
    return text


def with_nonce(text: str, variable: str, nonce: str) -> str:
    """A FILTER that removes nothing, with ``nonce`` in it, as the WHERE clause's last element:
    the text is new (no cache can have it), the work the same."""
    close = text.rindex("}")
    return f'{text[:close]}  FILTER(STR(?{variable}) != "{nonce}")\n{text[close:]}'


def query_texts(
    name: str,
    query: NamedQuery,
    mode: str,
    dataset: GeneratedDataset,
    seed: int,
    *,
    round_no: int = 1,
) -> list[str]:
    """The query texts a case cycles through (fresh ones differ in every round)."""
    districts = list(dataset.districts)
    if name == "one-hop":
        if mode in ("same", "etag"):
            return [inline(query.text, {"district": districts[0]})]
        random.Random(seed).shuffle(districts)
        texts = []
        for i in range(FRESH_TEXTS):
            district = districts[i % len(districts)]
            fresh = with_nonce(query.text, "label", f"round {round_no} text {i}")
            if mode == "bound":
                texts.append(bind(replace(query, text=fresh), {"district": district}))
            else:
                texts.append(inline(fresh, {"district": district}))
        return texts
    text = bind(query, {})
    if mode in ("same", "etag"):
        return [text]
    return [with_nonce(text, "level", f"round {round_no} text {i}") for i in range(FRESH_TEXTS)]


def request_paths(server: Server, texts: Sequence[str]) -> list[str]:
    return [f"{server.spec.query_path}?query={quote(t, safe='')}" for t in texts]


def _answer(server: Server, text: str) -> tuple[int, set[tuple[tuple[str, str], ...]], str | None]:
    response = httpx.get(
        server.query_url, params={"query": text}, headers={"Accept": JSON_RESULTS}, timeout=120
    )
    rows: set[tuple[tuple[str, str], ...]] = set()
    if response.status_code == 200:
        for binding in response.json()["results"]["bindings"]:
            rows.add(tuple(sorted((k, v["value"]) for k, v in binding.items())))
    return response.status_code, rows, response.headers.get("etag")


def _check_etag(server: Server, text: str, etag: str) -> int:
    response = httpx.get(
        server.query_url,
        params={"query": text},
        headers={"Accept": JSON_RESULTS, "If-None-Match": etag},
        timeout=120,
    )
    return response.status_code


@dataclass(frozen=True)
class _Load:
    """What wrk sends in one case."""

    url: str
    paths: list[str]
    headers: dict[str, str]
    script: Path


def _measure(load: _Load, args: argparse.Namespace, seconds: float) -> WrkResult:
    return run_wrk(
        load.url,
        load.paths,
        load.headers,
        duration=seconds,
        concurrency=args.concurrency,
        threads=args.threads,
        script=load.script,
    )


# --- the run ------------------------------------------------------------------------------


def _run_cases(
    servers: list[Server],
    dataset: GeneratedDataset,
    args: argparse.Namespace,
    report: RunReport,
    scripts: Path,
) -> None:
    queries = {name: parse_query_file(QUERIES[name]) for name in args.queries}
    etags: dict[tuple[str, str], str] = {}
    # Answers must agree before speed means anything.
    for name, query in queries.items():
        text = query_texts(name, query, "same", dataset, args.seed)[0]
        answers = {}
        for server in servers:
            status, rows, etag = _answer(server, text)
            answers[server.spec.name] = (status, rows)
            if etag:
                etags[(server.spec.name, name)] = etag
                report.etag_checks[f"{server.spec.name} {name}"] = _check_etag(server, text, etag)
        reference = next(iter(answers.values()))
        agree = all(a == reference for a in answers.values()) and reference[0] == 200
        report.answers[name] = {
            "rows": len(reference[1]),
            "agree": agree,
            "status": {k: v[0] for k, v in answers.items()},
        }
        if not agree:
            print(f"bench: WARNING: servers disagree on {name}: {report.answers[name]}")

    for round_no in range(1, args.rounds + 1):
        for name, query in queries.items():
            for mode in args.modes:
                if mode == "bound" and name != "one-hop":
                    continue  # the aggregation has no parameter: nothing to bind
                texts = query_texts(name, query, mode, dataset, args.seed, round_no=round_no)
                for server in servers:
                    if mode == "bound" and server.spec.name not in BOUND_SERVERS:
                        continue
                    headers = {"Accept": JSON_RESULTS}
                    if mode == "etag":
                        etag = etags.get((server.spec.name, name))
                        if etag is None:
                            continue  # this server sends no ETag: nothing to measure
                        headers["If-None-Match"] = etag
                    script = scripts / f"{server.spec.name}-{name}-{mode}.lua"
                    load = _Load(server.base_url, request_paths(server, texts), headers, script)
                    seconds = args.duration if name == "one-hop" else args.slow_duration
                    if args.warmup > 0:
                        _measure(load, args, args.warmup)
                        wait_idle(server)
                    cpu_before = cpu_seconds_of_tree(server.process.pid)
                    with sampling_memory(server.process.pid) as samples:
                        result = _measure(load, args, seconds)
                    cpu_after = cpu_seconds_of_tree(server.process.pid)
                    cpu = sum(t - cpu_before.get(p, 0.0) for p, t in cpu_after.items())
                    # Requests still running when wrk stopped must not slow the next case.
                    wait_idle(server)
                    peak = max(samples, key=lambda m: m.rss) if samples else None
                    case = CaseResult(
                        server=server.spec.name,
                        query=name,
                        mode=mode,
                        round=round_no,
                        result=result,
                        rss_peak=peak.rss if peak else 0,
                        pss_peak=max((m.pss for m in samples), default=0),
                        processes=peak.processes if peak else 0,
                        cpu_seconds=cpu,
                    )
                    report.cases.append(case)
                    print(
                        f"bench: round {round_no} {name:11} {mode:4} {server.spec.name:13} "
                        f"{result.rps:9.1f} req/s  p50 {result.p50_ms:7.2f} ms  "
                        f"p99 {result.p99_ms:7.2f} ms  cpu {case.cpu_ms_per_request:6.3f} ms/req  "
                        f"errors {result.errors}",
                        file=sys.stderr,
                        flush=True,
                    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--triples", type=int, default=1_000_000, help="dataset size (quads)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured case")
    parser.add_argument(
        "--slow-duration",
        type=float,
        default=30.0,
        help="seconds per measured aggregation case (each request takes 0.1-1 s)",
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per case")
    parser.add_argument("--concurrency", type=int, default=8, help="open connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every case; median kept")
    parser.add_argument(
        "--servers", nargs="+", choices=SERVERS + EXTRA_SERVERS, default=list(SERVERS)
    )
    parser.add_argument("--queries", nargs="+", choices=list(QUERIES), default=list(QUERIES))
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench", help="scratch dir")
    parser.add_argument(
        "--results", type=Path, default=BENCH_DIR / "results", help="where <date>.md goes"
    )
    parser.add_argument(
        "--name", default=None, help="results file name without extension (default: the date)"
    )
    parser.add_argument("--no-readme", action="store_true", help="leave bench/README.md alone")
    args = parser.parse_args(argv)

    wrk = find_wrk()
    oxigraph = venv_bin("oxigraph")
    if not oxigraph.exists():
        raise SystemExit(f"bench: {oxigraph} not found: install the dev extras (make setup)")
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)

    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    dataset = dataset_for(work, args.triples, args.seed)
    loads = Loads()
    if "oxigraph-disk" in args.servers:
        print("bench: oxigraph load + optimize", file=sys.stderr)
        _load_oxigraph(dataset.path, work / "oxigraph", loads)
    if {"kg", "kg-nocache", "kg-inprocess", "kg-lane"} & set(args.servers):
        print("bench: kg build (kg.build.publish)", file=sys.stderr)
        _build_kg(dataset.path, work / "var", dataset.base_iri, loads)

    report = RunReport(
        started=started.isoformat().replace("+00:00", "Z"),
        command="python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:]),
        machine=describe_machine(oxigraph, wrk),
        dataset={
            "quads": dataset.triples,
            "seed": dataset.seed,
            "districts": len(dataset.districts),
            "pairings": sum(dataset.pairings_by_level.values()),
            "file_mib": round(dataset.path.stat().st_size / 2**20, 1),
        },
        settings={
            "duration_s": args.duration,
            "slow_duration_s": args.slow_duration,
            "warmup_s": args.warmup,
            "concurrency": args.concurrency,
            "wrk_threads": args.threads,
            "rounds": args.rounds,
        },
        loads=asdict(loads),
        load_before=load_average(),
    )
    servers: list[Server] = []
    try:
        for planned in server_specs(work, dataset.path, args.servers):
            spec = planned
            if spec.name == "kg-remote":
                disk = next((s for s in servers if s.spec.name == "oxigraph-disk"), None)
                if disk is None:
                    raise SystemExit("bench: kg-remote needs oxigraph-disk in --servers")
                spec = replace(spec, env={**spec.env, "KG_REMOTE_URL": disk.query_url})
            print(f"bench: starting {spec.name}", file=sys.stderr)
            server = start_server(spec, work / "logs")
            servers.append(server)
            report.servers[spec.name] = {
                "description": spec.description,
                "start_s": round(server.start_seconds, 2),
                "http_load_s": round(server.load_seconds, 2) if server.load_seconds else None,
                "idle_rss": memory_of_tree(server.process.pid).rss,
            }
        _run_cases(servers, dataset, args, report, work / "scripts")
    finally:
        for server in servers:
            stop_server(server)
    report.load_after = load_average()
    report.finished = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()

    args.results.mkdir(parents=True, exist_ok=True)
    name = args.name or f"{started:%Y-%m-%d}"
    md = write_report(report, args.results / f"{name}.md")
    (args.results / f"{name}.json").write_text(
        json.dumps(report.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    if not args.no_readme:
        update_readme(report, BENCH_DIR / "README.md", md.name)
    print(f"bench: results in {md}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
