"""REST API latency on the synthetic network: /api/pairings for one party, /api/search, an entity.

    python -m bench.rest --triples 100000 1000000

For each size: generate the network (:mod:`bench.generate`), publish it as a kg build (the
on-disk store ``kg build`` makes), start ``kg`` under uvicorn on 127.0.0.1 (store=embedded as
``kg serve`` runs it, one query worker, answer cache off: every request runs its queries),
make one warm-up request (it opens the build's search index), then send ``--requests``
sequential requests per route, each for another district (so nothing repeats), and record
p50/p95/max in milliseconds. Results go to ``bench/results/<date>-rest.{json,md}``. The
machine is shared: timings are noisy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx

from bench.generate import generate, load_meta
from bench.servers import ServerSpec, start_server, stop_server
from kg.build import publish

__all__ = ["main", "measure", "route_urls", "server_spec", "summary"]

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _time(client: httpx.Client, url: str) -> float:
    began = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - began) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{url}: HTTP {response.status_code}: {response.text[:300]}")
    return elapsed


def server_spec(
    name: str, description: str, var_dir: Path, base_iri: str, root: Path = ROOT
) -> ServerSpec:
    """kg from the source tree ``root`` under uvicorn on the build in ``var_dir``: store=embedded
    as ``kg serve`` runs it, one query worker, answer cache off."""
    return ServerSpec(
        name=name,
        description=description,
        argv=[
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "api.app:create_app",
            # uvicorn puts its app dir (default: the working directory) first on sys.path:
            # without this, bench.rest_ab's base served this checkout's `api`.
            "--app-dir",
            str(root),
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--no-access-log",
        ],
        query_path="/sparql",
        env={
            "KG_STORE": "embedded",
            "KG_VAR_DIR": str(var_dir),
            "KG_CACHE_ENTRIES": "0",
            "KG_QUERY_WORKERS": "1",
            # Default memory limits: the search index comes with the build (search.sqlite).
            "KG_BASE_IRI": base_iri,
            "PYTHONPATH": f"{root / 'src'}:{root}",
        },
    )


def route_urls(i: int, district: str, label: Mapping[str, str]) -> dict[str, str]:
    """The URL of request ``i`` on each timed route, for ``district`` (``label``: an entity's
    answer, for its names)."""
    party = quote(district, safe="")
    # Chinese and English names in turn (an entity without one uses the other).
    names = [label.get("label"), label.get("label_en")]
    name = names[i % 2] or names[(i + 1) % 2] or label["id"]
    return {
        "pairings": f"/api/pairings?party={party}",
        "search": f"/api/search?q={quote(name)}",
        "entity": f"/api/entities/{party}",
    }


def summary(values: list[float]) -> dict[str, float]:
    """p50, p95 and max of one route's timings, in milliseconds."""
    return {
        "p50_ms": round(statistics.median(values), 2),
        "p95_ms": round(_percentile(values, 0.95), 2),
        "max_ms": round(max(values), 2),
    }


def measure(triples: int, requests: int, work: Path) -> dict[str, object]:
    """Generate (or reuse) a network of about ``triples`` quads and time the routes on it."""
    data = work / f"data-{triples}-s42" / "dataset.nq"
    meta = load_meta(data) or generate(data, triples, 42)
    districts = [d for d in meta.districts if "/id/" in d]
    var_dir = work / f"var-rest-{triples}"
    began = time.perf_counter()
    # The on-disk store `kg build` makes (reused when it already holds these bytes).
    publish(var_dir, meta.path, base_iri=meta.base_iri, log=lambda _: None)
    build_seconds = time.perf_counter() - began
    spec = server_spec(
        f"kg-rest-{triples}",
        "kg (uvicorn, store=embedded as kg serve, no answer cache)",
        var_dir,
        meta.base_iri,
    )
    server = start_server(spec, work / "logs", timeout=900)
    try:
        with httpx.Client(base_url=server.base_url, timeout=120) as client:
            began = time.perf_counter()
            # Opens the build's search index (was: built it from the store, minutes at 10M).
            first = client.get("/api/entities/" + quote(districts[0], safe=""), timeout=900)
            index_seconds = time.perf_counter() - began  # includes opening the search index
            first.raise_for_status()
            labels = [first.json()["entity"]]
            for district in districts[1 : min(len(districts), 20)]:
                labels.append(
                    client.get("/api/entities/" + quote(district, safe="")).json()["entity"]
                )
            timings: dict[str, list[float]] = {"pairings": [], "search": [], "entity": []}
            for i in range(requests):
                district = districts[i % len(districts)]
                label = labels[i % len(labels)]
                for route, url in route_urls(i, district, label).items():
                    timings[route].append(_time(client, url))
    finally:
        stop_server(server)
    return {
        "triples": meta.triples,
        "districts": len(districts),
        "build_seconds": round(build_seconds, 1),
        "start_seconds": round(server.start_seconds, 1),
        "first_request_seconds": round(index_seconds, 2),
        "requests": requests,
        "routes": {route: summary(values) for route, values in timings.items()},
    }


def _markdown(runs: list[dict[str, object]], when: str) -> str:
    lines = [
        f"# REST API latency ({when})",
        "",
        "Sequential requests, each for another district; store=embedded, answer cache off. The",
        "machine is shared with other jobs (2 cores): figures are noisy, compare sizes, not runs.",
        "",
        "| quads | route | p50 ms | p95 ms | max ms |",
        "|---:|---|---:|---:|---:|",
    ]
    for run in runs:
        routes = run["routes"]
        assert isinstance(routes, dict)
        for route, figures in routes.items():
            lines.append(
                f"| {run['triples']:,} | {route} | {figures['p50_ms']} | {figures['p95_ms']} "
                f"| {figures['max_ms']} |"
            )
    lines.append("")
    for run in runs:
        lines.append(
            f"- {run['triples']:,} quads: server up in {run['start_seconds']} s, first request "
            f"(opens the search index) {run['first_request_seconds']} s."
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rest", description=__doc__)
    parser.add_argument("--triples", type=int, nargs="+", default=[100_000])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--work", type=Path, default=Path("var/bench"))
    parser.add_argument(
        "--name", help="result file stem under bench/results/ (default: <date>-rest)"
    )
    args = parser.parse_args(argv)
    runs = [measure(t, args.requests, args.work) for t in args.triples]
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    name = args.name or f"{when}-rest"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(runs, indent=1) + "\n", encoding="utf-8")
    (RESULTS / f"{name}.md").write_text(_markdown(runs, when), encoding="utf-8")
    print(_markdown(runs, when))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
