"""Real clients over real HTTP: uvicorn on 127.0.0.1, SPARQLWrapper, raw sockets.

The app runs under uvicorn in a thread of the test process (the in-process store), so what is
tested is the HTTP behaviour a client sees: chunked bodies, HEAD, error bodies as SPARQLWrapper
shows them.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.error import HTTPError

import httpx
import pytest
import uvicorn
from api.app import create_app
from SPARQLWrapper import JSON, TURTLE, SPARQLWrapper
from SPARQLWrapper.SPARQLExceptions import QueryBadFormed

from tests.conftest import MINI, mini_settings
from tests.fixtures.memory_store import MemoryStore

GQ = "https://w3id.org/gq-kg/ontology#"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = mini_settings(tmp_path_factory.mktemp("uvicorn"), max_request_bytes=4096)
    app = create_app(settings, store=MemoryStore(MINI))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_sparqlwrapper_select_and_construct(base_url: str) -> None:
    sparql = SPARQLWrapper(f"{base_url}/sparql")
    sparql.setReturnFormat(JSON)
    sparql.setQuery(f"SELECT ?p WHERE {{ ?p a <{GQ}Pairing> }} ORDER BY ?p")
    # queryAndConvert returns a union over every return format: narrow to the one asked for.
    results = sparql.queryAndConvert()
    assert isinstance(results, dict)
    rows = results["results"]["bindings"]
    assert [r["p"]["value"] for r in rows] == [
        "https://w3id.org/gq-kg/id/pairing/haizhu-sandu",
        "https://w3id.org/gq-kg/id/pairing/liwan-dushan",
    ]
    sparql.setReturnFormat(TURTLE)
    sparql.setQuery(f"CONSTRUCT {{ ?p a <{GQ}Pairing> }} WHERE {{ ?p a <{GQ}Pairing> }}")
    turtle = sparql.queryAndConvert()
    assert isinstance(turtle, bytes)
    assert b"haizhu-sandu" in turtle


def test_sparqlwrapper_post_and_syntax_error_message(base_url: str) -> None:
    sparql = SPARQLWrapper(f"{base_url}/sparql")
    sparql.setMethod("POST")
    sparql.setReturnFormat(JSON)
    sparql.setQuery("SELECT ?s WHERE { ?s ?p }")
    with pytest.raises(QueryBadFormed) as caught:
        sparql.queryAndConvert()
    # SPARQLWrapper shows the response body: plain text with the parser's message.
    assert "400 query_syntax" in str(caught.value)


def test_sparqlwrapper_update_is_refused(base_url: str) -> None:
    sparql = SPARQLWrapper(f"{base_url}/sparql")
    sparql.setMethod("POST")
    sparql.setQuery("INSERT DATA { <urn:a> <urn:b> <urn:c> }")
    with pytest.raises(HTTPError) as caught:
        sparql.query()
    assert caught.value.code == 403


def test_chunked_upload_over_real_http(base_url: str) -> None:
    def small() -> Iterator[bytes]:
        yield b"ASK "
        yield b"{ ?s ?p ?o }"

    def large() -> Iterator[bytes]:
        for _ in range(20):
            yield b"#" + b"x" * 511

    with httpx.Client(base_url=base_url) as client:
        headers = {"content-type": "application/sparql-query"}
        ok = client.post("/sparql", content=small(), headers=headers)
        assert ok.request.headers["transfer-encoding"] == "chunked"
        assert ok.json()["boolean"] is True
        refused = client.post("/sparql", content=large(), headers=headers)
        assert refused.status_code == 413
        assert client.get("/sparql", params={"query": "ASK {}"}).status_code == 200


def test_content_length_over_limit_is_refused_before_the_body(base_url: str) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\n"
            b"Content-Length: 100000000\r\n\r\nASK {}"
        )
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413")


def test_head_over_real_http_has_no_body(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        get = client.get("/sparql", params={"query": "ASK {}"})
        head = client.head("/sparql", params={"query": "ASK {}"})
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["etag"] == get.headers["etag"]


def test_static_files_are_real_files() -> None:
    static = Path(__file__).resolve().parents[1] / "api" / "static"
    assert {"query-page.js", "api-docs.js", "style.css"} <= {p.name for p in static.iterdir()}
