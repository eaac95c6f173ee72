"""The two servers under test, on 127.0.0.1 free ports, through tests/support/servers.py.

The reference ``oxigraph serve-read-only`` (PyPI ``oxigraph``) on a store loaded from the
suite's N-Quads, and our endpoint (``api.app:create_app`` under uvicorn, in-memory store on the
same file). Each yields a :class:`Server` with the query endpoint URL and stops on exit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support import servers as support

__all__ = ["Server", "ServerError", "kg_server", "oxigraph_server"]

ServerError = support.ServerError


@dataclass(frozen=True)
class Server:
    """A running server: its query endpoint URL."""

    endpoint: str


@contextmanager
def oxigraph_server(nquads: Path, workdir: Path) -> Iterator[Server]:
    """``oxigraph serve-read-only`` on a fresh store in ``workdir`` loaded from ``nquads``.

    No union default graph: every test names its dataset with the protocol.
    """
    with support.oxigraph_server(
        nquads, workdir / "oxigraph-store", union_default_graph=False
    ) as url:
        yield Server(endpoint=url)


@contextmanager
def kg_server(nquads: Path, workdir: Path) -> Iterator[Server]:
    """Our endpoint under uvicorn with ``KG_STORE=memory KG_DATASET_FILE=<nquads>``."""
    env = {"KG_STORE": "memory", "KG_DATASET_FILE": str(nquads), "KG_QUERY_TIMEOUT": "10"}
    with support.api_server(env, log=workdir / "kg.log") as base:
        yield Server(endpoint=f"{base}/sparql")
