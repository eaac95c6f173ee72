"""The one typed settings object.

Read from ``KG_*`` environment variables (and an optional ``.env``) only by :func:`get_settings`;
everything else receives a :class:`Settings` instance explicitly.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["ONTOLOGY_NS", "Settings", "get_settings", "project_root", "setting_errors"]

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
    map_max_nodes: int = Field(
        5000,
        ge=1,
        description=(
            "Most entities an entity's map (/maps/entity/, kg map entity) gathers around its "
            "centre; more is a 413 that asks for fewer hops."
        ),
    )
    network_max_claims: int = Field(
        100_000,
        ge=0,
        description=(
            "Most claims (pairings, participations, memberships, issuances) the whole-network "
            "maps and analysis project; more is a 413 that points to an entity's map (0: no "
            "limit)."
        ),
    )
    allow_service: bool = Field(False, description="Allow SERVICE (federated queries).")
    allow_unisolated: bool = Field(
        False,
        description=(
            "Start even when query workers cannot leave the network namespace (unshare "
            "refused): the guard alone then keeps SERVICE and LOAD out, SERVICE refused "
            "whatever allow_service says. Off: such a server refuses to start."
        ),
    )
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
    search_index: Path | None = Field(
        None,
        description=(
            "store=remote: the search index `kg build` wrote for the dump the endpoint holds "
            "(`var/current/search.sqlite`); used when its build id equals `remote_version`, "
            "else the index is built from the endpoint on first use."
        ),
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
    query_memory_budget_mb: int = Field(
        640,
        ge=0,
        description=(
            "Memory (MiB) all running queries of one HTTP process may add to their workers "
            "together; past it the query that grew most is stopped (503 query_memory). Bounds "
            "the whole server: serve_workers x this, plus the workers' own size. 0: no budget."
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
    inprocess_budget: float = Field(
        0.0,
        ge=0,
        le=60,
        description=(
            "Uncached read-only queries run in a thread of the HTTP process itself (no worker "
            "round trip); one still running after this many seconds drops to the lowest CPU "
            "priority and its memory is watched; past its deadline or worker_memory_mb it is "
            "answered 503 and the process recycles. Only under a supervisor (serve_workers >= "
            "2). 0 (default): off — under runaway queries, recycling drops connections (see "
            "docs/stores.md); turn it on for trusted or mostly cheap traffic, e.g. 0.3."
        ),
    )
    inprocess_threads: int = Field(
        2, ge=1, le=64, description="Threads per HTTP process for the in-process lane."
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
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["*"],
        description=(
            "Origins allowed to read answers cross-origin: `*`, or a comma-separated list "
            "(`KG_CORS_ORIGINS=https://a.example,https://b.example`), or a JSON list."
        ),
    )
    follow_interval: float = Field(
        1.0,
        ge=0,
        description=(
            "Seconds between two looks at var/current while serving: a new build is served "
            "within about this time (0: never switch; restart to serve a new build)."
        ),
    )

    # --- HTTP limits (enforced by api.http under uvicorn) -------------------------------------
    max_header_bytes: int = Field(
        65_536, ge=1024, description="Request line plus all header lines, in bytes (else 431)."
    )
    max_headers: int = Field(100, ge=8, description="Header lines per request (else 431).")
    header_timeout: float = Field(
        10.0, gt=0, description="Seconds for a request's line and headers to arrive (else 408)."
    )
    body_timeout: float = Field(
        30.0, gt=0, description="Seconds for a request's whole body to arrive (else 408)."
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)  # a JSON error becomes a readable ValidationError
        return [part.strip() for part in text.split(",") if part.strip()]

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            if origin != "*" and (parts.scheme not in {"http", "https"} or not parts.netloc):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port]) nor *")
        return value

    @field_validator("base_iri")
    @classmethod
    def _check_base_iri(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc or not value.endswith("/"):
            raise ValueError(f"{value!r} must be an http(s) IRI ending with /")
        return value

    @field_validator("remote_url", "remote_update_url", "public_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in {"http", "https"} or not parts.netloc:
                raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @property
    def current_build(self) -> Path:
        return self.var_dir / "current"


def setting_errors(error: ValidationError) -> list[str]:
    """One readable line per bad setting: ``KG_NAME: problem (got 'value')``."""
    lines = []
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem.get("loc") else "?"
        message = str(problem.get("msg", "invalid")).removeprefix("Value error, ")
        given = problem.get("input")
        shown = f" (got {given!r})" if isinstance(given, str | int | float) else ""
        lines.append(f"KG_{field.upper()}: {message}{shown}")
    return lines


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
