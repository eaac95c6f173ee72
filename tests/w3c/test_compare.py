"""The runner's own parts: result parsing and comparison, manifests, the dataset file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.w3c.compare import answers_differ, has_top_level_order_by, rows_match
from tests.w3c.dataset import write_nquads
from tests.w3c.expected import load_expected_failures
from tests.w3c.manifest import QueryTest, load_suite
from tests.w3c.results import XSD, Answer, Row, csv_rows, literal, parse_json, parse_tsv

INT = XSD + "integer"


def iri(v: str) -> tuple[str, str]:
    return ("iri", v)


def bnode(v: str) -> tuple[str, str]:
    return ("bnode", v)


def test_rows_match_is_a_multiset_comparison() -> None:
    a: list[Row] = [{"x": iri("a")}, {"x": iri("a")}, {"x": iri("b")}]
    assert rows_match(a, list(reversed(a)), ordered=False)
    assert not rows_match(a, [{"x": iri("a")}, {"x": iri("b")}, {"x": iri("b")}], ordered=False)
    assert not rows_match(a, a[:2], ordered=False)


def test_rows_match_keeps_order_only_when_asked() -> None:
    a: list[Row] = [{"x": iri("a")}, {"x": iri("b")}]
    assert not rows_match(a, list(reversed(a)), ordered=True)
    assert rows_match(a, a, ordered=True)


def test_blank_nodes_need_a_consistent_bijection() -> None:
    expected: list[Row] = [
        {"x": bnode("e1"), "y": bnode("e1")},
        {"x": bnode("e2"), "y": bnode("e3")},
    ]
    same_shape: list[Row] = [{"x": bnode("b"), "y": bnode("c")}, {"x": bnode("a"), "y": bnode("a")}]
    merged: list[Row] = [{"x": bnode("a"), "y": bnode("a")}, {"x": bnode("a"), "y": bnode("c")}]
    assert rows_match(expected, same_shape, ordered=False)
    assert not rows_match(expected, merged, ordered=False)


def test_unbound_differs_from_bound() -> None:
    assert not rows_match([{"x": iri("a")}], [{"x": iri("a"), "y": iri("b")}], ordered=False)


def test_numbers_compare_by_value_within_their_datatype() -> None:
    want = Answer(variables=["n"], rows=[{"n": literal("2.0", XSD + "decimal")}])
    same = Answer(variables=["n"], rows=[{"n": literal("2", XSD + "decimal")}])
    other_type = Answer(variables=["n"], rows=[{"n": literal("2", INT)}])
    assert answers_differ(want, same, ordered=False) is None
    assert answers_differ(want, other_type, ordered=False) is not None
    assert answers_differ(want, same, ordered=False, numbers_by_value=False) is not None


def test_other_literals_compare_by_term() -> None:
    want = Answer(variables=["v"], rows=[{"v": literal("0", XSD + "boolean")}])
    got = Answer(variables=["v"], rows=[{"v": literal("false", XSD + "boolean")}])
    assert answers_differ(want, got, ordered=False) is not None
    lang = Answer(variables=["v"], rows=[{"v": literal("a", lang="en")}])
    plain = Answer(variables=["v"], rows=[{"v": literal("a")}])
    assert answers_differ(lang, plain, ordered=False) is not None


def test_booleans_and_kinds() -> None:
    assert answers_differ(Answer(boolean=True), Answer(boolean=True), ordered=False) is None
    assert answers_differ(Answer(boolean=True), Answer(boolean=False), ordered=False)
    assert answers_differ(Answer(boolean=True), Answer(variables=[], rows=[]), ordered=False)


def test_tsv_terms() -> None:
    text = '?a\t?b\n<http://x>\t"q\\"t"@EN\n_:b1\t1.0e6\n"-3"^^<http://t>\t\n'
    ans = parse_tsv(text)
    assert ans.variables == ["a", "b"]
    assert ans.rows == [
        {"a": iri("http://x"), "b": literal('q"t', lang="en")},
        {"a": bnode("b1"), "b": literal("1000000.0", XSD + "double")},
        {"a": literal("-3", "http://t")},
    ]


def test_json_results() -> None:
    ans = parse_json(
        '{"head":{"vars":["x"]},"results":{"bindings":[{"x":{"type":"literal","value":"1",'
        '"datatype":"' + INT + '"}},{}]}}'
    )
    assert ans.rows == [{"x": literal("1", INT)}, {}]


def test_csv_rows() -> None:
    head, rows = csv_rows('s,o\r\nhttp://x,"a,b"\r\n_:b0,\r\n')
    assert head == ["s", "o"]
    assert rows == [{"s": "http://x", "o": "a,b"}, {"s": "_:b0", "o": ""}]


@pytest.mark.parametrize(
    ("query", "ordered"),
    [
        ("SELECT * { ?s ?p ?o } ORDER BY ?s", True),
        ("SELECT * { { SELECT ?s { ?s ?p ?o } ORDER BY ?s LIMIT 1 } }", False),
        ('SELECT * { ?s ?p "}" } order by ?s', True),
        ("SELECT * { ?s ?p ?o } # ORDER BY ?s", False),
    ],
)
def test_top_level_order_by(query: str, ordered: bool) -> None:
    assert has_top_level_order_by(query) is ordered


def test_manifest_and_dataset(tmp_path: Path) -> None:
    tests = load_suite("bindings")
    assert all(isinstance(t, QueryTest) for t in tests)
    graph = next(t for t in tests if t.iri.endswith("#graph"))
    assert isinstance(graph, QueryTest)
    assert [f.graph.rsplit("/", 1)[-1] for f in graph.named_graphs] == ["data01.ttl", "data02.ttl"]
    out = tmp_path / "d.nq"
    assert write_nquads(tests, out) > 0
    assert "<http://www.w3.org/2009/sparql/docs/tests/data-sparql11/bindings/data01.ttl> ." in (
        out.read_text()
    )


def test_expected_failures_file_is_well_formed(tmp_path: Path) -> None:
    assert load_expected_failures()
    bad = tmp_path / "x.txt"
    bad.write_text("http://t#1 flaky because\n")
    with pytest.raises(ValueError, match=r"x\.txt:1: category"):
        load_expected_failures(bad)
