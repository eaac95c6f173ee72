"""HTTP limits of ``kg serve`` under raw sockets: header size and count, head and body deadlines.

One real ``kg serve`` (uvicorn with kg's protocol class) on 127.0.0.1, with 1 s deadlines.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.servers import kg_server
from tests.test_server_follow import build

TIMEOUT = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("http")
    build(folder / "var", "A")
    log = folder / "serve.log"
    env = {
        "KG_HEADER_TIMEOUT": str(TIMEOUT),
        "KG_BODY_TIMEOUT": str(TIMEOUT),
        "KG_MAX_HEADER_BYTES": "65536",
        "KG_MAX_HEADERS": "100",
        "KG_QUERY_WORKERS": "1",
    }
    with kg_server(folder / "var", env, log=log) as base:
        yield base, log


def connect(base: str) -> socket.socket:
    port = urlsplit(base).port
    assert port is not None
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def read_until_closed(sock: socket.socket, limit: float = 10.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes; and how long that took."""
    started = time.monotonic()
    sock.settimeout(limit)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"the server kept the connection open {limit} s") from None
    return data, time.monotonic() - started


def assert_healthy(base: str) -> None:
    assert httpx.get(f"{base}/health", timeout=10).json()["status"] == "ok"


def test_headers_over_the_byte_limit_are_431(server: tuple[str, Path]) -> None:
    base, _ = server
    with connect(base) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
        answer, _ = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"max_header_bytes" in answer
    assert_healthy(base)


def test_a_16_mb_header_is_cut_off_early(server: tuple[str, Path]) -> None:
    base, _ = server
    sent = 0
    with connect(base) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        chunk = b"a" * 65536
        try:
            while sent < 16 * 1024 * 1024:
                _, writable, _ = select.select([], [sock], [], 5)
                assert writable, "the server stopped reading but did not close"
                sent += sock.send(chunk)
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        with contextlib.suppress(OSError):
            answer, _ = read_until_closed(sock)
    assert sent < 16 * 1024 * 1024  # refused long before the end
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert_healthy(base)


@pytest.mark.parametrize("count", [150, 20_000])
def test_too_many_headers_are_431(server: tuple[str, Path], count: int) -> None:
    base, _ = server
    head = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-N: v\r\n" * count + b"\r\n"
    with connect(base) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head)
        answer, _ = read_until_closed(sock)
    if count == 150 or answer:  # 20,000 may be cut before the server's answer is read
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert_healthy(base)


def test_slow_headers_are_cut_off_with_408(server: tuple[str, Path]) -> None:
    base, _ = server
    with connect(base) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        try:
            for n in range(40):  # one header line every 0.2 s: 8 s if nobody stops it
                time.sleep(0.2)
                sock.sendall(b"X-%d: v\r\n" % n)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer, _ = read_until_closed(sock)
        took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert took < TIMEOUT + 2
    assert_healthy(base)


def test_a_silent_connection_is_closed(server: tuple[str, Path]) -> None:
    base, _ = server
    with connect(base) as sock:
        answer, took = read_until_closed(sock)
    assert answer == b""
    assert took < TIMEOUT + 2


def test_a_slow_body_is_cut_off_with_408_and_no_traceback(server: tuple[str, Path]) -> None:
    base, log = server
    with connect(base) as sock:
        sock.sendall(
            b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\n"
            b"Content-Length: 1000\r\n\r\nSELECT * "
        )
        answer, took = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert took < TIMEOUT + 2
    assert_healthy(base)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text
    assert "unexpected error" not in text


def test_a_client_leaving_mid_body_is_not_an_error(server: tuple[str, Path]) -> None:
    base, log = server
    with connect(base) as sock:
        sock.sendall(
            b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\n"
            b"Content-Length: 1000\r\n\r\nSELECT * "
        )
        time.sleep(0.2)
    time.sleep(0.3)
    assert_healthy(base)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text
    assert "ERROR" not in text


def test_keep_alive_and_big_bodies_in_time_still_work(server: tuple[str, Path]) -> None:
    base, _ = server
    query = "ASK {}" + " " * 200_000
    with httpx.Client(base_url=base, timeout=10) as client:
        first = client.post(
            "/sparql", content=query, headers={"Content-Type": "application/sparql-query"}
        )
        time.sleep(TIMEOUT / 2)
        second = client.get("/health")
        time.sleep(TIMEOUT / 2)
        third = client.get("/health")
    assert first.status_code == 200, first.text
    assert second.status_code == third.status_code == 200
    assert first.headers["X-Content-Type-Options"] == "nosniff"


def test_a_url_over_the_byte_limit_is_414_and_says_post(server: tuple[str, Path]) -> None:
    # SPARQLWrapper and curl -G send a long query in the URL: the answer should say the URL is
    # too long (and what to do), not that the headers are.
    base, _ = server
    target = b"/sparql?query=ASK%7B%7D%23" + b"a" * 100_000
    with connect(base) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        answer, _ = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 414 "), answer[:200]
    assert b"POST" in answer
    assert_healthy(base)
    # The same query by POST is answered (the body limit is max_request_bytes, 1 MB).
    response = httpx.post(
        f"{base}/sparql",
        data={"query": "ASK{}#" + "a" * 100_000},
        headers={"accept": "application/sparql-results+json"},
        timeout=10,
    )
    assert response.json()["boolean"] is True
    # The REST API documents it: a GET of a long reconciliation batch meets it too.
    spec = httpx.get(f"{base}/api/openapi.json", timeout=10).json()
    documented = spec["paths"]["/reconcile"]["get"]["responses"]["414"]
    assert "text/plain" in documented["content"]
    assert "POST" in documented["description"]
