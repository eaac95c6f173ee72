"""The one typed settings object.

Read from ``KG_*`` environment variables (and an optional ``.env``) only by :func:`get_settings`;
everything else receives a :class:`Settings` instance explicitly.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ONTOLOGY_NS", "Settings", "get_settings", "project_root"]

#: The vocabulary namespace. Fixed: terms must not change between deployments.
ONTOLOGY_NS = "https://w3id.org/gq-kg/ontology#"


def project_root() -> Path:
    """The checkout (or install) root: the folder holding ``ontology/`` and ``data/``."""
    return Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Everything configurable about kg. Environment variables are ``KG_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="KG_", env_file=".env", extra="ignore")

    # --- identity -------------------------------------------------------------------------
    base_iri: str = Field(
        "https://w3id.org/gq-kg/",
        description="Base of every data IRI (entities live under {base_iri}id/...). Ends with /.",
    )

    # --- inputs and build -----------------------------------------------------------------
    ontology_dir: Path = Field(default_factory=lambda: project_root() / "ontology")
    data_dir: Path = Field(default_factory=lambda: project_root() / "data")
    var_dir: Path = Field(
        default_factory=lambda: project_root() / "var",
        description="Builds go to var/builds/<id>/; var/current points at the served one.",
    )

    # --- store ----------------------------------------------------------------------------
    store: Literal["embedded", "memory", "remote"] = Field(
        "embedded",
        description=(
            "embedded: the on-disk pyoxigraph store of the current build; memory: load "
            "`dataset_file` into memory (tests); remote: any SPARQL 1.1 endpoint at `remote_url`."
        ),
    )
    store_path: Path | None = Field(None, description="Override the on-disk store folder.")
    dataset_file: Path | None = Field(None, description="N-Quads/TriG file for store=memory.")
    remote_url: str | None = Field(None, description="Query endpoint URL for store=remote.")
    remote_update_url: str | None = None
    remote_timeout_header: bool = Field(
        True, description="Forward the deadline to the remote endpoint as a `timeout` parameter."
    )
    union_default_graph: bool = Field(
        True,
        description="The default graph is the union of all named graphs (like Fuseki/Oxigraph).",
    )

    # --- query safety ---------------------------------------------------------------------
    query_timeout: float = Field(10.0, gt=0, description="Seconds before a query is stopped.")
    query_workers: int = Field(2, ge=1, description="Worker processes running queries.")
    max_request_bytes: int = Field(1_000_000, ge=1024)
    max_query_depth: int = Field(64, ge=4, description="Deepest bracket nesting accepted.")
    max_result_rows: int = Field(100_000, ge=1)
    allow_service: bool = Field(False, description="Allow SERVICE (federated queries).")
    allow_remote_from: bool = Field(
        False,
        description=(
            "store=remote: pass FROM/FROM NAMED of graphs the store does not hold to the engine "
            "(some engines fetch them). The embedded engine never fetches: unknown = empty."
        ),
    )
    remote_version: str | None = Field(
        None,
        description="store=remote: a fixed data version for ETags and the cache (else measured).",
    )
    update_token: str | None = Field(
        None, description="Enables SPARQL Update behind `Authorization: Bearer <token>`."
    )
    cache_entries: int = Field(1024, ge=0, description="Result cache size (0 disables it).")
    cache_bytes: int = Field(
        64 * 1024 * 1024,
        ge=0,
        description="Total bytes of answers the result cache holds per HTTP process (0: none).",
    )
    max_value_bytes: int = Field(
        8 * 1024 * 1024,
        ge=1024,
        le=15 * 1024 * 1024,
        description=(
            "Longest solution (one TSV line, in practice one literal) an answer may carry; "
            "longer is a 413 in every format. Below the engine parsers' 16 MiB per value."
        ),
    )
    worker_memory_mb: int = Field(
        512,
        ge=0,
        description=(
            "Anonymous memory (MiB) one query worker may hold; a query past it is stopped "
            "(503 query_memory) and the worker replaced. 0: no limit."
        ),
    )
    light_budget: float = Field(
        0.3,
        gt=0,
        description=(
            "Seconds a query runs as a short one; past it, it counts against heavy_queries "
            "and its worker drops to the lowest CPU priority (the heavy lane). With the lane "
            "full, a query that has used this much CPU time is stopped (503 overloaded)."
        ),
    )
    heavy_queries: int = Field(
        8,
        ge=1,
        description=(
            "Long-running queries per HTTP process at once (the heavy lane), each on a worker "
            "of its own besides the query_workers; one more is stopped at light_budget with "
            "503 overloaded."
        ),
    )
    client_concurrency: int = Field(
        8, ge=1, description="Queries one client (remote address) may have running or queued."
    )
    client_penalty: float = Field(
        5.0,
        ge=0,
        description=(
            "Seconds a client waits (429) after one of its queries was stopped at its deadline, "
            "its memory limit or because the heavy lane was full. 0: no wait."
        ),
    )
    query_queue: int = Field(
        64,
        ge=0,
        description="Queries waiting for a free worker per HTTP process; more get 429.",
    )
    http_cache_max_age: int = Field(
        300, ge=0, description="Cache-Control max-age (seconds) of query answers; ETags revalidate."
    )

    # --- serving --------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    serve_workers: int = Field(
        2,
        ge=1,
        description=(
            "HTTP server processes for `kg serve`, each with its own query workers and result "
            "cache: the web layer is bound to one core per process. Forced to 1 with "
            "update_token (updates must reach one store) and with --reload."
        ),
    )
    public_url: str | None = Field(
        None, description="Externally visible base URL of the API (defaults to the request's)."
    )
    cors_origins: list[str] = Field(default_factory=lambda: ["*"])

    @property
    def current_build(self) -> Path:
        return self.var_dir / "current"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
