"""api/errors.py: one status per kg error class and one JSON error body, pinned."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from api.errors import error_body, status_for
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kg import errors as e
from kg.errors import NotAcceptable, UnsupportedMediaType, UpdateUnauthorized
from tests.conftest import MINI
from tests.fixtures.memory_store import MemoryStore

ASK = {"query": "ASK {}"}
WANTS_JSON = {"accept": "application/json"}

#: Every error class the API can meet, an instance, its status and code.
CASES: list[tuple[e.KgError, int, str]] = [
    (e.QuerySyntaxError("bad syntax"), 400, "query_syntax"),
    (e.BadParameter("bad parameter"), 400, "bad_parameter"),
    (e.QueryTooComplex("too deep"), 400, "too_complex"),
    (e.ForbiddenQuery("SERVICE refused"), 400, "forbidden_query"),
    (e.QueryError("generic query error"), 400, "query_error"),
    (e.QueryTooLarge("too big"), 413, "too_large"),
    (e.UpdateNotAllowed("read-only"), 403, "update_not_allowed"),
    (UpdateUnauthorized("token"), 401, "unauthorized"),
    (e.UnknownQuery("no such query"), 404, "unknown_query"),
    (e.UnsupportedQuery("the custom function <x> is not supported"), 400, "unsupported_query"),
    (e.NotFound("nothing here"), 404, "not_found"),
    (NotAcceptable("not acceptable", ("text/csv",)), 406, "not_acceptable"),
    (UnsupportedMediaType("wrong type"), 415, "unsupported_media_type"),
    (e.QueryTimeout("too slow", 2.5), 503, "timeout"),
    (e.StoreUnavailable("store down"), 503, "store_unavailable"),
    (e.StoreError("store broke"), 502, "store_error"),
    (e.ResultTooLarge("a value over the cap"), 413, "result_too_large"),
    (e.XmlUnsafeResult("NUL in XML", ("text/csv",)), 406, "xml_unsafe_result"),
    (e.TooManyRequests("slow down", 2.0), 429, "too_many_requests"),
    (e.QueryMemoryExceeded("over the memory limit"), 503, "query_memory"),
    (e.WorkerCrashed("engine crashed"), 500, "worker_crashed"),
    (e.WorkerKilled("killed from outside"), 503, "worker_killed"),
    (e.Overloaded("heavy lane full"), 503, "overloaded"),
    (e.DataError(e.DataIssue("data/x.csv", 3, "bad row")), 500, "data_error"),
    (e.ValidationError("shapes violated"), 500, "validation_error"),
    (e.KgError("something"), 500, "kg_error"),
]


def test_every_kg_error_class_has_a_case() -> None:
    covered = {type(error) for error, _, _ in CASES}
    defined = {getattr(e, name) for name in e.__all__ if isinstance(getattr(e, name), type)}
    defined = {cls for cls in defined if issubclass(cls, e.KgError)} - {e.BuildError}
    assert defined <= covered


@pytest.mark.parametrize(("error", "status", "code"), CASES, ids=str)
def test_error_maps_to_status_and_json_body(
    web_app: Callable[..., TestClient], error: e.KgError, status: int, code: str
) -> None:
    assert status_for(error) == status
    store = MemoryStore(MINI)
    client = web_app(engine=store)
    store.fail_with = error
    response = client.get("/sparql", params=ASK, headers=WANTS_JSON)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": {"code": code, "message": error.message, "status": status}}
    if status in (429, 503):
        assert int(response.headers["retry-after"]) >= 1
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_timeout_retry_after_follows_the_deadline(web_app: Callable[..., TestClient]) -> None:
    store = MemoryStore(MINI)
    client = web_app(engine=store)
    store.fail_with = e.QueryTimeout("stopped", 7.2)
    assert client.get("/sparql", params=ASK).headers["retry-after"] == "8"


@pytest.mark.parametrize(
    "accept",
    [
        "application/sparql-results+json,application/json,text/javascript",  # SPARQLWrapper
        "application/sparql-results+xml",
        "text/csv",
        "*/*",
        None,
    ],
)
def test_sparql_clients_not_asking_for_json_get_plain_text(
    web_app: Callable[..., TestClient], accept: str | None
) -> None:
    client = web_app()
    headers = {"accept": accept} if accept else {}
    response = client.get("/sparql", params={"query": "SELEKT nonsense"}, headers=headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text.startswith("400 query_syntax: ")


def test_error_body_shape() -> None:
    assert error_body("x", "y", 418) == {"error": {"code": "x", "message": "y", "status": 418}}


def test_unknown_route_and_wrong_method_use_the_json_shape(
    web_app: Callable[..., TestClient],
) -> None:
    client = web_app()
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    put = client.put("/sparql", params=ASK, headers=WANTS_JSON)
    assert put.status_code == 405
    assert put.json()["error"] == {
        "code": "method_not_allowed",
        "message": "Method Not Allowed",
        "status": 405,
    }


def test_fastapi_validation_errors_use_the_json_shape(web_app: Callable[..., TestClient]) -> None:
    client = web_app()
    # Starlette types TestClient over httpx2, absent here, so client.app is Any to mypy.
    app = client.app
    assert isinstance(app, FastAPI)

    @app.get("/probe")
    async def probe(n: int) -> dict[str, int]:
        return {"n": n}

    response = client.get("/probe", params={"n": "not-a-number"})
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "bad_parameter"
    assert "n" in body["error"]["message"]


def test_unexpected_exception_gives_json_500_and_is_logged(
    tmp_path: object, caplog: pytest.LogCaptureFixture
) -> None:
    from api.app import create_app

    from tests.conftest import mini_settings

    store = MemoryStore(MINI)
    app = create_app(mini_settings(tmp_path), store=store)  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as client:
        store.fail_with = RuntimeError("boom")  # type: ignore[assignment]
        response = client.get("/sparql", params=ASK, headers=WANTS_JSON)
    assert response.status_code == 500
    assert json.loads(response.text) == {
        "error": {
            "code": "internal_error",
            "message": "internal server error (logged)",
            "status": 500,
        }
    }
    assert any("boom" in (r.exc_text or "") or r.exc_info for r in caplog.records)


@pytest.mark.parametrize(
    ("path", "accept", "status"),
    [
        ("/sparql?query=ASK%7B%7D", "image/png", 406),
        ("/sparql?query=ASK%7B%7D", "text/csv", 406),
        ("/sparql?query=ASK%7B", None, 400),  # text for SPARQLWrapper, JSON for others
        ("/sparql?query=ASK%7B", "application/json", 400),
        ("/id/division/999999", "text/html", 404),  # an HTML page for a browser
        ("/id/division/999999", "application/json", 404),
        ("/id/division/440105", "image/png", 406),
        ("/no/such/page", None, 404),
    ],
)
def test_errors_vary_on_accept(
    web_app: Callable[..., TestClient], path: str, accept: str | None, status: int
) -> None:
    # The same URL answers another body (or a 200) to another Accept: a shared cache keying
    # on the URL alone would serve a browser's HTML 404 to a JSON client, or a 406 to anyone.
    headers = {"accept": accept} if accept else {}
    response = web_app().get(path, headers=headers)
    assert response.status_code == status
    assert "Accept" in {v.strip() for v in response.headers["vary"].split(",")}
