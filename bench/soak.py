"""A bounded soak of ``kg serve`` under the attack mix: does the endpoint stay fair and alive?

Starts ``kg serve`` (its default two HTTP processes, the current build) on a free 127.0.0.1
port, then runs ``--concurrency`` client loops for ``--duration`` seconds (default 300):
``--runaways`` of them send only runaway queries (each runs until its deadline), the others
are split between cached, uncached, heavy and hostile queries (MIX, e.g. 5/6/2/3 of 16). Every
loop is one visitor with its own client address (127.0.0.2, 127.0.0.3, … all loopback), so
per-client admission applies per loop. Nothing leaves the machine.

It reports per class the count of 2xx/4xx/5xx (429 and the error codes separately), p50/p95
latency, the peak RSS (and PSS) of the server's process tree sampled every half second, and
whether the server still answers at the end; writes ``bench/results/<date>-soak.{json,md}``.

    .venv/bin/python -m bench.soak                  # 5 minutes, concurrency 32, 16 runaways
    .venv/bin/python -m bench.soak --duration 60    # shorter, on a loaded machine

Targets (docs/stores.md): 0 × 5xx on cached/uncached queries, uncached p95 < 250 ms,
runaways 503 at their deadline, RSS flat under 2 GB, server alive at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx

from bench.servers import ServerSpec, memory_of_tree, start_server, stop_server, venv_bin

ROOT: Final = Path(__file__).resolve().parents[1]
RESULTS: Final = ROOT / "bench" / "results"
JSON_TYPE: Final = "application/sparql-results+json"

_VALUES: Final = " ".join(str(i) for i in range(1, 201))
RUNAWAY: Final = (
    "SELECT (COUNT(*) AS ?n) WHERE { "
    + " ".join(f"VALUES ?v{i} {{ {_VALUES} }}" for i in range(6))
    + " FILTER(?v0 + ?v1 + ?v2 + ?v3 + ?v4 + ?v5 > {nonce}) }"
)
MEMORY_BOMB: Final = (
    "SELECT ?a ?b ?c ?d WHERE { "
    + " ".join(f"VALUES ?{v} {{ {_VALUES} }}" for v in "abcd")
    + " } ORDER BY RAND() # {nonce}"
)
CACHED: Final = (
    "SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 10",
    "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }",
    "ASK { ?s ?p ?o }",
    "SELECT DISTINCT ?t WHERE { ?s a ?t } LIMIT 50",
)
UNCACHED: Final = "SELECT ?p ?o WHERE {{ <{subject}> ?p ?o }} # {nonce}"
HEAVY: Final = "SELECT (COUNT(*) AS ?n) WHERE {{ ?a ?p ?b . ?c ?p ?d }} # {nonce}"
_CHUNK: Final = "x" * 1000
OVERSIZED: Final = (
    f'SELECT ?c WHERE {{ BIND("{_CHUNK}" AS ?a) BIND(CONCAT({", ".join(["?a"] * 100)}) AS ?b) '
    f"BIND(CONCAT({', '.join(['?b'] * 100)}) AS ?c) }} # {{nonce}}"
)
#: Hostile texts (single braces; only {nonce} is replaced).
HOSTILE: Final = {
    "service": "SELECT * WHERE { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } } # {nonce}",
    "memory-bomb": MEMORY_BOMB,
    "nul-in-xml": 'SELECT (CONCAT("a", "\\u0000", "{nonce}") AS ?v) {}',
    "oversized-value": OVERSIZED,
    "deep-nesting": "SELECT * WHERE " + "{" * 300 + "}" * 300 + " # {nonce}",
    "syntax": "SELECT * WHERE { ?s ?p # {nonce}",
    "huge-body": "SELECT * WHERE { ?s ?p ?o } #{nonce}" + " " * 1_100_000,
}
#: Classes other than runaway, with their weights in the mix.
MIX: Final = {"cached": 30, "uncached": 40, "heavy": 10, "hostile": 20}


@dataclass
class Outcome:
    status: int
    seconds: float
    code: str = ""


@dataclass
class Tally:
    outcomes: dict[str, list[Outcome]] = field(default_factory=lambda: defaultdict(list))

    def add(self, kind: str, outcome: Outcome) -> None:
        self.outcomes[kind].append(outcome)


def _code(response: httpx.Response) -> str:
    if response.status_code < 400:
        return ""
    text = response.text[:300]
    try:
        return str(json.loads(text)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        parts = text.split(":", 1)[0].split()
        return parts[1] if len(parts) > 1 else ""


async def _send(
    client: httpx.AsyncClient, url: str, query: str, accept: str, timeout: float
) -> Outcome:
    began = time.monotonic()
    try:
        response = await client.post(
            url,
            content=query.encode("utf-8"),
            headers={"Content-Type": "application/sparql-query", "Accept": accept},
            timeout=timeout,
        )
    except httpx.TimeoutException:
        return Outcome(0, time.monotonic() - began, "client_timeout")
    except httpx.TransportError as exc:
        return Outcome(0, time.monotonic() - began, f"transport:{type(exc).__name__}")
    return Outcome(response.status_code, time.monotonic() - began, _code(response))


def _classes(loops: int) -> list[str]:
    """One class per non-runaway loop, in proportion to MIX (largest remainders)."""
    total = sum(MIX.values())
    exact = {kind: loops * weight / total for kind, weight in MIX.items()}
    counts = {kind: int(share) for kind, share in exact.items()}
    by_remainder = sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)
    for kind in by_remainder[: loops - sum(counts.values())]:
        counts[kind] += 1
    return [kind for kind, count in counts.items() for _ in range(count)]


def _pick(rng: random.Random, kind: str, subjects: list[str]) -> tuple[str, str, str]:
    """(detail, query, accept) for one request of ``kind``."""
    nonce = f"{rng.getrandbits(48):x}"
    if kind == "cached":
        return "", rng.choice(CACHED), JSON_TYPE
    if kind == "uncached":
        return "", UNCACHED.format(subject=rng.choice(subjects), nonce=nonce), JSON_TYPE
    if kind == "heavy":
        return "", HEAVY.format(nonce=nonce), JSON_TYPE
    detail = rng.choice(list(HOSTILE))
    accept = "application/sparql-results+xml" if detail == "nul-in-xml" else JSON_TYPE
    return detail, HOSTILE[detail].replace("{nonce}", nonce), accept


async def _loop(
    index: int,
    url: str,
    stop_at: float,
    tally: Tally,
    subjects: list[str],
    *,
    kind: str,
    timeout: float,
) -> None:
    # One client address per loop: distinct visitors for the per-client limit.
    address = f"127.0.{1 + (index + 1) // 250}.{1 + (index + 1) % 250}"
    transport = httpx.AsyncHTTPTransport(local_address=address, retries=0)
    rng = random.Random(index)
    # Visitors do not arrive in lockstep: spread the first requests over two seconds.
    await asyncio.sleep(rng.uniform(0.0, 2.0))
    async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
        while time.monotonic() < stop_at:
            if kind == "runaway":
                query = RUNAWAY.replace("{nonce}", str(rng.getrandbits(30)))
                outcome = await _send(client, url, query, JSON_TYPE, timeout)
                tally.add("runaway", outcome)
            else:
                detail, query, accept = _pick(rng, kind, subjects)
                outcome = await _send(client, url, query, accept, timeout)
                tally.add(kind, outcome)
                if detail:
                    tally.add(f"hostile:{detail}", outcome)
            if outcome.status == 429:
                await asyncio.sleep(0.2)  # a polite client backs off


async def _subjects(url: str) -> list[str]:
    query = "SELECT DISTINCT ?s WHERE { ?s ?p ?o FILTER(isIRI(?s)) } LIMIT 500"
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.get(url, params={"query": query}, headers={"Accept": JSON_TYPE})
        response.raise_for_status()
        rows = response.json()["results"]["bindings"]
    return [row["s"]["value"] for row in rows]


async def _sample_memory(pid: int, stop_at: float, samples: list[tuple[float, int, int]]) -> None:
    began = time.monotonic()
    while time.monotonic() < stop_at:
        memory = await asyncio.to_thread(memory_of_tree, pid)
        samples.append((time.monotonic() - began, memory.rss, memory.pss))
        await asyncio.sleep(0.5)


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _summary(outcomes: list[Outcome]) -> dict[str, Any]:
    statuses = Counter(o.status for o in outcomes)
    codes = Counter(f"{o.status} {o.code}".strip() for o in outcomes if o.status >= 400 or o.code)
    seconds = [o.seconds for o in outcomes]
    return {
        "count": len(outcomes),
        "2xx": sum(n for s, n in statuses.items() if 200 <= s < 300),
        "4xx": sum(n for s, n in statuses.items() if 400 <= s < 500),
        "429": statuses.get(429, 0),
        "5xx": sum(n for s, n in statuses.items() if s >= 500),
        "no_answer": statuses.get(0, 0),
        "p50_ms": round(1000 * _percentile(seconds, 0.5), 1),
        "p95_ms": round(1000 * _percentile(seconds, 0.95), 1),
        "max_ms": round(1000 * max(seconds, default=0.0), 1),
        "errors": dict(codes.most_common()),
    }


async def _alive(url: str) -> bool:
    async with httpx.AsyncClient(trust_env=False, timeout=10.0) as client:
        try:
            response = await client.get(
                url, params={"query": "ASK { ?s ?p ?o }"}, headers={"Accept": JSON_TYPE}
            )
        except httpx.TransportError:
            return False
        return response.status_code == 200


async def _run(args: argparse.Namespace, url: str, pid: int) -> dict[str, Any]:
    subjects = await _subjects(url)
    tally = Tally()
    samples: list[tuple[float, int, int]] = []
    began = time.monotonic()
    stop_at = began + args.duration
    kinds = ["runaway"] * args.runaways + _classes(args.concurrency - args.runaways)
    loops = [
        _loop(i, url, stop_at, tally, subjects, kind=kind, timeout=args.query_timeout + 30)
        for i, kind in enumerate(kinds)
    ]
    await asyncio.gather(_sample_memory(pid, stop_at, samples), *loops)
    elapsed = time.monotonic() - began
    return {
        "elapsed_s": round(elapsed, 1),
        "classes": {kind: _summary(o) for kind, o in sorted(tally.outcomes.items())},
        "peak_rss_mb": round(max((s[1] for s in samples), default=0) / 2**20, 1),
        "peak_pss_mb": round(max((s[2] for s in samples), default=0) / 2**20, 1),
        "rss_first_minute_mb": round(
            max((s[1] for s in samples if s[0] < 60), default=0) / 2**20, 1
        ),
        "rss_last_minute_mb": round(
            max((s[1] for s in samples if s[0] >= elapsed - 60), default=0) / 2**20, 1
        ),
        "alive_at_end": await _alive(url),
    }


def _markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Soak of `kg serve`, {report['date']}",
        "",
        f"{report['duration_s']} s at concurrency {report['concurrency']} "
        f"({report['runaways']} runaway loops), query_timeout {report['query_timeout']} s, "
        f"machine: {report['machine']}, load average before/after "
        f"{report['load_before']} / {report['load_after']} (shared machine: noisy).",
        f"Settings: {report['settings']}",
        "",
        "| class | requests | 2xx | 4xx | 429 | 5xx | no answer | p50 ms | p95 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for kind, row in report["result"]["classes"].items():
        errors = ", ".join(f"{k} ×{n}" for k, n in row["errors"].items())
        lines.append(
            f"| {kind} | {row['count']} | {row['2xx']} | {row['4xx']} | {row['429']} | "
            f"{row['5xx']} | {row['no_answer']} | {row['p50_ms']} | {row['p95_ms']} | {errors} |"
        )
    result = report["result"]
    lines += [
        "",
        f"Peak RSS of the server's process tree: {result['peak_rss_mb']} MB "
        f"(PSS {result['peak_pss_mb']} MB); first minute {result['rss_first_minute_mb']} MB, "
        f"last minute {result['rss_last_minute_mb']} MB.",
        f"Server alive at the end: {'yes' if result['alive_at_end'] else 'NO'}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds (default 300)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--runaways", type=int, default=16, help="loops sending only runaways")
    parser.add_argument("--query-timeout", type=float, default=10.0, help="KG_QUERY_TIMEOUT")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results go")
    parser.add_argument("--tag", default="soak", help="file name suffix")
    parser.add_argument(
        "--env", action="append", default=[], help="extra KG_X=value for the server"
    )
    args = parser.parse_args(argv)
    env = {"KG_QUERY_TIMEOUT": f"{args.query_timeout:g}", "KG_MAX_REQUEST_BYTES": "1000000"}
    env.update(item.split("=", 1) for item in args.env)
    spec = ServerSpec(
        "kg-soak",
        "kg serve (two HTTP processes, current build)",
        [str(venv_bin("kg")), "serve", "--host", "127.0.0.1", "--port", "{port}"],
        "/sparql",
        env=env,
    )
    load_before = os.getloadavg()
    server = start_server(spec, args.out / "logs")
    try:
        result = asyncio.run(_run(args, server.query_url, server.process.pid))
    finally:
        stop_server(server)
    now = datetime.now(UTC)
    report = {
        "date": now.strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": args.duration,
        "concurrency": args.concurrency,
        "runaways": args.runaways,
        "query_timeout": args.query_timeout,
        "settings": env,
        "machine": f"{os.cpu_count()} CPUs, {sys.platform}",
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "result": result,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{now:%Y-%m-%d}-{args.tag}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    stem.with_suffix(".md").write_text(_markdown(report), encoding="utf-8")
    print(_markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
