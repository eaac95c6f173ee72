"""format/output parameters as SPARQLWrapper sends them: repeated values that agree, N3."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from kg.errors import BadParameter
from kg.sparql.negotiation import format_to_accept, merge_formats, n3_requested

TSV = "text/tab-separated-values"


def test_values_that_agree_merge() -> None:
    assert merge_formats(["tsv", TSV, "tsv"]) is not None
    assert format_to_accept(merge_formats(["tsv", TSV, "tsv"]) or "") == (TSV,)
    assert format_to_accept(merge_formats(["rdf+xml", "application/rdf+xml"]) or "") == (
        "application/rdf+xml",
    )
    jsonld = merge_formats(["json-ld", "application/ld+json,application/x-json+ld"])
    assert format_to_accept(jsonld or "") == ("application/ld+json",)
    assert merge_formats(["json-ld", ""]) == "json-ld"  # SPARQLWrapper's empty second value
    assert merge_formats([]) is None


def test_values_that_disagree_are_refused() -> None:
    with pytest.raises(BadParameter, match="disagree"):
        merge_formats(["csv", "json"])


def test_n3_by_name_or_accept() -> None:
    assert n3_requested(None, "n3")
    assert n3_requested("text/n3, text/turtle;q=0.5", None)
    assert not n3_requested("text/turtle, text/n3;q=0.5", None)
    assert not n3_requested(None, "turtle")


def test_over_http(api: TestClient) -> None:
    query = "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o } LIMIT 1"
    response = api.get("/sparql", params=[("query", query), ("format", "n3"), ("output", "n3")])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/n3")
    response = api.get(
        "/sparql",
        params=[("query", "SELECT * WHERE { ?s ?p ?o } LIMIT 1"), ("format", "tsv"),
                ("format", TSV), ("output", "tsv")],
    )  # fmt: skip
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(TSV)
    bad = api.get("/sparql", params=[("query", "ASK {}"), ("format", "csv"), ("output", "xml")])
    assert bad.status_code == 400
