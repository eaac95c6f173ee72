"""HEAD wherever GET is served, and a 405's ``Allow`` naming every method of the path.

HTTP requires HEAD where GET is (RFC 9110, 9.1); ``curl -I``, uptime monitors on /health and
download managers on /dataset.nq send it. FastAPI's ``@router.get`` alone answered it with 405.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

#: GET routes that are not in the OpenAPI (pages, assets), with a URL each.
UNDOCUMENTED = [
    "/favicon.ico",
    "/query",
    "/query/examples.json",
    "/api/docs",
    "/maps",
    "/sparql?query=ASK%7B%7D",
    "/id/division/522731",
    "/ontology",
]

#: A URL answered 200 for each kind of route the OpenAPI documents.
SAMPLES = [
    "/health",
    "/dataset.nq",
    "/api/pairings?party=522731",
    "/api/entities/division/522731",
    "/api/search?q=luodian",
    "/reconcile",
    "/reconcile/preview?id=division/522731",
    "/reconcile/suggest/entity?prefix=luo",
    "/api/network/centrality",
    "/maps/pairings",
]


def _openapi_get_paths(api: TestClient) -> list[str]:
    paths = api.get("/api/openapi.json").json()["paths"]
    # Path parameters filled with a value of the right shape: what matters is the routing.
    return [re.sub(r"\{[^}]+\}", "x", path) for path, ops in paths.items() if "get" in ops]


def test_every_get_route_answers_head(api: TestClient) -> None:
    paths = _openapi_get_paths(api) + UNDOCUMENTED
    assert "/api/pairings" in paths
    assert "/reconcile" in paths
    refused = {path: api.head(path).status_code for path in paths}
    assert {path: status for path, status in refused.items() if status == 405} == {}


@pytest.mark.parametrize("url", SAMPLES)
def test_head_has_the_headers_of_get_and_no_body(api: TestClient, url: str) -> None:
    get = api.get(url)
    head = api.head(url)
    assert get.status_code == 200, get.text
    assert head.status_code == 200
    assert head.content == b""
    for name in ("content-type", "content-length", "etag", "cache-control", "vary"):
        assert head.headers.get(name) == get.headers.get(name), name


def test_head_of_a_missing_resource_is_404(api: TestClient) -> None:
    assert api.head("/api/entities/division/999999").status_code == 404
    assert api.head("/dataset.xyz").status_code == 404


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/reconcile", "GET, HEAD, POST, OPTIONS"),  # GET and POST are two routes
        ("/sparql", "GET, HEAD, POST, OPTIONS"),
        ("/sparql/", "GET, HEAD, POST, OPTIONS"),
        ("/api/pairings", "GET, HEAD, OPTIONS"),
        ("/health", "GET, HEAD, OPTIONS"),
        ("/id/division/522731", "GET, HEAD, OPTIONS"),
        ("/static/favicon.svg", "GET, HEAD, OPTIONS"),
    ],
)
@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_405_allow_names_every_method_of_the_path(
    api: TestClient, path: str, allow: str, method: str
) -> None:
    response = api.request(method, path, headers={"accept": "application/json"})
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/reconcile", "GET, HEAD, POST, OPTIONS"),
        ("/api/search", "GET, HEAD, OPTIONS"),
        ("/static/favicon.svg", "GET, HEAD, OPTIONS"),
    ],
)
def test_plain_options_answers_what_the_path_allows(api: TestClient, path: str, allow: str) -> None:
    # Not a CORS preflight (no Origin): the answer to "what may I do here" is the Allow list.
    response = api.options(path)
    assert response.status_code == 204
    assert response.headers["allow"] == allow
    assert response.content == b""
    assert api.options("/no/such/path").status_code == 404


def test_every_method_allow_names_is_served(api: TestClient) -> None:
    response = api.put("/reconcile")
    for method in response.headers["allow"].split(", "):
        answered = api.request(method, "/reconcile", data={"queries": '{"q0": {"query": "惠水"}}'})
        assert answered.status_code != 405, method
