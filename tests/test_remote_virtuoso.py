"""The remote store against a second real engine: Virtuoso (Debian's ``virtuoso-opensource``).

A Virtuoso is started on 127.0.0.1 free ports with a fresh database in a temporary folder and a
generated ini (bounded memory; tests/support/servers.py), loaded with the store tests' data by
``ld_dir`` + ``rdf_loader_run``. Every store test of tests/test_store.py then runs against it
through ``KG_STORE=remote`` (protocol, formats, dataset parameters, caps, errors), followed by
the no-egress checks: a recording HTTP server on 127.0.0.1 must see no request whatever FROM,
SERVICE or Virtuoso pragma (``DEFINE get:soft``, which makes Virtuoso fetch a graph) a query
names. The W3C suite against Virtuoso is in tests/test_remote_virtuoso_w3c.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pyoxigraph as ox
import pytest

from kg.errors import ForbiddenQuery, QuerySyntaxError
from tests.support.servers import virtuoso_server
from tests.test_no_network import (
    Recorder,
    from_queries,
    hostile_updates,
    run_all,
    service_queries,
)
from tests.test_no_network import recorder as recorder  # noqa: PLC0414 - the fixture
from tests.test_store import (
    EX,
    Backend,
    base_settings,
    failure,
    opened,
    query,
    test_ask,
    test_ask_as_csv_or_tsv_is_not_acceptable,
    test_cap_equal_to_the_answer_is_not_truncation,
    test_closed_store_is_unavailable,
    test_construct_in_every_format,
    test_construct_is_capped,
    test_construct_turtle_uses_the_query_prefixes,
    test_deep_nesting_is_refused_before_the_parser,
    test_default_graph_is_the_union,
    test_from_in_the_query_picks_one_graph,
    test_info,
    test_protocol_default_graph,
    test_protocol_named_graphs,
    test_select_in_every_format,
    test_select_is_capped,
    test_select_json_is_w3c_json,
    test_syntax_error_has_the_parsers_position,
    test_unknown_from_graph,
    write_data,
)

pytestmark = pytest.mark.remote

# The store tests of tests/test_store.py, run here with the Virtuoso backend below.
__all__ = [
    "test_ask",
    "test_ask_as_csv_or_tsv_is_not_acceptable",
    "test_cap_equal_to_the_answer_is_not_truncation",
    "test_closed_store_is_unavailable",
    "test_construct_in_every_format",
    "test_construct_is_capped",
    "test_construct_turtle_uses_the_query_prefixes",
    "test_deep_nesting_is_refused_before_the_parser",
    "test_default_graph_is_the_union",
    "test_from_in_the_query_picks_one_graph",
    "test_info",
    "test_protocol_default_graph",
    "test_protocol_named_graphs",
    "test_select_in_every_format",
    "test_select_is_capped",
    "test_select_json_is_w3c_json",
    "test_syntax_error_has_the_parsers_position",
    "test_unknown_from_graph",
]


@pytest.fixture(scope="module")
def virtuoso_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("virtuoso-data")
    with virtuoso_server(write_data(tmp / "build")) as url:
        yield url


@pytest.fixture(scope="module")
def backend(virtuoso_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """The store tests' backend: kg's remote store in front of Virtuoso."""
    tmp = tmp_path_factory.mktemp("store-virtuoso")
    # Named "remote": the tests expect a remote store's rules (FROM <unknown> refused).
    yield from opened(
        Backend("remote", base_settings(tmp, store="remote", remote_url=virtuoso_url))
    )


def test_virtuoso_is_the_engine(virtuoso_url: str) -> None:
    """The tests above really ran against Virtuoso: its server header, its own function."""
    response = httpx.get(
        virtuoso_url,
        params={"query": "SELECT (bif:length('abc') AS ?n) WHERE {}"},
        headers={"Accept": "application/sparql-results+json"},
    )
    assert response.status_code == 200
    assert "virtuoso" in response.headers.get("server", "").lower()
    assert response.json()["results"]["bindings"][0]["n"]["value"] == "3"


def test_describe_is_virtuosos_own(backend: Backend) -> None:
    """DESCRIBE's answer is up to the engine (SPARQL 1.1 §16.4): Virtuoso adds the triples that
    point at the resource (pyoxigraph and oxigraph give only those from it)."""
    result = query(backend, f"DESCRIBE <{EX}b>", accept=("application/n-triples",))
    assert result.kind == "graph"
    triples = {
        (str(t.subject), str(t.predicate), str(t.object))
        for t in ox.parse(result.body, ox.RdfFormat.N_TRIPLES)
    }
    assert (f"<{EX}b>", f"<{EX}p>", '"two\\nlines"') in triples
    assert (f"<{EX}a>", f"<{EX}p>", f"<{EX}b>") in triples
    assert result.rows == 3


def test_virtuoso_pragmas_fetch_nothing(backend: Backend, recorder: Recorder) -> None:
    """Virtuoso's own ``DEFINE`` pragmas that dereference IRIs (``get:soft`` sponges FROM
    graphs, ``input:grab-all`` follows IRIs) are not SPARQL 1.1 but kg's lexical guard lets
    them through: Virtuoso's permissions refuse them (anonymous SPARQL has no sponge grant),
    and kg answers that as a refused query (403), not as an unavailable store."""
    url = recorder.url
    before = recorder.count
    # get:soft sponges only FROM graphs (refused by kg's guard): with GRAPH it reads the store.
    soft = f'DEFINE get:soft "soft" SELECT * WHERE {{ GRAPH <{url}/g> {{ ?s ?p ?o }} }}'
    assert query(backend, soft, timeout=10.0).rows == 0
    for text in (
        f'define input:grab-all "yes" SELECT * WHERE {{ <{url}/x> ?p ?o }}',
        f'define input:grab-all "yes" define input:grab-depth 2 ASK {{ <{url}/x> ?p ?o }}',
    ):
        error = failure(backend, text, timeout=10.0)
        assert isinstance(error, ForbiddenQuery), error.message
        assert ":SECURITY:" in error.message
    assert recorder.paths[before:] == []


def test_nothing_reaches_the_network_through_virtuoso(
    recorder: Recorder, backend: Backend, virtuoso_url: str
) -> None:
    """SERVICE, FROM, FROM NAMED and LOAD naming the recorder, through kg in front of Virtuoso:
    refused by the guard, so neither kg nor Virtuoso contacts it."""
    settings = base_settings(
        backend.settings.var_dir.parent,
        store="remote",
        remote_url=virtuoso_url,
        remote_update_url=virtuoso_url,
        update_token="token",
    )
    url = recorder.url
    refused = service_queries(url) + from_queries(url)
    updates = hostile_updates(url)
    errors, requests = run_all(settings, refused, updates, recorder)
    assert requests == []
    assert len(errors) == len(refused) + len(updates)
    # kg's guard refuses them before Virtuoso sees them (a \\u-escaped keyword may instead be a
    # syntax error from the engine).
    forbidden = [e for e in errors if isinstance(e, ForbiddenQuery)]
    assert len(forbidden) >= len(errors) - 1, [e.message for e in errors]
    assert all("SECURITY" not in e.message for e in forbidden)
    others = [e for e in errors if not isinstance(e, ForbiddenQuery)]
    assert all(isinstance(e, QuerySyntaxError) for e in others), [e.message for e in others]


def test_data_round_trips_through_virtuoso(backend: Backend) -> None:
    """Literals with language, datatype and a newline come back exactly (JSON and N-Triples)."""
    rows = query(backend, "SELECT ?o WHERE { <http://example.org/b> ?p ?o }")
    assert rows.rows == 2
    assert b"two\\nlines" in rows.body
    assert b"http://example.org/dt" in rows.body
