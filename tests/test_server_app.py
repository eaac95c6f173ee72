"""The web app's shape: one /sparql path, one ETag helper, security headers, validated settings."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyoxigraph as ox
import pytest
from api.app import create_app
from api.headers import HTML_POLICY
from api.routers.query import QUERY_PAGE_POLICY
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import Response

from kg.build import publish
from kg.cli import main
from kg.config import Settings
from kg.errors import StoreUnavailable
from tests.conftest import BASE, MINI, mini_settings
from tests.fixtures.memory_store import MemoryStore
from tests.support.servers import REPO_ROOT
from tests.test_server_follow import build, nquads, settings_for

ASK = "ASK {}"


# --- security headers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/sparql?query=ASK%7B%7D", {}),
        ("GET", "/health", {}),
        ("GET", "/no/such/page", {}),
        ("DELETE", "/sparql", {}),
        ("GET", "/sparql?query=SELECT", {}),
        (
            "OPTIONS",
            "/sparql",
            {"Origin": "https://a.example", "Access-Control-Request-Method": "POST"},
        ),
        ("GET", "/static/style.css", {}),
    ],
)
def test_every_response_says_nosniff(
    web_app: Callable[..., TestClient], method: str, path: str, headers: dict[str, str]
) -> None:
    answer = web_app().request(method, path, headers=headers)
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in answer.headers  # not HTML


@pytest.mark.parametrize(
    "path", ["/maps/network", "/maps/assets/map.js", "/maps/entity/id:division/000000", "/"]
)
def test_security_headers_are_sent_once(web_app: Callable[..., TestClient], path: str) -> None:
    """The maps set nosniff themselves and the middleware added it again: two headers."""
    answer = web_app().get(path, headers={"Accept": "text/html"})
    assert answer.status_code in {200, 404}, answer.text
    assert answer.headers.get_list("x-content-type-options") == ["nosniff"]
    assert len(answer.headers.get_list("content-security-policy")) <= 1


@pytest.mark.parametrize("path", ["/", "/ontology", "/id/division/440105"])
def test_html_pages_get_a_restrictive_csp(web_app: Callable[..., TestClient], path: str) -> None:
    answer = web_app().get(path, headers={"Accept": "text/html"})
    assert answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    # No inline script anywhere; only the query editor (bare GET /sparql in a browser) allows
    # inline styles, which YASR's result table sets.
    assert directives["script-src"] == "'self'"
    assert policy == (QUERY_PAGE_POLICY if path == "/sparql" else HTML_POLICY)
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_the_query_editor_allows_inline_styles_only(web_app: Callable[..., TestClient]) -> None:
    """A browser opening /sparql lands on /query, whose YASR result table sets style attributes:
    that page allows inline styles, never inline scripts."""
    answer = web_app().get("/sparql", headers={"Accept": "text/html"})
    assert answer.url.path == "/query"
    policy = answer.headers["Content-Security-Policy"]
    assert policy == HTML_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
    assert "script-src 'self';" in policy


def test_a_route_can_set_its_own_csp(tmp_path: Path) -> None:
    app = create_app(mini_settings(tmp_path), store=MemoryStore(MINI))
    own = "default-src 'self'; script-src 'self' 'unsafe-inline'"

    @app.get("/map")
    async def page() -> Response:
        headers = {"Content-Security-Policy": own}
        return Response("<p>map</p>", media_type="text/html", headers=headers)

    with TestClient(app) as client:
        assert client.get("/map").headers["Content-Security-Policy"] == own


def test_a_500_says_nosniff_too(tmp_path: Path) -> None:
    app = create_app(mini_settings(tmp_path), store=MemoryStore(MINI))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/boom")
    assert answer.status_code == 500
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


# --- one /sparql path -------------------------------------------------------------------------


def test_sparql_goes_through_the_apps_exception_handlers(tmp_path: Path) -> None:
    """The ASGI shortcut skipped the exception middleware: handlers never saw /sparql."""
    store = MemoryStore(MINI)
    store.fail_with = StoreUnavailable("down for the test")
    app: FastAPI = create_app(mini_settings(tmp_path), store=store)

    async def teapot(_request: Request, _exc: Exception) -> Response:
        return Response("seen by the app's handler", status_code=418)

    app.add_exception_handler(StoreUnavailable, teapot)
    with TestClient(app) as client:
        answer = client.get("/sparql", params={"query": ASK})
    assert answer.status_code == 418


def test_no_shortcut_middleware_remains(tmp_path: Path) -> None:
    app = create_app(mini_settings(tmp_path), store=MemoryStore(MINI))
    names = [m.cls.__name__ for m in app.user_middleware]  # type: ignore[attr-defined]
    assert names == ["SecurityHeaders", "CORSMiddleware"]


# --- one ETag helper --------------------------------------------------------------------------


def test_the_dump_honours_if_none_match_lists_and_weak_tags(tmp_path: Path) -> None:
    var = tmp_path / "var"
    build(var, "A")
    with TestClient(create_app(settings_for(var))) as client:
        first = client.get("/dataset.nq")
        assert first.content == nquads("A")
        tag = first.headers["ETag"]
        assert tag.startswith('W/"')
        listed = client.get("/dataset.nq", headers={"If-None-Match": f'"other", {tag}'})
        assert listed.status_code == 304
        strong = client.get("/dataset.nq", headers={"If-None-Match": tag.removeprefix("W/")})
        assert strong.status_code == 304
        assert client.get("/dataset.nq", headers={"If-None-Match": '"other"'}).status_code == 200
        # /sparql uses the same helper.
        answer = client.get("/sparql", params={"query": ASK})
        listed_tags = {"If-None-Match": f'"x", {answer.headers["ETag"]}'}
        again = client.get("/sparql", params={"query": ASK}, headers=listed_tags)
        assert again.status_code == 304


# --- settings ---------------------------------------------------------------------------------


def test_comma_separated_cors_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KG_CORS_ORIGINS", "https://a.example, https://b.example:8443")
    assert Settings().cors_origins == ["https://a.example", "https://b.example:8443"]
    monkeypatch.setenv("KG_CORS_ORIGINS", '["https://c.example"]')
    assert Settings().cors_origins == ["https://c.example"]
    monkeypatch.setenv("KG_CORS_ORIGINS", "*")
    assert Settings().cors_origins == ["*"]


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("KG_CORS_ORIGINS", "a.example", "KG_CORS_ORIGINS: 'a.example' is not an origin"),
        ("KG_BASE_IRI", "https://x.example/base", "KG_BASE_IRI: 'https://x.example/base' must"),
        ("KG_QUERY_TIMEOUT", "soon", "KG_QUERY_TIMEOUT: Input should be a valid number"),
        ("KG_FOLLOW_INTERVAL", "-1", "KG_FOLLOW_INTERVAL: Input should be greater than"),
    ],
)
def test_a_bad_setting_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    says: str,
) -> None:
    monkeypatch.setenv(name, value)
    assert main(["stats"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kg: error: bad setting {says}"), err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


#: Run in a fresh interpreter: every command that only reads a build, then the app, each step
#: printing which of the heavy libraries it has loaded so far (as JSON lines).
_IMPORTS_SCRIPT = """
import json, sys
from kg.cli import main

