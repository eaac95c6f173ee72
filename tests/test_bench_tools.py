"""The benchmark's own tools at a small size: the generator's shape and the runner's texts.

Fast (a 5,000-quad network); the benchmark itself is not run here (``make bench``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pyoxigraph as ox
from bench.generate import generate
from bench.report import CaseResult, RunReport, round_ratios
from bench.run import FRESH_TEXTS, QUERIES, inline, query_texts, with_nonce
from bench.scale import percentile
from bench.wrk import WrkResult

from kg.queries import parse_query_file

GQ = "https://w3id.org/gq-kg/ontology#"


def test_generator_is_deterministic_and_models_rounds(tmp_path: Path) -> None:
    a = generate(tmp_path / "a" / "dataset.nq", 5000, seed=7)
    b = generate(tmp_path / "b" / "dataset.nq", 5000, seed=7)
    assert a.path.read_bytes() == b.path.read_bytes()
    lines = a.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == a.triples >= 5000
    assert len(set(lines)) >= len(lines) - 2  # (almost) no repeated quad: counts are real
    store = ox.Store()
    store.load(path=str(a.path), format=ox.RdfFormat.N_QUADS)
    solutions = store.query(
        f"SELECT ?d WHERE {{ GRAPH ?g {{ ?p a <{GQ}Pairing> ; <{GQ}periodStart> ?d }} }}"
    )
    assert isinstance(solutions, ox.QuerySolutions)
    starts = [s["d"] for s in solutions]
    assert starts
    assert all(isinstance(d, ox.Literal) and d.datatype.value.endswith("#date") for d in starts)
    ended = store.query(
        f"ASK {{ GRAPH ?g {{ ?p <{GQ}periodEnd> ?e ; <{GQ}periodEndPrecision> ?x }} }}"
    )
    assert bool(ended)
    assert a.districts
    assert a.counties
    assert a.prefectures


def test_fresh_texts_are_new_every_round_and_inline(tmp_path: Path) -> None:
    data = generate(tmp_path / "dataset.nq", 5000, seed=3)
    query = parse_query_file(QUERIES["one-hop"])
    one = query_texts("one-hop", query, "fresh", data, 1, round_no=1)
    two = query_texts("one-hop", query, "fresh", data, 1, round_no=2)
    assert len(set(one)) == len(one) == FRESH_TEXTS
    assert not set(one) & set(two)
    assert "?district" not in one[0]
    assert f"<{data.districts[0]}>" in "".join(one[:50])
    bound = query_texts("one-hop", query, "bound", data, 1, round_no=1)
    assert "VALUES (?district)" in bound[0]
    # Same answers: the nonce FILTER removes nothing, inline equals bound.
    store = ox.Store()
    store.load(path=str(data.path), format=ox.RdfFormat.N_QUADS)
    plain = inline(query.text, {"district": data.districts[0]})
    rows = {str(r["partner"]) for r in store.query(plain, use_default_graph_as_union=True)}  # type: ignore[union-attr]
    nonced = with_nonce(plain, "label", "x")
    again = {str(r["partner"]) for r in store.query(nonced, use_default_graph_as_union=True)}  # type: ignore[union-attr]
    assert rows
    assert rows == again


def test_round_ratios_and_percentile() -> None:
    def case(server: str, rnd: int, requests: int) -> CaseResult:
        result = WrkResult(requests, 1.0, 0, 1, 1, 1, 1, 1, 0, 0)
        return CaseResult(server, "one-hop", "fresh", rnd, result, 0, 0, 1)

    report = RunReport("", "", {}, {}, {}, {}, (0, 0, 0))
    report.cases = [case("oxigraph-disk", 1, 100), case("kg", 1, 50), case("oxigraph-disk", 2, 200)]
    report.cases.append(case("kg", 2, 160))
    assert round_ratios(report, "one-hop", "fresh", "kg", "oxigraph-disk") == [0.5, 0.8]
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0


def test_profile_charges_each_sample_to_its_innermost_component() -> None:
    from bench.profile import WRITE, classify

    outer = ["Runner.run (asyncio/runners.py:118)", "sparql (api/routers/sparql.py:140)"]
    guard = [*outer, "prepare_query (kg/store/prepare.py:58)", "read (kg/sparql/guard.py:138)",
             "__iter__ (kg/sparql/tokens.py:213)"]  # fmt: skip
    assert classify(guard) == "guard (lexer)"
    trip = [*outer, "_exchange (kg/store/pool.py:516)"]
    assert classify(trip) == "worker round trip (socket, frames, await)"
    assert classify(outer) == "/sparql route: ETag, headers, render"
    sending = [*outer, "RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py:524)"]
    assert classify(sending) == WRITE
    assert classify(["main (elsewhere.py:1)"]) == "other"


def test_profile_samples_the_http_processes_not_the_fork_server() -> None:
    from bench.profile import _http_processes

    code = "import time; time.sleep(30)"
    serving = subprocess.Popen([sys.executable, "-c", code])
    # A fork server / query worker: its command line names kg.store.
    worker = subprocess.Popen([sys.executable, "-c", f"{code} # kg.store.zygote"])
    try:
        for process in (serving, worker):  # until both have exec'd python (else: our cmdline)
            cmdline = Path(f"/proc/{process.pid}/cmdline")
            while b"time.sleep" not in cmdline.read_bytes():
                time.sleep(0.01)
        found = _http_processes(os.getpid())
        assert serving.pid in found
        assert worker.pid not in found
        assert _http_processes(serving.pid) == [serving.pid]  # no children: itself
    finally:
        for process in (serving, worker):
            process.kill()
            process.wait()
