"""SPARQL updates (with the token) go to a journal and a copy, never into a build."""

from __future__ import annotations

import json
from pathlib import Path

import pyoxigraph as ox
import pytest
from api.app import create_app
from fastapi.testclient import TestClient

from kg.build import publish
from kg.cli import main
from kg.config import Settings
from kg.updates import read_journal, summary
from tests.test_server_follow import BASE, GRAPH, JSON, LABEL, MARK, WHICH, build, nquads, wait_for

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXTRA = f"{BASE}id/x/extra"
INSERT = f'INSERT DATA {{ GRAPH <{GRAPH}> {{ <{EXTRA}> <{LABEL}> "added" }} }}'
ASK_EXTRA = f"ASK {{ <{EXTRA}> <{LABEL}> ?v }}"


def settings_for(var: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "var_dir": var,
        "store": "embedded",
        "query_workers": 1,
        "cache_entries": 16,
        "follow_interval": 0,
        "update_token": TOKEN,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def ask(client: TestClient, query: str) -> bool:
    answer = client.get("/sparql", params={"query": query}, headers={"Accept": JSON})
    assert answer.status_code == 200, answer.text
    return bool(answer.json()["boolean"])


def update(client: TestClient, text: str) -> int:
    headers = {**AUTH, "Content-Type": "application/sparql-update"}
    status: int = client.post("/sparql", content=text.encode(), headers=headers).status_code
    return status


def test_updates_never_touch_the_build_and_survive_a_restart(tmp_path: Path) -> None:
    var = tmp_path / "var"
    first = build(var, "A")
    with TestClient(create_app(settings_for(var))) as client:
        before = client.get("/sparql", params={"query": ASK_EXTRA}).headers["ETag"]
        assert not ask(client, ASK_EXTRA)
        assert "dataset.nq" in client.get("/sparql", headers={"Accept": "text/turtle"}).text
        assert update(client, INSERT) == 204
        assert ask(client, ASK_EXTRA)
        after = client.get("/sparql", params={"query": ASK_EXTRA}).headers["ETag"]
        assert after != before  # the version follows the update
        health = client.get("/health").json()
        assert health["build"] == first
        assert health["updates"] == 1
        assert health["version"].startswith(f"{first}+1.")
        # A stale dump would be wrong: the build's file does not hold the update.
        assert client.get("/dataset.nq").status_code == 404
        description = client.get("/sparql", headers={"Accept": "text/turtle"}).text
        assert "void:sparqlEndpoint" in description
        assert "dataset.nq" not in description
        # A refused update leaves no trace in the journal.
        assert update(client, "INSERT DATA { <no-closing-brace> ") == 400
        assert len(read_journal(var)) == 1

    # The build's own store was never written.
    build_store = ox.Store.read_only(str(var / "builds" / first / "store"))
    assert not build_store.query(ASK_EXTRA)
    assert (var / "updates" / first / "store").is_dir()

    # A restart serves the same data under the same version.
    with TestClient(create_app(settings_for(var))) as client:
        assert ask(client, ASK_EXTRA)
        assert client.get("/sparql", params={"query": ASK_EXTRA}).headers["ETag"] == after


def test_a_new_build_is_served_with_the_updates_replayed(tmp_path: Path) -> None:
    var = tmp_path / "var"
    build(var, "A")
    with TestClient(create_app(settings_for(var, follow_interval=0.1))) as client:
        assert update(client, INSERT) == 204
        second = build(var, "B")
        wait_for(lambda: client.get("/health").json()["build"] == second)
        health = client.get("/health").json()
        assert health["updates"] == 1
        assert ask(client, ASK_EXTRA)
        answer = client.get("/sparql", params={"query": WHICH}, headers={"Accept": JSON})
        assert answer.json()["results"]["bindings"][0]["v"]["value"] == "B"
    assert json.loads((var / "updates" / second / "state.json").read_text())["applied"] == 1
    # "unchanged" compares the build's own inputs, never the updated store.
    again = publish(var, nquads("B"), base_iri=BASE, log=lambda _: None)
    assert again.unchanged
    assert again.build_id == second


def test_build_and_stats_report_the_updates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    var = tmp_path / "var"
    first = build(var, "A")
    with TestClient(create_app(settings_for(var))) as client:
        assert update(client, INSERT) == 204
        assert update(client, INSERT.replace("added", "again")) == 204
    report = summary(var).lines(first)
    assert report[0].startswith("updates: 2 change(s) in the journal")
    assert report[1] == (
        f"updates on top of build {first} (current build): 2 change(s), "
        f"served from var/updates/{first}/store"
    )
    assert main(["--var-dir", str(var), "stats", "--json"]) == 0
    out, err = capsys.readouterr()
    json.loads(out)  # stdout stays plain JSON
    assert f"updates on top of build {first} (current build): 2 change(s)" in err


def test_without_a_token_nothing_is_copied(tmp_path: Path) -> None:
    var = tmp_path / "var"
    build(var, "A")
    with TestClient(create_app(settings_for(var, update_token=None))) as client:
        assert update(client, INSERT) == 403
        assert client.get("/health").json().get("updates") is None
    assert not (var / "updates").exists()
    assert MARK in nquads("A").decode()
