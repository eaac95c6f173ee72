"""The engine alone: CPU per query of pyoxigraph in this process, no HTTP, no workers.

    python -m bench.engine [--repeat 2000]

Uses the stores and data a ``python -m bench.run`` left in ``var/bench`` (the oxigraph-loaded
store and the kg build), so the numbers sit next to the servers' "server CPU ms/req": what the
engine costs by itself, what kg's serialiser (:func:`kg.sparql.results.serialize_result`) and
guard add, and whether the two stores differ.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from bench.generate import load_meta
from bench.run import QUERIES, ROOT, query_texts
from kg.config import Settings
from kg.queries import parse_query_file
from kg.sparql import guard
from kg.sparql.results import serialize_result

__all__ = ["main"]

_JSON = ("application/sparql-results+json",)


def _cpu_ms(work: Callable[[str], Any], texts: list[str], repeat: int) -> float:
    began = time.process_time()
    for i in range(repeat):
        work(texts[i % len(texts)])
    return 1000 * (time.process_time() - began) / repeat


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engine", description=__doc__)
    parser.add_argument("--repeat", type=int, default=2000, help="one-hop queries per line")
    parser.add_argument("--triples", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench")
    args = parser.parse_args(argv)
    work: Path = args.work.resolve()
    dataset = load_meta(work / f"data-{args.triples}-s{args.seed}" / "dataset.nq")
    builds = sorted((work / "var" / "builds").glob("*/store"))
    if dataset is None or not builds or not (work / "oxigraph").is_dir():
        raise SystemExit("bench.engine: run `python -m bench.run` first (it makes the stores)")
    settings = Settings()
    for name, path in (("oxigraph-loaded store", work / "oxigraph"), ("kg build", builds[-1])):
        store = ox.Store.read_only(str(path))

        def native(text: str, store: Any = store) -> bytes:
            result = store.query(text, use_default_graph_as_union=True)
            return bytes(result.serialize(format=ox.QueryResultsFormat.JSON))

        def kg(text: str, store: Any = store) -> bytes:
            result = store.query(text, use_default_graph_as_union=True)
            return serialize_result(result, _JSON, settings.max_result_rows).body

        for query in QUERIES:
            texts = query_texts(query, parse_query_file(QUERIES[query]), "fresh", dataset, 1)
            repeat = args.repeat if query == "one-hop" else max(3, args.repeat // 400)
            print(
                f"{name:22} {query:11} pyoxigraph + native JSON "
                f"{_cpu_ms(native, texts, repeat):8.3f} ms | + kg serialiser "
                f"{_cpu_ms(kg, texts, repeat):8.3f} ms | guard.check "
                f"{_cpu_ms(lambda t: guard.check(t, settings, ()), texts, repeat):6.3f} ms"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
