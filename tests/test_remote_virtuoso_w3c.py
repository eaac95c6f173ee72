"""The W3C SPARQL 1.1 suite through kg's remote store with Virtuoso as the engine.

One Virtuoso (tests/support/servers.py) holds the suite's data; kg's API runs in front of it
with ``KG_STORE=remote`` and ``KG_ALLOW_REMOTE_FROM=true`` (the suite names graphs Virtuoso
does not hold as empty default graphs; Virtuoso dereferences no graph name without its sponger
grant, which the last test checks). Every test not listed in
tests/remote_virtuoso_w3c_failures.txt must pass, every listed one must still fail: the list is
the honest record of what kg users get with Virtuoso 7.2.5 (causes in docs/stores.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import api_server, virtuoso_server
from tests.test_no_network import Recorder
from tests.test_no_network import recorder as recorder  # noqa: PLC0414 - the fixture
from tests.w3c.dataset import write_nquads
from tests.w3c.manifest import ProtocolTest, Test, load_suites, suite_names
from tests.w3c.runner import PASS, REFUSED, Outcome, run_suite

pytestmark = [pytest.mark.remote, pytest.mark.w3c]

FAILURES_FILE = Path(__file__).with_name("remote_virtuoso_w3c_failures.txt")


def listed_failures() -> dict[str, str]:
    """Test IRI → recorded status and detail."""
    listed = {}
    for line in FAILURES_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            iri, rest = line.split(" ", 1)
            listed[iri] = rest
    return listed


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> list[Test]:
    return load_suites(suite_names())


@pytest.fixture(scope="module")
def kg_on_virtuoso(suite: list[Test], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("w3c-virtuoso")
    nquads = tmp / "suite.nq"
    write_nquads(suite, nquads)
    with virtuoso_server(nquads, max_query_seconds=20) as url:
        env = {
            "KG_STORE": "remote",
            "KG_REMOTE_URL": url,
            "KG_QUERY_TIMEOUT": "10",
            "KG_CACHE_ENTRIES": "0",
            "KG_ALLOW_REMOTE_FROM": "true",
        }
        with api_server(env, log=tmp / "kg.log") as base:
            yield f"{base}/sparql"


@pytest.fixture(scope="module")
def outcomes(suite: list[Test], kg_on_virtuoso: str) -> dict[str, Outcome]:
    return {o.iri: o for o in run_suite(kg_on_virtuoso, suite)}


def test_passes_all_but_the_listed(outcomes: dict[str, Outcome]) -> None:
    listed = listed_failures()
    failing = {iri: o for iri, o in outcomes.items() if o.status not in (PASS, REFUSED)}
    new = [f"{iri} {o.status} {o.detail[:200]}" for iri, o in failing.items() if iri not in listed]
    fixed = [iri for iri in listed if outcomes[iri].status == PASS]
    assert not new, "failing, not in remote_virtuoso_w3c_failures.txt:\n" + "\n".join(new)
    assert not fixed, "now pass; remove from remote_virtuoso_w3c_failures.txt:\n" + "\n".join(fixed)
    assert set(listed) <= set(outcomes), "the list names tests the suite does not have"
    passed = sum(o.status == PASS for o in outcomes.values())
    assert passed >= 260, f"only {passed} tests pass"


def test_updates_are_refused_by_kg(suite: list[Test], outcomes: dict[str, Outcome]) -> None:
    updates = [t for t in suite if isinstance(t, ProtocolTest) and t.updates_successfully]
    assert len(updates) == 7
    assert all(outcomes[t.iri].status == REFUSED for t in updates)


def test_allowed_from_still_fetches_nothing(kg_on_virtuoso: str, recorder: Recorder) -> None:
    """With KG_ALLOW_REMOTE_FROM=true kg forwards FROM <elsewhere>; Virtuoso reads it as an
    empty graph and contacts nothing."""
    before = recorder.count
    response = httpx.post(
        kg_on_virtuoso,
        data={
            "query": f"SELECT * FROM <{recorder.url}/g> FROM NAMED <{recorder.url}/n> "
            "WHERE { ?s ?p ?o }"
        },
        headers={"Accept": "application/sparql-results+json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["results"]["bindings"] == []
    assert recorder.paths[before:] == []