HEAVY = ("rdflib", "networkx", "pyvis")
var, out = sys.argv[1], sys.argv[2]

def step(name, code):
    loaded = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
    print(json.dumps([name, code, loaded]), flush=True)

def kg(*args):
    return main(["--var-dir", var, *args])

step("query", kg("query", "--format", "csv", "SELECT ?s { ?s a ?c } LIMIT 1"))
step("query --name", kg("query", "--name", "county-partners", "--format", "csv"))
step("stats", kg("stats"))
for fmt in ("turtle", "nquads", "jsonld"):
    step("export --format", kg("export", "--format", fmt, "-o", f"{out}/data.{fmt}"))
step("export --network", kg("export", "--network", "json", "-o", f"{out}/network.json"))
step("network", kg("network", "centrality"))
step("map", kg("map", "pairings", "-o", f"{out}/map.html"))

from fastapi.testclient import TestClient
import api.app, api.follow, api.http, kg.store.factory, kg.updates
from kg.config import Settings
from tests.conftest import mini_settings
app = api.app.create_app(Settings(var_dir=var, store="memory", query_workers=1))
with TestClient(app) as client:
    for path in ("/sparql?query=ASK%7B%7D", "/api/search?q=%E6%B5%B7%E7%8F%A0", "/api/pairings",
                 "/api/entities/division/440105", "/", "/maps/pairings", "/api/network/centrality"):
        step("app " + path, client.get(path).status_code)
"""


def test_commands_that_read_a_build_do_not_import_rdflib(tmp_path: Path) -> None:
    """rdflib is for compiling and validating (kg build, kg validate); the commands that only
    read a build and the server never load it, and networkx and pyvis load only for the network
    commands that use them."""
    var = tmp_path / "var"
    dataset = io.BytesIO()
    ox.serialize(ox.parse(path=str(MINI)), dataset, ox.RdfFormat.N_QUADS)
    publish(var, dataset.getvalue(), base_iri=BASE, log=lambda _: None)
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{REPO_ROOT / 'src'}"}
    out = subprocess.run(
        [sys.executable, "-c", _IMPORTS_SCRIPT, str(var), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=300,
    ).stdout
    steps = [json.loads(line) for line in out.splitlines() if line.startswith("[")]
    assert [s[0] for s in steps[:9]] == [
        "query",
        "query --name",
        "stats",
        *["export --format"] * 3,
        "export --network",
        "network",
        "map",
    ]
    assert len(steps) == 16
    for name, code, loaded in steps:
        assert code in {0, 200}, (name, code)
        assert "rdflib" not in loaded, name
    assert all(loaded == [] for _, _, loaded in steps[:6]), steps[:6]  # no networkx, no pyvis
    assert steps[6][2] == steps[7][2] == ["networkx"]  # export --network, network: no pyvis


def test_favicon_ico_is_the_icon_not_a_404(tmp_path: Path) -> None:
    """Pages without an icon link (the maps) make browsers ask for /favicon.ico."""
    with TestClient(create_app(mini_settings(tmp_path))) as client:
        answer = client.get("/favicon.ico")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("image/svg+xml")
    assert answer.content.lstrip().startswith(b"<svg")
