"""The expected-failure list: tests our endpoint is known to fail, each with its cause.

One line per test: ``<test IRI> <category> <cause...>``; ``#`` starts a comment. Categories:
``engine`` — the reference ``oxigraph serve`` fails it too (a limitation of the engine we
share); ``ours`` — only our endpoint fails it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["CATEGORIES", "EXPECTED_FAILURES_FILE", "ExpectedFailure", "load_expected_failures"]

EXPECTED_FAILURES_FILE = Path(__file__).with_name("expected_failures.txt")
CATEGORIES = ("engine", "ours")


@dataclass(frozen=True)
class ExpectedFailure:
    """One line of the list."""

    iri: str
    category: str
    cause: str
    line: int


def load_expected_failures(path: Path = EXPECTED_FAILURES_FILE) -> dict[str, ExpectedFailure]:
    """The list keyed by test IRI; a malformed line raises ValueError naming file and line."""
    out: dict[str, ExpectedFailure] = {}
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        parts = line.split(None, 2)
        if len(parts) < 3 or not parts[0].startswith("http"):
            raise ValueError(f"{path}:{n}: expected '<test IRI> <category> <cause>', got {raw!r}")
        iri, category, cause = parts
        if category not in CATEGORIES:
            raise ValueError(f"{path}:{n}: category {category!r} is not one of {CATEGORIES}")
        if iri in out:
            raise ValueError(f"{path}:{n}: {iri} already listed on line {out[iri].line}")
        out[iri] = ExpectedFailure(iri=iri, category=category, cause=cause, line=n)
    return out
