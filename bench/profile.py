"""Where a kg server spends its time under load: py-spy samples grouped by component.

    python -m bench.profile [--server kg-nocache] [--query one-hop] [--mode fresh] [--seconds 15]

Starts one server (as bench.run does, on the same generated data: `--workers 2` HTTP processes
as `kg serve` runs), puts wrk load on it, samples each HTTP process with py-spy, and prints (a)
server CPU per request split between the HTTP processes (the asyncio event loops: HTTP,
routing, protocol, negotiation, guard, cache) and the query workers (the engine), and (b) the
HTTP processes' samples by component, each sample charged to the innermost frame that belongs
to a known component. py-spy samples wall time (a process blocked in a socket call counts):
the CPU column shares the measured user CPU among components in proportion to samples. Needs
``py-spy`` in the venv (``.venv/bin/pip install py-spy``; not a project dependency).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from bench.run import QUERIES, ROOT, dataset_for, query_texts, request_paths, server_specs
from bench.servers import cpu_seconds_of_tree, start_server, stop_server, venv_bin
from bench.wrk import run_wrk
from kg.queries import parse_query_file

__all__ = ["COMPONENTS", "classify", "main"]

#: (component, pattern on "function (file)") — the innermost matching frame wins.
WRITE = "socket write (kernel; wall time includes being preempted by wrk)"
COMPONENTS: list[tuple[str, re.Pattern[str]]] = [
    ("engine in-process (pyoxigraph)", re.compile(r"InProcessStore\.query")),
    ("result cache", re.compile(r"kg/store/cache\.py")),
    ("guard (lexer)", re.compile(r"kg/sparql/(guard|tokens)\.py|kg/store/prepare\.py")),
    (
        "worker round trip (socket, frames, await)",
        re.compile(r"kg/store/(pool|messages|process|embedded)\.py"),
    ),
    ("store factory/other store code", re.compile(r"kg/store/")),
    ("negotiation", re.compile(r"kg/sparql/negotiation\.py")),
    ("result serialisation", re.compile(r"kg/sparql/results\.py")),
    ("protocol parsing (api/protocol.py)", re.compile(r"api/protocol\.py")),
    ("/sparql route: ETag, headers, render", re.compile(r"api/routers/sparql\.py")),
    ("other kg api code", re.compile(r"api/|bench/inprocess\.py")),
    ("Starlette/FastAPI (middleware, request, response)", re.compile(r"(starlette|fastapi)/")),
    ("uvicorn + httptools (HTTP parse, transport write)", re.compile(r"uvicorn/")),
    ("asyncio / uvloop event loop", re.compile(r"asyncio/|uvloop|runners\.py")),
]


def classify(stack: list[str]) -> str:
    """The component of one sampled stack (root first)."""
    if stack and re.match(r"RequestResponseCycle\.send \(uvicorn/", stack[-1]):
        # uvicorn's send() has almost no Python of its own: a sample there is in transport.write.
        return WRITE
    for frame in reversed(stack):
        for name, pattern in COMPONENTS:
            if pattern.search(frame):
                return name
    return "other"


def _user_system(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def _http_processes(root: int) -> list[int]:
    """The processes that serve HTTP: uvicorn's children under ``--workers N``, else ``root``
    (query workers and their fork server are children of those, not of the supervisor)."""
    try:
        children = Path(f"/proc/{root}/task/{root}/children").read_text().split()
    except OSError:
        return [root]
    serving = []
    for child in children:
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"kg.store" not in command:  # not a fork server or a query worker
            serving.append(int(child))
    return serving or [root]


def _read_raw(path: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            counts[classify(stack.split(";"))] += int(n)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument(
        "--server", default="kg-nocache", choices=("kg", "kg-nocache", "kg-inprocess", "kg-remote")
    )
    parser.add_argument("--query", default="one-hop", choices=list(QUERIES))
    parser.add_argument("--mode", default="fresh", choices=("same", "fresh", "bound"))
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--triples", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench")
    args = parser.parse_args(argv)

    pyspy = venv_bin("py-spy")
    if not pyspy.exists():
        raise SystemExit("bench.profile: py-spy missing: .venv/bin/pip install py-spy")
    work: Path = args.work.resolve()
    dataset = dataset_for(work, args.triples, args.seed)
    if not (work / "var" / "current").exists():
        raise SystemExit(
            "bench.profile: no kg build in the work dir: run `python -m bench.run` once"
        )
    spec = server_specs(work, dataset.path, [args.server])[0]
    backend = None
    if args.server == "kg-remote":
        # kg in front of an oxigraph server: start that first (it is not profiled).
        backend = start_server(
            server_specs(work, dataset.path, ["oxigraph-disk"])[0], work / "logs"
        )
        spec = replace(spec, env={**spec.env, "KG_REMOTE_URL": backend.query_url})
    texts = query_texts(
        args.query, parse_query_file(QUERIES[args.query]), args.mode, dataset, args.seed
    )
    server = start_server(spec, work / "logs")
    raw = work / "prof" / f"{args.server}-{args.query}-{args.mode}.txt"
    raw.parent.mkdir(parents=True, exist_ok=True)
    try:
        paths = request_paths(server, texts)
        headers = {"Accept": "application/sparql-results+json"}
        script = work / "scripts" / f"profile-{args.server}.lua"
        run_wrk(server.base_url, paths, headers, duration=3, concurrency=args.concurrency,
                threads=2, script=script)  # fmt: skip
        root = server.process.pid
        http_pids = _http_processes(root)
        before = cpu_seconds_of_tree(root)
        system0 = {pid: _user_system(pid) for pid in http_pids}
        spies = [
            subprocess.Popen(
                [
                    str(pyspy),
                    "record",
                    "-p",
                    str(pid),
                    "-r",
                    "250",
                    "-d",
                    str(int(args.seconds)),
                    "--format",
                    "raw",
                    "-o",
                    str(raw.with_suffix(f".{pid}.txt")),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for pid in http_pids
        ]
        time.sleep(0.5)
        result = run_wrk(server.base_url, paths, headers, duration=args.seconds - 1,
                         concurrency=args.concurrency, threads=2, script=script)  # fmt: skip
        after = cpu_seconds_of_tree(root)
        system1 = {pid: _user_system(pid) for pid in http_pids}
        for spy in spies:
            spy.wait(timeout=args.seconds + 60)
    finally:
        stop_server(server)
        if backend is not None:
            stop_server(backend)

    requests = max(result.requests, 1)

    def per_request(pids: set[int]) -> float:
        return 1000 * sum(after[p] - before.get(p, 0.0) for p in pids if p in after) / requests

    http = set(http_pids)
    others = set(after) - http
    print(f"{args.server} {args.query} {args.mode}: {result.rps:,.0f} req/s, "
          f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms")  # fmt: skip
    user_ms = 1000 * sum(system1[p][0] - system0[p][0] for p in http) / requests
    kernel_ms = 1000 * sum(system1[p][1] - system0[p][1] for p in http) / requests
    print(
        f"server CPU per request: HTTP processes {per_request(http):.3f} ms (user {user_ms:.3f}, "
        f"kernel {kernel_ms:.3f}), query workers and the rest {per_request(others):.3f} ms"
    )
    counts: Counter[str] = Counter()
    for pid in http_pids:
        counts += _read_raw(raw.with_suffix(f".{pid}.txt"))
    total = sum(counts.values()) or 1
    # Samples are wall time; CPU is what limits throughput. The write's CPU is the kernel time;
    # the user CPU is shared among the other components in proportion to their samples.
    busy = (total - counts[WRITE]) or 1
    print(f"HTTP processes, {total} samples (raw stacks: {raw.with_suffix('.<pid>.txt')}):")
    print("  samples  CPU ms/req (est.)  component")
    for name, n in counts.most_common():
        est = kernel_ms if name == WRITE else user_ms * n / busy
        print(f"  {100 * n / total:6.1f}%  {est:8.3f}           {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
