"""The query form ``/sparql`` shows a browser, read from ``api/static`` once."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

__all__ = ["STATIC_DIR", "query_page"]

STATIC_DIR = Path(__file__).resolve().parent / "static"


@lru_cache(maxsize=4)
def _read(name: str) -> bytes:
    return (STATIC_DIR / name).read_bytes()


def query_page() -> bytes:
    """The SPARQL query form a browser gets on a bare GET of ``/sparql``."""
    return _read("query.html")
