"""Capped serialisers: W3C formats exactly, truncation exact, native output when not capped."""

from __future__ import annotations

import csv
import io
import json

import pyoxigraph as ox
import pytest

from kg.errors import NotAcceptable
from kg.sparql.results import (
    BOOLEAN_MEDIA_TYPES,
    GRAPH_MEDIA_TYPES,
    SOLUTION_MEDIA_TYPES,
    choose_media_type,
    serialize_boolean,
    serialize_graph,
    serialize_result,
    serialize_solutions,
)

STORE_DATA = """
@prefix ex: <http://example.org/> .
ex:a ex:p "plain" , "α"@el , "tab\\tand\\nnewline, \\"quoted\\"" , 42 , "x"^^ex:dt , _:b .
"""
SELECT = "SELECT ?s ?o WHERE { ?s ?p ?o } ORDER BY STR(?o)"


@pytest.fixture(scope="module")
def store() -> ox.Store:
    store = ox.Store()
    store.load(STORE_DATA, format=ox.RdfFormat.TURTLE)
    return store


@pytest.mark.parametrize("media_type", list(SOLUTION_MEDIA_TYPES))
def test_uncapped_answer_is_byte_for_byte_the_native_one(store: ox.Store, media_type: str) -> None:
    capped = serialize_solutions(store.query(SELECT), media_type, 1000)
    native = store.query(SELECT).serialize(format=SOLUTION_MEDIA_TYPES[media_type])
    assert capped.body == native
    assert (capped.rows, capped.truncated, capped.kind) == (6, False, "solutions")


@pytest.mark.parametrize("media_type", list(SOLUTION_MEDIA_TYPES))
@pytest.mark.parametrize("cap", [0, 1, 5])
def test_truncation_keeps_the_first_rows(store: ox.Store, media_type: str, cap: int) -> None:
    result = serialize_solutions(store.query(SELECT), media_type, cap)
    assert (result.rows, result.truncated) == (cap, True)
    if media_type == "text/csv":
        rows = list(csv.reader(io.StringIO(result.body.decode(), newline="")))
        assert len(rows) == cap + 1
        return
    parsed = ox.parse_query_results(result.body, SOLUTION_MEDIA_TYPES[media_type])
    assert isinstance(parsed, ox.QuerySolutions)
    full = store.query(SELECT)
    assert isinstance(full, ox.QuerySolutions)
    first = [str(s["o"]) for s in full][:cap]
    assert [str(s["o"]) for s in parsed] == first


def test_exact_cap_is_not_truncated(store: ox.Store) -> None:
    result = serialize_solutions(store.query(SELECT), "application/sparql-results+json", 6)
    assert (result.rows, result.truncated) == (6, False)


def test_json_terms(store: ox.Store) -> None:
    body = serialize_solutions(store.query(SELECT), "application/sparql-results+json", 10).body
    bindings = [b["o"] for b in json.loads(body)["results"]["bindings"]]
    assert {"type": "literal", "value": "α", "xml:lang": "el"} in bindings
    assert {"type": "literal", "value": "x", "datatype": "http://example.org/dt"} in bindings
    assert {"type": "literal", "value": "plain"} in bindings  # xsd:string is implicit
    assert any(b["type"] == "bnode" for b in bindings)


def test_csv_is_plain_values_and_tsv_is_ntriples_terms(store: ox.Store) -> None:
    text = serialize_solutions(store.query(SELECT), "text/csv", 10).body.decode()
    tsv = serialize_solutions(store.query(SELECT), "text/tab-separated-values", 10).body.decode()
    assert text.startswith("s,o\r\n")
    assert "http://example.org/a,α\r\n" in text
    assert '"tab\tand\nnewline, ""quoted"""' in text
    assert tsv.startswith("?s\t?o\n")
    assert '<http://example.org/a>\t"α"@el\n' in tsv
    assert '"tab\\tand\\nnewline, \\"quoted\\""' in tsv
    assert "\t42\n" in tsv


def test_rdf_star_triple_terms(store: ox.Store) -> None:
    text = (
        "SELECT ?t WHERE { ?s ?p ?o FILTER(isLiteral(?o) && ?o = 42) BIND(<<( ?s ?p ?o )>> AS ?t) }"
    )
    body = serialize_solutions(store.query(text), "application/sparql-results+json", 10).body
    term = json.loads(body)["results"]["bindings"][0]["t"]
    assert term["type"] == "triple"
    assert term["value"]["subject"] == {"type": "uri", "value": "http://example.org/a"}


def test_no_variables_and_no_rows() -> None:
    store = ox.Store()
    one = serialize_solutions(store.query("SELECT * {}"), "application/sparql-results+json", 5)
    assert json.loads(one.body) == {"head": {"vars": []}, "results": {"bindings": [{}]}}
    assert one.rows == 1
    none = serialize_solutions(
        store.query("SELECT ?x { FILTER(false) }"), "application/sparql-results+xml", 5
    )
    assert (none.rows, none.truncated) == (0, False)
    assert b'<variable name="x"/>' in none.body


