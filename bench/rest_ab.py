"""A/B latency of the REST routes: two source trees served side by side over one build.

    python -m bench.rest_ab --base /tmp/main-tree --triples 10000000 --requests 100 --name NAME

``--base`` is a checkout (or ``git archive``) of the code to compare against, holding ``src/``,
``api/`` and ``ontology/``; the other server runs this checkout. Both serve the build
:mod:`bench.rest` made for ``--triples`` (run it first), as bench.rest starts kg (store=embedded,
one query worker, answer cache off). Their search indexes are built at the same time, then
every request goes to both servers back to back, the order alternating, so that both see the
same load on a shared machine (sequential runs minutes apart moved by 2x here). Afterwards the
answers of both are compared for the districts timed: pairings must be equal, an entity's facts
equal as a set (their order follows the engine's and is not fixed). Results go to
``bench/results/<name>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx

from bench.generate import load_meta
from bench.rest import ROOT, _time, route_urls, server_spec, summary
from bench.servers import start_server, stop_server

__all__ = ["main"]

RESULTS = Path(__file__).resolve().parent / "results"
ROUTES = ("pairings", "search", "entity")


def _sorted_facts(answer: dict[str, object]) -> dict[str, object]:
    facts = answer.get("facts")
    if isinstance(facts, list):
        facts.sort(key=lambda f: json.dumps(f, sort_keys=True))
    return answer


def measure(base: Path, triples: int, requests: int, work: Path) -> dict[str, object]:
    meta = load_meta(work / f"data-{triples}-s42" / "dataset.nq")
    if meta is None:
        raise SystemExit(f"no generated network of {triples} quads under {work}: run bench.rest")
    districts = [d for d in meta.districts if "/id/" in d]
    var_dir = work / f"var-rest-{triples}"
    trees = {"base": base.resolve(), "branch": ROOT}
    specs = {
        n: server_spec(f"kg-ab-{n}", f"kg from {root}", var_dir, meta.base_iri, root)
        for n, root in trees.items()
    }
    servers = {n: start_server(spec, work / "logs", timeout=900) for n, spec in specs.items()}
    try:
        clients = {n: httpx.Client(base_url=s.base_url, timeout=120) for n, s in servers.items()}
        first = "/api/entities/" + quote(districts[0], safe="")
        began = time.perf_counter()
        with ThreadPoolExecutor(len(clients)) as pool:
            firsts = list(pool.map(lambda c: c.get(first, timeout=1800), clients.values()))
        for response in firsts:
            response.raise_for_status()
        index_seconds = time.perf_counter() - began
        labels = [firsts[0].json()["entity"]]
        for district in districts[1 : min(len(districts), 20)]:
            url = "/api/entities/" + quote(district, safe="")
            labels.append(clients["base"].get(url).json()["entity"])
            clients["branch"].get(url)
        timings: dict[str, dict[str, list[float]]] = {n: {r: [] for r in ROUTES} for n in clients}
        for i in range(requests):
            urls = route_urls(i, districts[i % len(districts)], labels[i % len(labels)])
            order = ["base", "branch"] if i % 2 == 0 else ["branch", "base"]
            for route, url in urls.items():
                for n in order:
                    timings[n][route].append(_time(clients[n], url))
        same = 0
        for district in districts[:requests]:
            party = quote(district, safe="")
            pairings = [c.get(f"/api/pairings?party={party}").json() for c in clients.values()]
            entities = [
                _sorted_facts(c.get(f"/api/entities/{party}").json()) for c in clients.values()
            ]
            same += pairings[0] == pairings[1] and entities[0] == entities[1]
    finally:
        for server in servers.values():
            stop_server(server)
    return {
        "triples": meta.triples,
        "requests": requests,
        "base": str(trees["base"]),
        "first_request_seconds": round(index_seconds, 1),
        "same_answers": f"{same}/{requests}",
        "routes": {n: {r: summary(v) for r, v in t.items()} for n, t in timings.items()},
    }


def _markdown(run: dict[str, object], when: str) -> str:
    lines = [
        f"# REST API latency, A/B ({when})",
        "",
        f"{run['triples']:,} quads, {run['requests']} requests per route and server, interleaved;",
        f"base: `{run['base']}`. Same answers: {run['same_answers']} districts.",
        "",
        "| route | base p50 ms | base p95 ms | branch p50 ms | branch p95 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    routes = run["routes"]
    assert isinstance(routes, dict)
    for route in ROUTES:
        a, b = routes["base"][route], routes["branch"][route]
        lines.append(f"| {route} | {a['p50_ms']} | {a['p95_ms']} | {b['p50_ms']} | {b['p95_ms']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rest_ab", description=__doc__)
    parser.add_argument("--base", type=Path, required=True, help="the other source tree")
    parser.add_argument("--triples", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--work", type=Path, default=Path("var/bench"))
    parser.add_argument("--name", help="result file stem (default: <date>-rest-ab)")
    args = parser.parse_args(argv)
    run = measure(args.base, args.triples, args.requests, args.work)
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    name = args.name or f"{when}-rest-ab"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(run, indent=1) + "\n", encoding="utf-8")
    (RESULTS / f"{name}.md").write_text(_markdown(run, when), encoding="utf-8")
    print(_markdown(run, when))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
