"""Limits and safety of /sparql: request size, truncation, update token, hostile queries."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypedDict

import pytest
from api.app import create_app
from fastapi.testclient import TestClient

from tests.conftest import MINI, mini_settings
from tests.fixtures.memory_store import MemoryStore

GQ = "https://w3id.org/gq-kg/ontology#"
ALL = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o"
COUNT_PAIRINGS = f"SELECT (COUNT(*) AS ?n) WHERE {{ ?p a <{GQ}Pairing> }}"
DIRECT = {"content-type": "application/sparql-query"}


def pairings(client: TestClient) -> int:
    response = client.get("/sparql", params={"query": COUNT_PAIRINGS})
    assert response.status_code == 200, response.text
    return int(response.json()["results"]["bindings"][0]["n"]["value"])


# --- request size -----------------------------------------------------------------------


def test_content_length_over_the_limit_is_413(web_app: Callable[..., TestClient]) -> None:
    client = web_app(max_request_bytes=2048)
    body = ("ASK {} #" + "x" * 4000).encode()
    response = client.post(
        "/sparql", content=body, headers={**DIRECT, "accept": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert "2048" in response.json()["error"]["message"]


def test_chunked_body_over_the_limit_is_413(web_app: Callable[..., TestClient]) -> None:
    client = web_app(max_request_bytes=2048)

    def chunks() -> Iterator[bytes]:
        yield b"ASK {} #"
        for _ in range(10):
            yield b"x" * 512

    response = client.post("/sparql", content=chunks(), headers=DIRECT)
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


def test_chunked_body_under_the_limit_is_answered(web_app: Callable[..., TestClient]) -> None:
    client = web_app(max_request_bytes=2048)

    def chunks() -> Iterator[bytes]:
        yield b"ASK "
        yield b"{}"

    response = client.post("/sparql", content=chunks(), headers=DIRECT)
    assert response.status_code == 200
    assert response.json()["boolean"] is True


def test_long_get_query_over_the_limit_is_413(web_app: Callable[..., TestClient]) -> None:
    client = web_app(max_request_bytes=2048)
    response = client.get("/sparql", params={"query": "ASK {} #" + "x" * 3000})
    assert response.status_code == 413


# --- truncation -------------------------------------------------------------------------


def test_truncated_answers_say_so(web_app: Callable[..., TestClient]) -> None:
    client = web_app(engine=MemoryStore(MINI, max_rows=3))
    response = client.get("/sparql", params={"query": ALL})
    assert response.status_code == 200
    assert response.headers["x-kg-truncated"] == "true"
    assert response.headers["x-kg-rows"] == "3"
    body = json.loads(response.content)
    assert len(body["results"]["bindings"]) == 3
    assert body["head"]["link"] == ["http://testserver/docs/endpoint#limits"]
    assert body["head"]["vars"] == ["s", "p", "o"]
    csv = client.get("/sparql", params={"query": ALL}, headers={"accept": "text/csv"})
    assert csv.headers["x-kg-truncated"] == "true"
    assert len(csv.text.strip().splitlines()) == 4


def test_complete_answers_carry_rows_but_no_truncation_flag(
    web_app: Callable[..., TestClient],
) -> None:
    client = web_app()
    response = client.get("/sparql", params={"query": ALL})
    assert response.headers["x-kg-rows"] == "45"
    assert "x-kg-truncated" not in response.headers
    assert "link" not in response.json()["head"]


# --- updates behind a token -------------------------------------------------------------

INSERT = f"INSERT DATA {{ GRAPH <urn:g> {{ <urn:p> a <{GQ}Pairing> }} }}"


def test_update_needs_the_right_bearer_token(web_app: Callable[..., TestClient]) -> None:
    store = MemoryStore(MINI)
    client = web_app(engine=store, update_token="s3cret")
    update = {"content-type": "application/sparql-update", "accept": "application/json"}
    missing = client.post("/sparql", content=INSERT.encode(), headers=update)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json()["error"]["code"] == "unauthorized"
    wrong = client.post(
        "/sparql", content=INSERT.encode(), headers={**update, "authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    assert store.updates == []
    before = client.get("/sparql", params={"query": COUNT_PAIRINGS}).headers["etag"]
    assert pairings(client) == 2
    ok = client.post(
        "/sparql", content=INSERT.encode(), headers={**update, "authorization": "Bearer s3cret"}
    )
    assert ok.status_code == 204
    assert pairings(client) == 3
    after = client.get("/sparql", params={"query": COUNT_PAIRINGS}).headers["etag"]
    assert after != before
    form = client.post(
        "/sparql",
        data={"update": f"DELETE DATA {{ GRAPH <urn:g> {{ <urn:p> a <{GQ}Pairing> }} }}"},
        headers={"authorization": "Bearer s3cret"},
    )
    assert form.status_code == 204
    assert pairings(client) == 2


def test_update_without_a_token_configured_is_403(web_app: Callable[..., TestClient]) -> None:
    store = MemoryStore(MINI)
    client = web_app(engine=store)
    response = client.post(
        "/sparql",
        content=INSERT.encode(),
        headers={"content-type": "application/sparql-update", "authorization": "Bearer x"},
    )
    assert response.status_code == 403
    assert store.updates == []


def test_cors_origins_are_configurable(web_app: Callable[..., TestClient]) -> None:
    client = web_app(cors_origins=["https://yasgui.example"])
    allowed = client.options(
        "/sparql",
        headers={"origin": "https://yasgui.example", "access-control-request-method": "POST"},
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://yasgui.example"
    refused = client.options(
        "/sparql",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


# --- hostile input never gives a 500, and the server keeps answering ---------------------


class HostileRequest(TypedDict, total=False):
    """One way of sending: exactly one key is set."""

    body: bytes  # POST, application/sparql-query
    form: str  # POST, form-encoded query
    raw_query: bytes  # GET, the query string as sent
    query: str  # GET, ?query=


#: (name, request, refused): refused requests must get a 4xx; the others are valid SPARQL
#: and may be answered, but nothing may give a 5xx or stop the server.
HOSTILE: list[tuple[str, HostileRequest, bool]] = [
    ("10 000 nested braces", {"form": "SELECT * WHERE " + "{" * 10_000 + "}" * 10_000}, True),
    (
        "10 000 nested parens",
        {"form": "SELECT * WHERE { FILTER(" + "(" * 10_000 + "1" + ")" * 10_000 + ") }"},
        True,
    ),
    (
        "10 000 nested blank-node brackets",
        {"form": "SELECT * WHERE { ?s ?p " + "[ ?p " * 10_000 + "1" + " ]" * 10_000 + " }"},
        True,
    ),
    ("invalid UTF-8 body", {"body": b"SELECT * WHERE { ?s ?p \xff\xfe\xc3 }"}, True),
    ("invalid UTF-8 in the URL", {"raw_query": b"query=ASK%20%7B%FF%7D"}, True),
    ("2 MB body", {"body": b"ASK {} #" + b"x" * 2_000_000}, True),
    ("NUL bytes", {"query": "SELECT * WHERE { ?s ?p \x00 \x00 }"}, True),
    ("NUL inside a string", {"query": 'SELECT * WHERE { ?s ?p "a\x00b" }'}, False),
    ("900 kB IRI", {"body": ("ASK { <http://x/" + "a" * 900_000 + "> ?p ?o }").encode()}, False),
    ("2 MB IRI", {"form": "ASK { <http://x/" + "a" * 2_000_000 + "> ?p ?o }"}, True),
    ("lone surrogate escape", {"query": 'SELECT * WHERE { ?s ?p "\\uD800" }'}, True),
    ("empty query", {"query": ""}, True),
    ("only a comment", {"query": "# nothing"}, True),
    ("garbage bytes", {"body": bytes(range(256)) * 10}, True),
]


@pytest.mark.parametrize(("name", "request_spec", "refused"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_input_never_breaks_the_server(
    client: TestClient, name: str, request_spec: HostileRequest, refused: bool
) -> None:
    if "body" in request_spec:
        response = client.post("/sparql", content=request_spec["body"], headers=DIRECT)
    elif "form" in request_spec:
        response = client.post("/sparql", data={"query": request_spec["form"]})
    elif "raw_query" in request_spec:
        response = client.get("/sparql?" + request_spec["raw_query"].decode())
    else:
        response = client.get("/sparql", params={"query": request_spec["query"]})
    if refused:
        assert 400 <= response.status_code < 500, (name, response.status_code, response.text[:300])
    else:
        assert response.status_code == 200, (name, response.status_code, response.text[:300])
    assert pairings(client) == 2


def test_truncation_through_the_embedded_store(tmp_path: Path) -> None:
    settings = mini_settings(tmp_path, max_result_rows=3)
    with TestClient(create_app(settings)) as client:
        response = client.get("/sparql", params={"query": ALL})
        assert response.status_code == 200
        assert response.headers["x-kg-truncated"] == "true"
        assert response.headers["x-kg-rows"] == "3"
        body = response.json()
        assert len(body["results"]["bindings"]) == 3
        assert body["head"]["link"] == ["http://testserver/docs/endpoint#limits"]
        graph = client.get(
            "/sparql",
            params={"query": "CONSTRUCT WHERE { ?s ?p ?o }"},
            headers={"accept": "application/n-triples"},
        )
        assert graph.headers["x-kg-truncated"] == "true"
        assert len(graph.text.strip().splitlines()) == 3


def test_maps_draw_the_whole_network_past_the_row_cap_and_refuse_a_cut_user_query(
    tmp_path: Path,
) -> None:
    """The row cap is for what visitors send: the project's own network queries are not cut
    (a partial projection would draw a wrong network), and a visitor's query that was cut is
    refused with 413, not a 500."""
    settings = mini_settings(tmp_path, max_result_rows=1)
    with TestClient(create_app(settings)) as client:
        drawn = client.get("/maps/pairings")
        assert drawn.status_code == 200, drawn.text[:300]
        assert int(drawn.headers["x-kg-nodes"]) > 2
        listed = client.get("/api/network/centrality")
        assert listed.status_code == 200, listed.text[:300]
        pairs = "PREFIX gq: <https://w3id.org/gq-kg/ontology#>\n" + (
            "SELECT ?source ?target WHERE { ?p gq:helper ?source ; gq:recipient ?target }"
        )
        cut = client.get("/maps/query", params={"query": pairs})
        assert cut.status_code == 413, cut.text[:300]
        assert cut.json()["error"]["code"] == "result_too_large"
        assert "cut at 1 rows" in cut.json()["error"]["message"]
