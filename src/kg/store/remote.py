"""Any SPARQL 1.1 Protocol endpoint as a kg store (Oxigraph server, Fuseki, QLever, Virtuoso …).

Queries are guarded exactly as for the embedded store, then POSTed URL-encoded
(``query=``/``update=`` with ``default-graph-uri``/``named-graph-uri`` forwarded): the one
request form every SPARQL 1.1 engine accepts (Virtuoso 7.2 never answers a direct
``application/sparql-query`` body). The
answer is asked for in one canonical format (SPARQL JSON for SELECT/ASK, N-Triples for
CONSTRUCT/DESCRIBE), parsed with pyoxigraph and re-serialised by :mod:`kg.sparql.results`, so
caps, truncation and formats behave exactly as with the embedded store.

Errors: the deadline → QueryTimeout (the HTTP request is cancelled); a 400 → QuerySyntaxError
with the server's message; connection refused, DNS failure or a 5xx → StoreUnavailable.

Version (for caches and ETags): ``remote_version`` from the settings when given (set it from
your deployment, e.g. the loaded dump's build id); otherwise a hash of the endpoint URL and its
quad count, recounted at most every ``VERSION_TTL`` seconds in the background.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from typing import Any, Final
from urllib.parse import urlencode, urljoin

import httpx
import pyoxigraph as ox

from kg.config import Settings
from kg.errors import (
    ForbiddenQuery,
    QuerySyntaxError,
    QueryTimeout,
    ResultTooLarge,
    StoreError,
    StoreUnavailable,
    UpdateNotAllowed,
)
from kg.queries import get_query
from kg.sparql.negotiation import N_TRIPLES, SPARQL_JSON
from kg.sparql.results import serialize_result
from kg.sparql.types import QueryRequest, QueryResult, ResultKind, StoreInfo
from kg.store.prepare import prepare_query, prepare_update

__all__ = ["VERSION_TTL", "RemoteStore"]

#: Seconds a counted version stays valid before it is recounted.
VERSION_TTL: Final = 30.0

_ACCEPT: Final[dict[ResultKind | None, str]] = {
    "solutions": SPARQL_JSON,
    "boolean": SPARQL_JSON,
    "graph": f"{N_TRIPLES}, text/turtle;q=0.9",
    None: f"{SPARQL_JSON}, {N_TRIPLES};q=0.9, text/turtle;q=0.8",
}
_MESSAGE_LIMIT: Final = 2000
_VIRTUOSO_BNODE: Final = b'"nodeID://'
#: A BASE declaration opening the query (after blank lines and comments).
_LEADING_BASE: Final = re.compile(r"\A((?:\s|#[^\n]*\n)*)BASE\s*<([^<>\"{}|^`\\\s]*)>", re.I)


class RemoteStore:
    """A SPARQL 1.1 Protocol endpoint at ``settings.remote_url``."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None):
        if not settings.remote_url:
            raise StoreUnavailable("store=remote needs remote_url (KG_REMOTE_URL)")
        self.settings = settings
        self.url = settings.remote_url
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._fixed_version: str | None = getattr(settings, "remote_version", None)
        self._version = ""
        self._counted_at = 0.0
        self._graphs: tuple[str, ...] = ()
        self._refreshing: asyncio.Task[None] | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise StoreUnavailable("the store is not open")
        return self._client

    async def start(self) -> None:
        """Open the HTTP client and check that the endpoint answers (graphs and version)."""
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=16)
        self._client = httpx.AsyncClient(
            transport=self._transport,
            limits=limits,
            timeout=None,  # noqa: S113 - each query has its own deadline (asyncio.timeout)
            trust_env=False,
        )
        try:
            await self._refresh()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._refreshing is not None:
            self._refreshing.cancel()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _named_query(self, name: str) -> str:
        return get_query(name, self.settings.ontology_dir / "queries").text

    async def _select(self, text: str) -> list[dict[str, Any]]:
        body, _ = await self._post(text, SPARQL_JSON, (), (), self.settings.query_timeout)
        try:
            solutions = ox.parse_query_results(body, ox.QueryResultsFormat.JSON)
        except (SyntaxError, ValueError) as exc:
            raise StoreError(f"{self.url} answered unparsable SPARQL JSON: {exc}") from None
        if not isinstance(solutions, ox.QuerySolutions):
            raise StoreError(f"{self.url} answered a boolean to a SELECT query")
        return [{v.value: s[v] for v in solutions.variables} for s in solutions]

    async def _refresh(self) -> None:
        rows = await self._select(self._named_query("store-graphs"))
        self._graphs = tuple(
            sorted(row["g"].value for row in rows if isinstance(row.get("g"), ox.NamedNode))
        )
        if self._fixed_version:
            self._version = self._fixed_version
        else:
            counted = await self._select(self._named_query("store-quad-count"))
            count = counted[0]["n"].value if counted and counted[0].get("n") is not None else "?"
            digest = hashlib.sha256(f"{self.url}\n{count}\n{self._graphs}".encode())
            self._version = digest.hexdigest()[:16]
        self._counted_at = time.monotonic()

    async def _refresh_quietly(self) -> None:
        try:
            await self._refresh()
        except Exception:
            self._counted_at = time.monotonic()

    async def info(self) -> StoreInfo:
        """Version (fixed, or recounted in the background when stale), graphs."""
        self.client  # noqa: B018 - raises StoreUnavailable when closed
        stale = time.monotonic() - self._counted_at > VERSION_TTL
        if (
            stale
            and not self._fixed_version
            and (self._refreshing is None or self._refreshing.done())
        ):
            self._refreshing = asyncio.ensure_future(self._refresh_quietly())
        return StoreInfo(
            self._version,
            f"SPARQL 1.1 Protocol endpoint {self.url}",
            self._graphs,
            writable=bool(self.settings.update_token and self.settings.remote_update_url),
            # Used when its build id is the fixed remote_version (kg.search checks it).
            search_index=str(self.settings.search_index) if self.settings.search_index else None,
        )

    async def _post(
        self,
        text: str,
        accept: str,
        default_graphs: tuple[str, ...],
        named_graphs: tuple[str, ...],
        timeout: float,
        *,
        url: str | None = None,
        operation: str = "query",
    ) -> tuple[bytes, str]:
        form: list[tuple[str, str]] = [(operation, text)]
        form += [("default-graph-uri", g) for g in default_graphs]
        form += [("named-graph-uri", g) for g in named_graphs]
        if self.settings.remote_timeout_header:
            form.append(("timeout", f"{timeout:g}"))
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": accept}
        target = url or self.url
        try:
            async with asyncio.timeout(timeout):
                response = await self.client.post(
                    target, content=urlencode(form).encode("ascii"), headers=headers
                )
        except TimeoutError:
            raise QueryTimeout(
                f"the remote endpoint did not answer within {timeout:g} s; the request was "
                "cancelled (setting query_timeout, KG_QUERY_TIMEOUT)",
                timeout,
            ) from None
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"cannot reach the SPARQL endpoint {target}: {exc}") from None
        status = response.status_code
        if status < 300:
            return response.content, response.headers.get("content-type", "")
        message = response.text.strip()[:_MESSAGE_LIMIT] or response.reason_phrase
        if status == 400:
            raise QuerySyntaxError(f"the SPARQL endpoint refused the query: {message}")
        if status >= 500 and "timeout" in message.lower().replace(" ", ""):
            raise QueryTimeout(f"the SPARQL endpoint stopped the query: {message}", timeout)
        if status >= 500 and ":SECURITY:" in message:
            # Virtuoso refusing what its permissions forbid (sponging FROM graphs, SERVICE,
            # LOAD): the user's query asked for it, so 403, not an unavailable store.
            raise ForbiddenQuery(f"the SPARQL endpoint refused the query: {message}")
        if status >= 500 or status in (404, 429):
            raise StoreUnavailable(f"the SPARQL endpoint {target} answered {status}: {message}")
        raise StoreError(f"the SPARQL endpoint {target} answered {status}: {message}")

    async def query(self, request: QueryRequest) -> QueryResult:
        """Guard, forward, parse the canonical answer and re-serialise it (capped)."""
        prepared = await prepare_query(request, self.settings, self._graphs)
        shape, kind, max_rows, timeout = (
            prepared.shape,
            prepared.kind,
            prepared.max_rows,
            prepared.timeout,
        )
        text = request.query
        if request.base_iri:
            text = _with_base(text, request.base_iri)
        default_graphs, named_graphs = request.default_graph_uris, request.named_graph_uris
        if shape.has_dataset and not (default_graphs or named_graphs):
            # Servers run with a union default graph (Oxigraph's --union-default-graph) may
            # ignore FROM; the same dataset as protocol parameters is honoured everywhere.
            default_graphs, named_graphs = shape.from_graphs, shape.from_named_graphs
        body, content_type = await self._post(
            text, _ACCEPT[kind], default_graphs, named_graphs, timeout
        )
        parsed = self._parse(body, content_type)
        prefixes = dict(shape.prefixes) if shape.prefixes else None
        return serialize_result(
            parsed,
            request.accept,
            max_rows,
            prefixes,
            rerun=lambda: self._parse(body, content_type),
            max_value_bytes=prepared.max_value_bytes,
        )

    def _parse(self, body: bytes, content_type: str) -> Any:
        media_type = content_type.split(";", 1)[0].strip().lower()
        try:
            results_format = ox.QueryResultsFormat.from_media_type(media_type)
            if results_format is not None:
                if results_format == ox.QueryResultsFormat.JSON and _VIRTUOSO_BNODE in body:
                    # Virtuoso labels blank nodes "nodeID://b10006", which is not a blank node
                    # label (the parser fails mid-iteration); relabel them, same label same node.
                    body = _relabel_bnodes(body)
                return ox.parse_query_results(body, results_format)
            rdf_format = ox.RdfFormat.from_media_type(media_type)
            if rdf_format is not None:
                return [quad.triple for quad in ox.parse(body, rdf_format)]
        except MemoryError:  # the engine parser's 16 MiB cap on one value
            raise ResultTooLarge(
                f"the answer of {self.url} holds a value over 16 MiB, more than kg can serve"
            ) from None
        except (SyntaxError, ValueError) as exc:
            raise StoreError(f"{self.url} answered unparsable {media_type}: {exc}") from None
        raise StoreError(f"{self.url} answered an unexpected media type {content_type!r}")

    async def update(self, update: str, timeout: float | None = None) -> None:
        """Forward a SPARQL Update to ``remote_update_url`` (when updates are enabled)."""
        settings = self.settings
        if not settings.update_token or not settings.remote_update_url:
            raise UpdateNotAllowed(
                "SPARQL Update needs update_token and remote_update_url "
                "(KG_UPDATE_TOKEN, KG_REMOTE_UPDATE_URL)"
            )
        default = await prepare_update(update, settings, self._graphs)
        deadline = timeout if timeout is not None else default
        await self._post(
            update,
            "*/*",
            (),
            (),
            deadline,
            url=settings.remote_update_url,
            operation="update",
        )
        if not self._fixed_version:
            await self._refresh()


def _relabel_bnodes(body: bytes) -> bytes:
    """SPARQL JSON results with every blank node label made a valid one (``b`` + hex)."""
    try:
        document = json.loads(body)
        for binding in document["results"]["bindings"]:
            for value in binding.values():
                if value.get("type") == "bnode":
                    value["value"] = "b" + str(value["value"]).encode("utf-8").hex()
    except (ValueError, KeyError, TypeError, AttributeError):
        return body  # not the shape expected: let the parser report the original error
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def _with_base(text: str, base: str) -> str:
    """``text`` resolved against ``base``: one BASE declaration, never two (Virtuoso refuses a
    second one): a query's own leading BASE is resolved against ``base`` and kept."""
    match = _LEADING_BASE.match(text)
    if match is None:
        return f"BASE <{base}>\n{text}"
    resolved = urljoin(base, match.group(2))
    return f"{match.group(1)}BASE <{resolved}>{text[match.end() :]}"