@pytest.mark.parametrize("media_type", list(BOOLEAN_MEDIA_TYPES))
def test_boolean_is_the_native_form(store: ox.Store, media_type: str) -> None:
    for text in ("ASK { ?s ?p ?o }", "ASK { ?s ?p 43 }"):
        native = store.query(text).serialize(format=BOOLEAN_MEDIA_TYPES[media_type])
        assert serialize_boolean(bool(store.query(text)), media_type).body == native


@pytest.mark.parametrize("media_type", list(GRAPH_MEDIA_TYPES))
def test_graph_formats_round_trip_and_cap(store: ox.Store, media_type: str) -> None:
    text = "CONSTRUCT WHERE { ?s ?p ?o }"
    whole = serialize_graph(store.query(text), media_type, 100)
    assert (whole.rows, whole.truncated) == (6, False)
    assert len(list(ox.parse(whole.body, GRAPH_MEDIA_TYPES[media_type]))) == 6
    capped = serialize_graph(store.query(text), media_type, 2)
    assert (capped.rows, capped.truncated) == (2, True)
    assert len(list(ox.parse(capped.body, GRAPH_MEDIA_TYPES[media_type]))) == 2


def test_choose_media_type() -> None:
    assert choose_media_type("solutions", ("text/csv",)) == "text/csv"
    assert choose_media_type("graph", ("text/csv", "application/n-triples")) == (
        "application/n-triples"
    )
    assert choose_media_type("boolean", ("*/*",)) == "application/sparql-results+json"
    assert choose_media_type("graph", ("application/*",)) == "application/n-triples"
    with pytest.raises(NotAcceptable, match="CSV and TSV define no form for a boolean"):
        choose_media_type("boolean", ("text/csv", "text/tab-separated-values"))
    with pytest.raises(NotAcceptable) as caught:
        choose_media_type("graph", ("application/sparql-results+json",))
    assert "text/turtle" in caught.value.offered


def test_serialize_result_dispatches_on_the_answer(store: ox.Store) -> None:
    accept = ("application/sparql-results+json", "text/turtle")
    assert serialize_result(store.query("ASK {}"), accept, 10).kind == "boolean"
    assert serialize_result(store.query(SELECT), accept, 10).kind == "solutions"
    graph = serialize_result(store.query("DESCRIBE <http://example.org/a>"), accept, 10)
    assert (graph.kind, graph.media_type) == ("graph", "text/turtle")


TRICKY = """
@prefix ex: <http://example.org/> .
ex:a ex:p "},{" , "},{\\"x\\":{}}" , "[]}}" , "\\\\" , "<result>" , "" .
ex:b ex:q ex:a .
"""
TRICKY_QUERIES = [
    "SELECT ?s ?o WHERE { ?s ?p ?o }",
    "SELECT ?o ?z WHERE { ?s ?p ?o OPTIONAL { ?o ?q ?z } }",
    "SELECT ?z WHERE { ?s ?p ?o OPTIONAL { ?s <http://example.org/none> ?z } }",
    "SELECT * WHERE { }",
    "SELECT ?x WHERE { FILTER(false) }",
    "SELECT * WHERE { VALUES (?x ?y) { (UNDEF UNDEF) (1 UNDEF) (UNDEF UNDEF) } }",
]


@pytest.mark.parametrize("text", TRICKY_QUERIES)
@pytest.mark.parametrize(
    "media_type", ["application/sparql-results+json", "application/sparql-results+xml"]
)
@pytest.mark.parametrize("cap", [0, 1, 3, 100])
def test_direct_path_counts_exactly(text: str, media_type: str, cap: int) -> None:
    """JSON/XML are written directly and counted: the count must match the solutions."""
    store = ox.Store()
    store.load(TRICKY, format=ox.RdfFormat.TURTLE)
    expected = len(list(store.query(text)))  # type: ignore[arg-type]
    result = serialize_solutions(store.query(text), media_type, cap)
    assert result.rows == min(expected, cap)
    assert result.truncated == (expected > cap)
    parsed = ox.parse_query_results(result.body, SOLUTION_MEDIA_TYPES[media_type])
    assert len(list(parsed)) == min(expected, cap)  # type: ignore[arg-type]


def test_long_answers_are_cut_from_a_second_run(
    store: ox.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kg.sparql.results.DIRECT_BYTES", 64)
    runs: list[int] = []

    def rerun() -> object:
        runs.append(1)
        return store.query(SELECT)

    result = serialize_solutions(store.query(SELECT), "application/sparql-results+json", 4, rerun)
    assert (result.rows, result.truncated, len(runs)) == (4, True, 1)
    whole = serialize_solutions(store.query(SELECT), "application/sparql-results+json", 10, rerun)
    assert (whole.rows, whole.truncated, len(runs)) == (6, False, 2)
    native = store.query(SELECT)
    assert isinstance(native, ox.QuerySolutions)
    assert whole.body == native.serialize(format=ox.QueryResultsFormat.JSON)
