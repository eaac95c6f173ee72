"""Markdown report of one or more runs: pass rates per suite side by side, then the failures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

__all__ = ["render_markdown", "short_name", "suite_counts"]


class _Outcome(Protocol):
    iri: str
    suite: str
    status: str
    detail: str


def short_name(iri: str) -> str:
    """``.../data-sparql11/cast/manifest#cast-bool`` -> ``cast#cast-bool``."""
    head, _, frag = iri.partition("#")
    return f"{head.rstrip('/').rsplit('/', 2)[-2]}#{frag}"


def suite_counts(outcomes: Sequence[_Outcome]) -> dict[str, dict[str, int]]:
    """``{suite: {status: count}}`` in running order."""
    counts: dict[str, dict[str, int]] = {}
    for o in outcomes:
        per = counts.setdefault(o.suite, {})
        per[o.status] = per.get(o.status, 0) + 1
    return counts


def _cell(per: Mapping[str, int]) -> str:
    passed = per.get("pass", 0)
    refused = per.get("refused (read-only)", 0)
    errors = per.get("error", 0)
    scored = sum(per.values()) - refused
    text = f"{passed}/{scored}" + (f" ({100 * passed / scored:.0f}%)" if scored else "")
    if refused:
        text += f" + {refused} refused"
    if errors:
        text += f", {errors}× HTTP 5xx"
    return text


def render_markdown(
    runs: Mapping[str, Sequence[_Outcome]], causes: Mapping[str, str] | None = None
) -> str:
    """A table with one column per run (keyed by its label), then every test some run failed.

    ``causes``: test IRI -> explanation (the expected-failure list), shown next to failures.
    """
    labels = list(runs)
    counts = {label: suite_counts(runs[label]) for label in labels}
    suites: list[str] = []
    for label in labels:
        suites += [s for s in counts[label] if s not in suites]
    lines = ["| suite | tests | " + " | ".join(labels) + " |", "|---|---:|" + "---|" * len(labels)]
    for s in suites:
        n = max(sum(counts[lb].get(s, {}).values()) for lb in labels)
        cells = " | ".join(_cell(counts[lb].get(s, {})) for lb in labels)
        lines.append(f"| {s} | {n} | {cells} |")
    totals: dict[str, dict[str, int]] = {lb: {} for lb in labels}
    for lb in labels:
        for per in counts[lb].values():
            for k, v in per.items():
                totals[lb][k] = totals[lb].get(k, 0) + v
    n_all = max(sum(t.values()) for t in totals.values()) if totals else 0
    lines.append(f"| **all** | {n_all} | " + " | ".join(_cell(totals[lb]) for lb in labels) + " |")
    by_iri = {lb: {o.iri: o for o in runs[lb]} for lb in labels}
    order: dict[str, int] = {}
    for lb in labels:
        for o in runs[lb]:
            order.setdefault(o.iri, len(order))
    failed = sorted(
        {o.iri for lb in labels for o in runs[lb] if o.status in ("fail", "error")},
        key=order.__getitem__,
    )
    lines += ["", "| test | " + " | ".join(labels) + " | cause |"]
    lines.append("|---|" + "---|" * (len(labels) + 1))
    for iri in failed:
        outcomes = [by_iri[lb].get(iri) for lb in labels]
        statuses = " | ".join(o.status if o is not None else "—" for o in outcomes)
        cause = (causes or {}).get(iri) or next(
            (o.detail[:200] for o in outcomes if o is not None and o.detail), ""
        )
        cause = cause.replace("|", "\\|")
        lines.append(f"| `{short_name(iri)}` | {statuses} | {cause} |")
    return "\n".join(lines) + "\n"
