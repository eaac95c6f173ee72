"""/reconcile with the messages OpenRefine 3.x sends (manifest GET, form-encoded batches)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}

# What OpenRefine 3.x posts when a column is reconciled against a type with one extra column.
OPENREFINE_BATCH = {
    "q0": {"query": "惠水县", "type": "gq:County", "type_strict": "should"},
    "q1": {"query": "luodian", "type": "gq:County", "type_strict": "should"},
    "q2": {"query": "海珠", "type": "gq:UrbanDistrict", "type_strict": "should"},
    "q3": {
        "query": "Huishui",
        "type": "gq:County",
        "properties": [{"pid": "gq:divisionCode", "v": "522731"}],
        "type_strict": "should",
    },
    "q4": {"query": "惠水縣", "type_strict": "should"},
    "q5": {"query": "no such place", "type": "gq:County", "type_strict": "should"},
}


def test_manifest(api: TestClient) -> None:
    manifest = api.get("/reconcile").json()
    assert manifest["versions"] == ["0.2"]
    assert manifest["identifierSpace"] == "https://w3id.org/gq-kg/id/"
    assert "{{id}}" in manifest["preview"]["url"]
    assert "{{id}}" in manifest["view"]["url"]
    assert set(manifest["suggest"]) == {"entity", "type", "property"}
    view = manifest["view"]["url"].replace("{{id}}", "division/522731")
    assert api.get(view.replace("http://testserver", "")).status_code == 200


def _check_batch(answer: dict[str, Any]) -> None:
    assert set(answer) == set(OPENREFINE_BATCH)
    for key in ("q0", "q1", "q2", "q3", "q4"):
        top = answer[key]["result"][0]
        assert top["match"] is True, (key, top)
        assert top["score"] == 100.0
    assert answer["q0"]["result"][0]["id"] == "division/522731"
    assert answer["q1"]["result"][0]["id"] == "division/522728"
    assert answer["q2"]["result"][0]["id"] == "division/440105"
    assert answer["q3"]["result"][0]["id"] == "division/522731"
    assert answer["q4"]["result"][0]["id"] == "division/522731"
    assert answer["q5"]["result"] == []
    types = {t["id"] for t in answer["q0"]["result"][0]["type"]}
    assert "gq:County" in types


def test_batch_as_openrefine_posts_it(api: TestClient) -> None:
    body = urlencode({"queries": json.dumps(OPENREFINE_BATCH, ensure_ascii=False)})
    response = api.post("/reconcile", content=body.encode(), headers=FORM)
    assert response.status_code == 200, response.text
    _check_batch(response.json())


def test_batch_by_get(api: TestClient) -> None:
    response = api.get("/reconcile", params={"queries": json.dumps(OPENREFINE_BATCH)})
    assert response.status_code == 200
    _check_batch(response.json())


def test_partial_names_are_candidates_not_matches(api: TestClient) -> None:
    answer = api.get(
        "/reconcile", params={"queries": json.dumps({"q": {"query": "学校", "limit": 5}})}
    ).json()
    results = answer["q"]["result"]
    assert len(results) == 5
    assert not any(r["match"] for r in results)
    assert all(0 < r["score"] < 100 for r in results)


def test_a_code_that_disagrees_lowers_the_score(api: TestClient) -> None:
    query = {"q": {"query": "惠水县", "properties": [{"pid": "gq:divisionCode", "v": "440111"}]}}
    top = api.get("/reconcile", params={"queries": json.dumps(query)}).json()["q"]["result"][0]
    assert top["score"] < 100


def test_preview_escapes(api: TestClient) -> None:
    response = api.get("/reconcile/preview", params={"id": "division/522731"})
    assert response.status_code == 200
    assert "惠水县" in response.text
    assert "Huishui County" in response.text
    assert api.get("/reconcile/preview", params={"id": "<script>"}).status_code == 404


def test_suggest(api: TestClient) -> None:
    entities = api.get("/reconcile/suggest/entity", params={"prefix": "luo"}).json()["result"]
    assert entities[0]["id"] == "division/522728"
    types = api.get("/reconcile/suggest/type", params={"prefix": "Coun"}).json()["result"]
    assert {"gq:County", "gq:CountyLevelCity"} <= {t["id"] for t in types}
    props = api.get("/reconcile/suggest/property", params={"prefix": "code"}).json()["result"]
    assert props[0]["id"] == "gq:divisionCode"


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"callback": "jQuery123"}, "JSONP"),
        ({"queries": "{not json"}, "not JSON"),
        ({"queries": "[1, 2]"}, "JSON object"),
        ({"queries": json.dumps({"q": {"query": "x", "limit": 0}})}, "limit"),
        ({"queries": json.dumps({f"q{i}": "x" for i in range(500)})}, "at most"),
    ],
)
def test_bad_batches_are_422(api: TestClient, params: dict[str, str], needle: str) -> None:
    response = api.get("/reconcile", params=params)
    assert response.status_code == 422, response.text
    assert needle in response.json()["error"]["message"]


def test_a_limit_over_the_cap_is_served_as_the_cap(api: TestClient) -> None:
    # The spec's limit is a maximum: OpenRefine sends the number its user typed, and one large
    # limit refused the whole batch (422), every row of it unreconciled.
    queries = {"q0": {"query": "县", "limit": 100}, "q1": {"query": "惠水", "limit": 10_000}}
    response = api.post("/reconcile", data={"queries": json.dumps(queries)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["q0"]["result"]) == 25  # MAX_CANDIDATES; more than 25 entities match 县
    assert body["q1"]["result"][0]["id"] == "division/522731"
    capped = api.post(
        "/reconcile", data={"queries": json.dumps({"q": {"query": "县", "limit": 25}})}
    )
    assert capped.json()["q"]["result"] == body["q0"]["result"]


def test_a_long_cell_does_not_refuse_its_batch(api: TestClient) -> None:
    # OpenRefine sends ten cells per batch, each whole: a cell over 500 characters made the
    # batch a 422, and the other nine rows went unreconciled.
    queries = {"q0": {"query": "惠水县 " + "很长的备注" * 400}, "q1": {"query": "惠水"}}
    response = api.post("/reconcile", data={"queries": json.dumps(queries)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert not any(c["match"] for c in body["q0"]["result"])
    assert body["q1"]["result"][0]["id"] == "division/522731"
    assert body["q1"]["result"][0]["match"] is True


def test_post_without_queries_is_422(api: TestClient) -> None:
    response = api.post("/reconcile", content=b"other=1", headers=FORM)
    assert response.status_code == 422


def test_hostile_labels_are_inert(tmp_path: Path) -> None:
    """tests/fixtures/hostile.trig: markup in labels comes out as text in the preview and JSON."""
    from api.app import create_app

    from tests.conftest import FIXTURES, mini_settings
    from tests.fixtures.memory_store import MemoryStore

    hostile = FIXTURES / "hostile.trig"
    app = create_app(mini_settings(tmp_path, dataset_file=hostile), store=MemoryStore(hostile))
    with TestClient(app) as client:
        hits = []
        for prefix in ("三都", "黔南", "img", "script", "Haizhu", "440105"):
            found = client.get("/reconcile/suggest/entity", params={"prefix": prefix}).json()
            hits.extend(found["result"])
        assert {h["id"] for h in hits} >= {"division/522732", "division/522700", "division/440105"}
        for hit in hits:
            preview = client.get("/reconcile/preview", params={"id": hit["id"]})
            assert preview.status_code == 200
            # Markup only as escaped text: no element from the data, no attribute breaking out.
            assert not re.search(r"<(script|img|svg|iframe)", preview.text, re.IGNORECASE)
            assert "&lt;" in preview.text or "<strong>" in preview.text
        answer = client.get("/api/pairings", params={"party": "440105"}).json()
        assert answer["pairings"][0]["helper"]["label"] == "<img src=x onerror=alert('label')>"


@pytest.mark.parametrize(
    ("origins", "ancestors"),
    [(["*"], "*"), (["https://refine.example"], "'self' https://refine.example")],
)
def test_preview_may_be_framed_by_openrefine_and_keeps_its_own_policy(
    tmp_path: Path, origins: list[str], ancestors: str
) -> None:
    """OpenRefine shows the card in an iframe of its own page (another origin): the site's
    ``frame-ancestors 'self'`` refused it, and the card's style attribute broke the site's
    ``style-src 'self'`` (a console error on every card). The card has a policy of its own:
    framed by the origins allowed to read the service, its one style allowed by hash."""
    from api.app import create_app

    from tests.conftest import mini_settings

    app = create_app(mini_settings(tmp_path, cors_origins=origins))
    with TestClient(app) as client:
        response = client.get("/reconcile/preview", params={"id": "division/440105"})
    assert response.status_code == 200
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["content-security-policy"].split(";")
    )
    assert policy["frame-ancestors"] == ancestors
    assert policy["default-src"] == "'none'"
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert " style=" not in response.text
    styles = re.findall(r"<style>(.*?)</style>", response.text)
    assert len(styles) == 1
    digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
    assert policy["style-src"] == f"'sha256-{digest}'"


def _policy(response: Any) -> dict[str, str]:
    header = response.headers["content-security-policy"]
    return {d.split(" ", 1)[0]: d.partition(" ")[2] for d in (p.strip() for p in header.split(";"))}


def test_preview_may_be_framed_by_openrefine(api: TestClient) -> None:
    # OpenRefine shows the preview in an iframe of its page (another origin): the site-wide
    # frame-ancestors 'self' made the browser refuse it (tests/browser/test_reconcile_preview).
    preview = api.get("/reconcile/preview", params={"id": "division/522731"})
    assert preview.status_code == 200
    policy = _policy(preview)
    assert policy["frame-ancestors"] == "*"  # cors_origins is * by default
    assert policy["default-src"] == "'none'"  # no script, style, image or frame of its own
    assert " style=" not in preview.text  # an inline style the policy would block anyway
    assert "<script" not in preview.text
    # Every other page keeps the site-wide policy.
    page = api.get("/id/division/522731")
    assert _policy(page)["frame-ancestors"] == "'self'"


def test_preview_framing_follows_cors_origins(tmp_path: Path, real_build: Path) -> None:
    from api.app import create_app

    from tests.conftest import mini_settings

    settings = mini_settings(
        tmp_path,
        dataset_file=real_build / "dataset.nq",
        cors_origins=["http://127.0.0.1:3333", "https://refine.example/", "https://a.example;x"],
    )
    with TestClient(create_app(settings)) as client:
        preview = client.get("/reconcile/preview", params={"id": "division/522731"})
    # Origins only (a value that is not one is left out rather than breaking the header).
    assert _policy(preview)["frame-ancestors"] == (
        "'self' http://127.0.0.1:3333 https://refine.example"
    )


def test_a_type_has_one_name_everywhere(api: TestClient) -> None:
    """OpenRefine shows a type by the name it is given: the manifest's default types, type
    suggestions and candidates' types name a class the same way ("County (县)", from the
    ontology's labels), where they read "County (县)", "县 County" and "County"."""
    names: dict[str, set[str]] = {}

    def seen(types: list[dict[str, str]]) -> None:
        for t in types:
            names.setdefault(t["id"], set()).add(t["name"])

    seen(api.get("/reconcile").json()["defaultTypes"])
    for prefix in ("Coun", "Admin", "Urban", "县"):
        seen(api.get("/reconcile/suggest/type", params={"prefix": prefix}).json()["result"])
    queries = json.dumps({f"q{i}": {"query": q} for i, q in enumerate(["惠水", "海珠区", "都匀"])})
    for answer in api.post("/reconcile", data={"queries": queries}).json().values():
        for candidate in answer["result"]:
            seen(candidate["type"])
    assert {"gq:County", "gq:AdministrativeUnit", "gq:UrbanDistrict"} <= set(names)
    assert all(len(v) == 1 for v in names.values()), names
    assert names["gq:County"] == {"County (县)"}
