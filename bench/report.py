"""Turn a run into markdown: the machine, the data, the table, the ratios, the goals."""

from __future__ import annotations

import argparse
import json
import re
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.wrk import WrkResult

__all__ = [
    "GOALS",
    "CaseResult",
    "RunReport",
    "load_report",
    "main",
    "update_readme",
    "write_report",
]

MIB = 2**20
#: (query, minimum ratio of uncached kg over oxigraph-disk on fresh texts) from issue 10.
GOALS = {"one-hop": 0.6, "aggregation": 1.0}
BASELINE = "oxigraph-disk"
README_START = "<!-- bench:results:start -->"
README_END = "<!-- bench:results:end -->"


@dataclass
class CaseResult:
    server: str
    query: str
    mode: str
    round: int
    result: WrkResult
    rss_peak: int
    pss_peak: int
    processes: int
    #: CPU seconds the server's process tree used during the measured run.
    cpu_seconds: float = 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        """Server CPU per answered request: robust to other load on a shared machine."""
        return 1000 * self.cpu_seconds / self.result.requests if self.result.requests else 0.0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.query, self.mode, self.server)


@dataclass
class RunReport:
    started: str
    command: str
    machine: dict[str, str]
    dataset: dict[str, Any]
    settings: dict[str, Any]
    loads: dict[str, float]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    finished: str = ""
    servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: "server query" → status of a conditional GET with the ETag of a first answer.
    etag_checks: dict[str, int] = field(default_factory=dict)
    cases: list[CaseResult] = field(default_factory=list)

    def medians(self) -> dict[tuple[str, str, str], CaseResult]:
        """Per (query, mode, server): the round with the median throughput."""
        groups: dict[tuple[str, str, str], list[CaseResult]] = {}
        for case in self.cases:
            groups.setdefault(case.key, []).append(case)
        chosen = {}
        for key, cases in groups.items():
            cases.sort(key=lambda c: c.result.rps)
            chosen[key] = cases[(len(cases) - 1) // 2]
        return chosen

    def to_json(self) -> dict[str, Any]:
        raw = asdict(self)
        for case, out in zip(self.cases, raw["cases"], strict=True):
            out["result"]["rps"] = round(case.result.rps, 1)
        return raw


def _rps(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _rounds(report: RunReport) -> dict[tuple[str, str, str], list[CaseResult]]:
    groups: dict[tuple[str, str, str], list[CaseResult]] = {}
    for case in report.cases:
        groups.setdefault(case.key, []).append(case)
    return groups


def results_table(report: RunReport) -> list[str]:
    table = report.medians()
    rounds = _rounds(report)
    lines = [
        "| query | mode | server | req/s (median round) | min–max over rounds | p50 ms | p99 ms "
        "| server CPU ms/req | errors | peak RSS MiB (PSS) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (query, mode, server), case in sorted(
        table.items(), key=lambda kv: (_order(kv[0][0]), _order(kv[0][1]), _order(kv[0][2]))
    ):
        r = case.result
        all_rps = [c.result.rps for c in rounds[(query, mode, server)]]
        spread = f"{_rps(min(all_rps))}–{_rps(max(all_rps))} ({len(all_rps)})"
        lines.append(
            f"| {query} | {mode} | {server} | {_rps(r.rps)} | {spread} | {r.p50_ms:.2f} "
            f"| {r.p99_ms:.2f} | {case.cpu_ms_per_request:.3f} | {r.errors} | "
            f"{case.rss_peak / MIB:,.0f} ({case.pss_peak / MIB:,.0f}) |"
        )
    return lines


def round_ratios(report: RunReport, query: str, mode: str, server: str, base: str) -> list[float]:
    """``server``'s req/s over ``base``'s, per round (the servers ran interleaved)."""
    by_round: dict[int, dict[str, float]] = {}
    for case in report.cases:
        if case.query == query and case.mode == mode and case.server in (server, base):
            by_round.setdefault(case.round, {})[case.server] = case.result.rps
    return sorted(r[server] / r[base] for r in by_round.values() if r.get(base) and server in r)


def _spread(values: list[float]) -> str:
    if not values:
        return "–"
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:.2f}×"
    return f"{median:.2f}× ({values[0]:.2f}–{values[-1]:.2f})"


_ORDER = [
    "one-hop", "aggregation", "same", "fresh", "bound", "vary", "etag",
    "oxigraph-disk", "oxigraph-mem", "kg", "kg-nocache", "kg-remote", "virtuoso", "rdflib",
    "kg-workers", "kg-lane", "kg-inprocess",
]  # fmt: skip


def _order(name: str) -> int:
    return _ORDER.index(name) if name in _ORDER else len(_ORDER)


def ratio_table(report: RunReport) -> list[str]:
    """Every server against ``oxigraph serve-read-only`` from disk: the median of the per-round
    ratios and their min–max."""
    servers = sorted({c.server for c in report.cases} - {BASELINE}, key=_order)
    pairs = sorted(
        {(c.query, c.mode) for c in report.cases}, key=lambda p: (_order(p[0]), _order(p[1]))
    )
    lines = [
        f"req/s ÷ {BASELINE}'s in the same round: median of the rounds (min–max).",
        "",
        "| query | mode | " + " | ".join(servers) + " |",
        "|---|---|" + "---:|" * len(servers),
    ]
    for query, mode in pairs:
        cells = [_spread(round_ratios(report, query, mode, s, BASELINE)) for s in servers]
        if all(c == "–" for c in cells):
            continue  # e.g. etag: oxigraph sends no ETag, there is nothing to compare
        lines.append(f"| {query} | {mode} | " + " | ".join(cells) + " |")
    return lines


def goal_lines(report: RunReport) -> list[str]:
    """The speed goals of issue 10, on the uncached path (kg-nocache), fresh texts."""
    lines = [
        "| goal | measured: median round (min–max) | met? |",
        "|---|---|---|",
    ]
    for query, floor in GOALS.items():
        for server in ("kg-nocache", "kg"):
            ratios = round_ratios(report, query, "fresh", server, BASELINE)
            if not ratios:
                continue
            met = "yes" if statistics.median(ratios) >= floor else "**no**"
            lines.append(
                f"| {query} fresh texts, {server} ≥ {floor}× {BASELINE} | {_spread(ratios)} "
                f"| {met} |"
            )
    for query in GOALS:
        ratios = round_ratios(report, query, "same", "kg", BASELINE)
        if ratios:
            met = "yes" if statistics.median(ratios) >= 1.0 else "**no**"
            lines.append(
                f"| {query} cached (kg, same text) ≥ 1× {BASELINE} | {_spread(ratios)} | {met} |"
            )
    for key, status in sorted(report.etag_checks.items()):
        met = "yes" if status == 304 else "**no**"
        lines.append(f"| conditional GET with the ETag → 304 ({key}) | HTTP {status} | {met} |")
    return lines


def write_report(report: RunReport, path: Path) -> Path:
    m, d, s, loads = report.machine, report.dataset, report.settings, report.loads
    lines = [
        f"# Benchmark run {report.started}",
        "",
        f"Command: `{report.command}` (finished {report.finished}).",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in m.items()],
        f"| load average before / after | {_load(report.load_before)} / "
        f"{_load(report.load_after)} |",
        "",
        "## Data and loading",
        "",
        f"Synthetic pairing network (`bench/generate.py`, seed {d['seed']}): {d['quads']:,} quads "
        f"({d['file_mib']} MiB of N-Quads), {d['districts']} districts, {d['pairings']:,} "
        "pairings, in the build's four named graphs. Every server answers from the union of "
        "the graphs.",
        "",
        "| server | how it got the data | seconds | idle RSS MiB |",
        "|---|---|---:|---:|",
    ]
    for name, info in report.servers.items():
        if name == "oxigraph-disk":
            how = f"`oxigraph load` {loads['oxigraph_load']:.1f} s + `optimize` "
            how += f"{loads['oxigraph_optimize']:.1f} s"
            secs = loads["oxigraph_load"] + loads["oxigraph_optimize"]
        elif name == "oxigraph-mem":
            how, secs = "HTTP POST of the N-Quads to /store", info["http_load_s"] or 0.0
        elif name == "kg-remote":
            how, secs = "none of its own: it queries the oxigraph-disk server", 0.0
        elif name == "rdflib":
            how, secs = "parses the N-Quads file at start", info["start_s"]
        elif name == "virtuoso":
            how, secs = (
                "`ld_dir` + `rdf_loader_run` + checkpoint (isql)",
                info["http_load_s"] or 0.0,
            )
        else:
            how = "`kg.build.publish` (hash, bulk_load, optimize, manifest)"
            secs = loads["kg_build"]
        lines.append(f"| {name} | {how} | {secs:.1f} | {info['idle_rss'] / MIB:,.0f} |")
    lines += [
        "",
        "Servers: " + "; ".join(f"**{k}**: {v['description']}" for k, v in report.servers.items()),
        "",
        "## Answers",
        "",
        "Before timing, each query was sent once to every server and the answers compared:",
        "",
        *[
            f"- {q}: {a['rows']} rows, {'identical on every server' if a['agree'] else 'DIFFER'}"
            f" (HTTP {sorted(set(a['status'].values()))})"
            for q, a in report.answers.items()
        ],
        "",
        "## Throughput and latency",
        "",
        f"wrk, {s['concurrency']} connections, {s['wrk_threads']} threads, {s['duration_s']:g} s "
        f"per one-hop case and {s.get('slow_duration_s', s['duration_s']):g} s per aggregation "
        f"case, each after {s['warmup_s']:g} s of warm-up, {s['rounds']} round(s), servers "
        "interleaved within each round (median round shown, min–max next to it); between cases "
        "the runner waits until the server is idle again. wrk runs on the "
        "same 2 cores as the server it measures. Server CPU per request: user + system time of "
        "the server's whole process tree during the run, divided by the answered requests.",
        "",
        *results_table(report),
        "",
        "## Ratios",
        "",
        *ratio_table(report),
        "",
        "## Goals (issue 10)",
        "",
        *goal_lines(report),
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _load(values: tuple[float, float, float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def update_readme(report: RunReport, readme: Path, results_name: str) -> None:
    """Replace the table between the README's markers with this run's."""
    block = "\n".join(
        [
            README_START,
            f"Latest run: {report.started}, {report.dataset['quads']:,} quads, "
            f"concurrency {report.settings['concurrency']}, "
            f"{report.settings['duration_s']:g} s per one-hop case, "
            f"{report.settings.get('slow_duration_s', report.settings['duration_s']):g} s per "
            "aggregation case; full report: "
            f"[results/{results_name}](results/{results_name}).",
            "",
            *results_table(report),
            "",
            *ratio_table(report),
            "",
            *goal_lines(report),
            README_END,
        ]
    )
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    readme.write_text(text, encoding="utf-8")


def load_report(path: Path) -> RunReport:
    """A run read back from its ``.json`` (to re-render it after the report format changed)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    cases = []
    for case in raw.pop("cases"):
        result = dict(case.pop("result"))
        result.pop("rps", None)
        cases.append(CaseResult(result=WrkResult(**result), **case))
    for key in ("load_before", "load_after"):
        raw[key] = tuple(raw[key])
    return RunReport(cases=cases, **raw)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.report", description="Re-render a run's markdown from its .json."
    )
    parser.add_argument("json", type=Path)
    parser.add_argument("--readme", action="store_true", help="also update bench/README.md")
    args = parser.parse_args(argv)
    report = load_report(args.json)
    md = write_report(report, args.json.with_suffix(".md"))
    if args.readme:
        update_readme(report, Path(__file__).resolve().parent / "README.md", md.name)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
