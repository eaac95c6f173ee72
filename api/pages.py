"""The two HTML pages (landing page and query page), read from ``api/static`` once."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

__all__ = ["STATIC_DIR", "landing_page", "query_page"]

STATIC_DIR = Path(__file__).resolve().parent / "static"


@lru_cache(maxsize=4)
def _read(name: str) -> bytes:
    return (STATIC_DIR / name).read_bytes()


def landing_page() -> bytes:
    """``/``: what this is, with links to the endpoint, the dump and the docs."""
    return _read("index.html")


def query_page() -> bytes:
    """The SPARQL query form a browser gets on a bare GET of ``/sparql``."""
    return _read("query.html")
