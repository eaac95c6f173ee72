"""The W3C SPARQL 1.1 suite over HTTP, against our endpoint, with oxigraph as the reference.

Both servers are started here on 127.0.0.1 free ports from one N-Quads file holding the data of
every test, and stopped at the end. Our endpoint must pass every test except those listed in
expected_failures.txt, and every listed test must still fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.w3c.dataset import write_nquads
from tests.w3c.expected import ExpectedFailure, load_expected_failures
from tests.w3c.manifest import ProtocolTest, Test, load_suites, suite_names
from tests.w3c.runner import PASS, REFUSED, Outcome, run_suite
from tests.w3c.servers import kg_server, oxigraph_server

pytestmark = pytest.mark.w3c


@pytest.fixture(scope="module")
def tests() -> list[Test]:
    return load_suites(suite_names())


@pytest.fixture(scope="module")
def nquads(tests: list[Test], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("w3c") / "suite.nq"
    write_nquads(tests, path)
    return path


@pytest.fixture(scope="module")
def ours(
    tests: list[Test], nquads: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, Outcome]]]:
    with kg_server(nquads, tmp_path_factory.mktemp("kg")) as server:
        outcomes = run_suite(server.endpoint, tests)
        yield server.endpoint, {o.iri: o for o in outcomes}


@pytest.fixture(scope="module")
def reference(
    tests: list[Test], nquads: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome]:
    with oxigraph_server(nquads, tmp_path_factory.mktemp("oxigraph")) as server:
        return {o.iri: o for o in run_suite(server.endpoint, tests)}


@pytest.fixture(scope="module")
def expected_failures() -> dict[str, ExpectedFailure]:
    return load_expected_failures()


def _lines(outcomes: list[Outcome]) -> str:
    return "\n".join(f"{o.iri} [{o.status}] {o.detail[:300]}" for o in outcomes)


def test_every_test_ran(tests: list[Test], ours: tuple[str, dict[str, Outcome]]) -> None:
    assert len(tests) > 300
    assert set(ours[1]) == {t.iri for t in tests}


def test_no_server_error_or_lost_connection(ours: tuple[str, dict[str, Outcome]]) -> None:
    errors = [o for o in ours[1].values() if o.server_error]
    assert not errors, "HTTP 5xx or connection errors:\n" + _lines(errors)
    assert all(s < 500 for o in ours[1].values() for s in o.http_statuses)


def test_passes_all_but_expected_failures(
    ours: tuple[str, dict[str, Outcome]], expected_failures: dict[str, ExpectedFailure]
) -> None:
    unexpected = [
        o
        for o in ours[1].values()
        if o.status not in (PASS, REFUSED) and o.iri not in expected_failures
    ]
    assert not unexpected, "failures not in expected_failures.txt:\n" + _lines(unexpected)


def test_expected_failures_still_fail(
    tests: list[Test],
    ours: tuple[str, dict[str, Outcome]],
    expected_failures: dict[str, ExpectedFailure],
) -> None:
    known = {t.iri for t in tests}
    unknown = sorted(set(expected_failures) - known)
    assert not unknown, f"expected_failures.txt lists tests the suite does not have: {unknown}"
    fixed = [iri for iri in expected_failures if ours[1][iri].status == PASS]
    assert not fixed, f"these now pass; remove them from expected_failures.txt: {fixed}"


def test_expected_failure_categories_match_the_reference(
    reference: dict[str, Outcome], expected_failures: dict[str, ExpectedFailure]
) -> None:
    wrong = [
        f"{e.iri}: listed as {e.category}, oxigraph {reference[e.iri].status}"
        for e in expected_failures.values()
        if (e.category == "engine") != (reference[e.iri].status != PASS)
    ]
    assert not wrong, "\n".join(wrong)


def test_updates_are_refused_not_executed(
    tests: list[Test], ours: tuple[str, dict[str, Outcome]]
) -> None:
    endpoint, outcomes = ours
    updates = [t for t in tests if isinstance(t, ProtocolTest) and t.updates_successfully]
    assert len(updates) == 7
    for t in updates:
        o = outcomes[t.iri]
        assert o.status == REFUSED, f"{t.iri}: {o.status} {o.detail}"
        assert o.http_statuses[-1] in (400, 403), f"{t.iri}: refused with {o.http_statuses}"
    # CLEAR ALL / DROP ALL were among them: the data must still be there.
    graph = "http://kasei.us/2009/09/sparql/data/data1.rdf"
    resp = httpx.post(
        endpoint,
        data={"query": f"ASK {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}", "named-graph-uri": graph},
        headers={"Accept": "application/sparql-results+json"},
    )
    assert resp.status_code == 200
    assert resp.json()["boolean"] is True
