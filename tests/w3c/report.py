"""Markdown report of one or more runs: pass rates per suite side by side, then the failures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

__all__ = ["render_markdown", "suite_counts"]


class _Outcome(Protocol):
    iri: str
    suite: str
    status: str
    detail: str


def suite_counts(outcomes: Sequence[_Outcome]) -> dict[str, dict[str, int]]:
    """``{suite: {status: count}}`` in running order."""
    counts: dict[str, dict[str, int]] = {}
    for o in outcomes:
        per = counts.setdefault(o.suite, {})
        per[o.status] = per.get(o.status, 0) + 1
    return counts


def _cell(per: Mapping[str, int]) -> str:
    total = sum(per.values())
    passed = per.get("pass", 0)
    refused = per.get("refused (read-only)", 0)
    errors = per.get("error", 0)
    scored = total - refused
    text = f"{passed}/{scored}" + (f" ({100 * passed / scored:.0f}%)" if scored else "")
    if refused:
        text += f" + {refused} refused"
    if errors:
        text += f", **{errors} errors**"
    return text


def render_markdown(runs: Mapping[str, Sequence[_Outcome]]) -> str:
    """A table with one column per run (keyed by a label) and the failures of each run."""
    labels = list(runs)
    counts = {label: suite_counts(runs[label]) for label in labels}
    suites: list[str] = []
    for label in labels:
        suites += [s for s in counts[label] if s not in suites]
    lines = [
        "| suite | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    for s in suites:
        lines.append(f"| {s} | " + " | ".join(_cell(counts[lb].get(s, {})) for lb in labels) + " |")
    totals = {lb: {} for lb in labels}  # type: dict[str, dict[str, int]]
    for lb in labels:
        for per in counts[lb].values():
            for k, v in per.items():
                totals[lb][k] = totals[lb].get(k, 0) + v
    lines.append("| **all** | " + " | ".join(_cell(totals[lb]) for lb in labels) + " |")
    for lb in labels:
        bad = [o for o in runs[lb] if o.status in ("fail", "error")]
        lines += ["", f"Failures against {lb} ({len(bad)}):", ""]
        lines += [f"- `{o.iri}` — {o.status}: {o.detail[:400]}" for o in bad] or ["- none"]
    return "\n".join(lines) + "\n"
