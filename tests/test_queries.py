"""Named queries: header parsing, typed binding, injection safety, every shipped .rq file."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pyoxigraph as ox
import pytest

from kg.config import project_root
from kg.errors import BadParameter, DataError, UnknownQuery
from kg.queries import (
    NamedQuery,
    Param,
    bind,
    example_value,
    get_query,
    load_queries,
    parse_query_file,
    render_term,
    select,
)
from kg.stats import STATS_QUERIES, collect_stats
from tests.fixtures.memory_store import MemoryStore

QUERIES_DIR = project_root() / "ontology" / "queries"
GQ = "https://w3id.org/gq-kg/ontology#"

ECHO = """\
#+ summary: Echo the bound values
#+ description: For tests:
#+ description: binds every type.
#+ params: s: string, n: integer = 7, d: date?, i: iri?, l: lang-string?
#+ tags: test, echo
#+ author: kg
SELECT ?s ?n ?d ?i ?l WHERE {}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def echo(tmp_path: Path) -> NamedQuery:
    return parse_query_file(write(tmp_path, "echo.rq", ECHO))


def run(text: str) -> list[dict[str, ox.NamedNode | ox.Literal]]:
    """Evaluate on an empty store: proves the text parses and shows what got bound."""
    solutions = ox.Store().query(text)
    assert isinstance(solutions, ox.QuerySolutions)
    names = [v.value for v in solutions.variables]
    return [{n: s[n] for n in names if s[n] is not None} for s in solutions]


# --- header ---------------------------------------------------------------------------------


def test_header_is_parsed(echo: NamedQuery) -> None:
    assert echo.name == "echo"
    assert echo.summary == "Echo the bound values"
    assert echo.description == "For tests: binds every type."
    assert echo.tags == ("test", "echo")
    assert echo.params == (
        Param("s", "string"),
        Param("n", "integer", default="7"),
        Param("d", "date", optional=True),
        Param("i", "iri", optional=True),
        Param("l", "lang-string", optional=True),
    )
    assert [p.required for p in echo.params] == [True, False, False, False, False]
    assert echo.meta == {"author": "kg"}


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("SELECT * WHERE {}\n", 1, "missing '#+ summary:'"),
        ("#+ summary: x\n#+ params: a: uri\nSELECT ?a {}\n", 2, "unknown type 'uri'"),
        ("#+ summary: x\n\n#+ params: a iri\nSELECT ?a {}\n", 3, "expected 'name: type"),
        ("#+ summary: x\n#+ params: a: iri\nSELECT ?b {}\n", 2, "?a is not used"),
        ("#+ summary: x\n#+ params: ?a: iri\nSELECT ?b {}\n", 2, "?a is not used"),
        ("#+ summary: x\n#+ params: a: iri, a: iri\nSELECT ?a {}\n", 2, "'a' twice"),
        ("#+ summary: x\n#+ params: a: date = 2021-13-01\nSELECT ?a {}\n", 2, "bad default"),
    ],
)
def test_malformed_header_names_file_and_line(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    path = write(tmp_path, "bad.rq", text)
    with pytest.raises(DataError) as caught:
        parse_query_file(path)
    issue = caught.value.issues[0]
    assert (issue.file, issue.line) == (str(path), line)
    assert problem in issue.problem


def test_load_queries_collects_every_problem_and_rejects_duplicate_names(tmp_path: Path) -> None:
    write(tmp_path, "good.rq", ECHO)
    write(tmp_path, "sub/good.rq", ECHO)
    write(tmp_path, "bad.rq", "SELECT * {}\n")
    with pytest.raises(DataError) as caught:
        load_queries(tmp_path)
    problems = [str(i) for i in caught.value.issues]
    assert len(problems) == 2
    assert any("bad.rq:1: missing" in p for p in problems)
    assert any("sub/good.rq" in p and "also in" in p for p in problems)


def test_get_query_unknown_and_reload_after_edit(tmp_path: Path) -> None:
    path = write(tmp_path, "echo.rq", ECHO)
    assert get_query("echo", tmp_path).summary == "Echo the bound values"
    with pytest.raises(UnknownQuery, match=r"'nope'.*known: echo"):
        get_query("nope", tmp_path)
    path.write_text(ECHO.replace("Echo the bound values", "Changed"), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert get_query("echo", tmp_path).summary == "Changed"


def test_get_query_sees_added_removed_and_other_edited_files(tmp_path: Path) -> None:
    """get_query stats only the folders and the file asked for: a new file, a removed one and
    an edit to another file are still seen."""
    write(tmp_path, "echo.rq", ECHO)
    assert get_query("echo", tmp_path).summary == "Echo the bound values"
    other = write(tmp_path, "sub/other.rq", ECHO.replace("Echo the bound values", "Other"))
    assert get_query("other", tmp_path).summary == "Other"
    assert get_query("echo", tmp_path).summary == "Echo the bound values"
    other.write_text(ECHO.replace("Echo the bound values", "Edited"), encoding="utf-8")
    stat = other.stat()
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert get_query("echo", tmp_path).summary == "Echo the bound values"
    assert get_query("other", tmp_path).summary == "Edited"
    other.unlink()
    with pytest.raises(UnknownQuery, match="'other'"):
        get_query("other", tmp_path)


# --- binding --------------------------------------------------------------------------------


def test_bind_appends_values_with_defaults_and_leaves_optional_unbound(echo: NamedQuery) -> None:
    text = bind(echo, {"s": "都匀", "i": f"{GQ}Pairing"})
    assert text.startswith(ECHO.rstrip())  # the body is untouched
    assert text.endswith(f'VALUES (?s ?n ?i) {{ ("都匀" 7 <{GQ}Pairing>) }}\n')
    (row,) = run(text)
    assert row["s"] == ox.Literal("都匀")
    assert row["n"] == ox.Literal(
        "7", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#integer")
    )
    assert row["i"] == ox.NamedNode(f"{GQ}Pairing")
    assert "d" not in row
    assert "l" not in row


def test_bind_every_type(echo: NamedQuery) -> None:
    values: dict[str, str | int] = {
        "s": "x",
        "n": -3,
        "d": "2021-03-01",
        "i": "urn:x:1",
        "l": "Duyun City@EN",
    }
    (row,) = run(bind(echo, values))
    assert row["n"].value == "-3"
    assert row["d"] == ox.Literal(
        "2021-03-01", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#date")
    )
    assert row["i"] == ox.NamedNode("urn:x:1")
    assert row["l"] == ox.Literal("Duyun City", language="en")


def test_query_without_params_is_unchanged(tmp_path: Path) -> None:
    query = parse_query_file(write(tmp_path, "q.rq", "#+ summary: s\nASK {}\n"))
    assert bind(query, {}) == query.text


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "needs parameter 's'"),
        ({"s": "x", "zz": "1"}, "no parameter 'zz'"),
        ({"s": "x", "n": "1.5"}, "'n': '1.5' is not an integer"),
        ({"s": "x", "n": "١٢"}, "not an integer"),  # non-ASCII digits int() would accept
        ({"s": "x", "n": True}, "expected text or an integer"),
        ({"s": 5}, "expected string, got the integer 5"),
        ({"s": "x", "d": "2021-02-30"}, "'d': '2021-02-30' is not a date"),
        ({"s": "x", "d": "21-3-1"}, "is not a date (YYYY-MM-DD)"),
        ({"s": "x", "i": "relative/path"}, "not an absolute IRI"),
        ({"s": "x", "i": "http://x/a b"}, "not an absolute IRI"),
        ({"s": "x", "l": "no tag"}, "not a language-tagged string"),
        ({"s": "x", "l": "bad@tag!"}, "not a language-tagged string"),
        ({"s": "nul\x00"}, "control characters"),
        ({"s": "\udcff"}, "not valid Unicode"),
    ],
)
def test_bad_values_are_rejected_with_a_clear_message(
    echo: NamedQuery, values: dict[str, str | int], message: str
) -> None:
    with pytest.raises(BadParameter) as caught:
        bind(echo, values)
    assert message in caught.value.message


@pytest.mark.parametrize(
    "iri",
    [
        "http://x/> } ; DROP ALL ; #",
        'http://x/"',
        "http://x/{a}",
        "http://x/a|b",
        "http://x/^",
        "http://x/`",
        "http://x/\\u003E",
        "http://x/\n",
    ],
)
def test_iri_injection_is_rejected(iri: str) -> None:
    with pytest.raises(BadParameter):
        render_term("iri", iri)


@pytest.mark.parametrize(
    "value",
    [
        '" } ; DROP ALL ; #',
        '"\n} INSERT DATA { <a:b> <a:c> <a:d> } #',
        "back\\slash\\",
        "a\\u0022 } #",
        'a\\"b',
        "tab\tnew\nline\rreturn",
        "'single' \"double\" '''triple'''",
        "中文 🚀",
    ],
)
def test_string_injection_is_inert(echo: NamedQuery, value: str) -> None:
    """The hostile text comes back as exactly the value, nothing else runs or parses."""
    (row,) = run(bind(echo, {"s": value}))
    assert row["s"] == ox.Literal(value)
    (row,) = run(bind(echo, {"s": "x", "l": f"{value}@zh"}))
    assert row["l"] == ox.Literal(value, language="zh")


# --- the shipped queries ------------------------------------------------------------------


def test_every_shipped_query_parses_after_binding_example_values() -> None:
    queries = load_queries(QUERIES_DIR)
    assert set(STATS_QUERIES.values()) <= set(queries)
    store = ox.Store()
    for query in queries.values():
        text = bind(query, {p.name: example_value(p) for p in query.params})
        try:
            store.query(text)
        except SyntaxError as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"{query.path}: {exc}")


# --- running through a Store --------------------------------------------------------------

DATA = f"""\
@prefix gq: <{GQ}> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
<https://w3id.org/gq-kg/graph/ontology> {{
  <{GQ}> a owl:Ontology . gq:Pairing a owl:Class .
}}
<https://w3id.org/gq-kg/graph/article> {{
  <urn:p1> a gq:Pairing ; gq:evidence gq:Stated .
  <urn:p2> a gq:Pairing ; gq:evidence gq:Inferred .
  <urn:s1> a gq:Statistic ; gq:evidence gq:Stated ; gq:unit gq:PersonTime .
  <urn:s2> a gq:Statistic ; gq:evidence gq:Stated ; gq:unit gq:PersonTime .
  <urn:s3> a gq:Statistic ; gq:evidence gq:Stated ; gq:unit gq:CNY .
  <urn:d1> a gq:County ; rdfs:label "都匀市"@zh .
}}
"""


@pytest.fixture
def store(tmp_path: Path) -> MemoryStore:
    return MemoryStore(write(tmp_path, "data.trig", DATA))


def test_select_returns_terms(store: MemoryStore) -> None:
    async def go() -> list[str]:
        await store.start()
        answer = await select(store, bind(get_query("labels", QUERIES_DIR), {}))
        await store.close()
        assert answer.variables == ("entity", "class", "label")
        return [str(row["label"].value) for row in answer.rows]

    assert asyncio.run(go()) == ["都匀市"]


def test_stats_count_by_class_evidence_graph_and_unit(store: MemoryStore) -> None:
    async def go() -> dict[str, dict[str, int]]:
        await store.start()
        sections = await collect_stats(store, QUERIES_DIR)
        await store.close()
        return {s.key: dict(s.rows) for s in sections}

    stats = asyncio.run(go())
    assert list(stats) == list(STATS_QUERIES)
    # The ontology graph's owl:Class is not an entity of the data.
    assert stats["entities_by_class"] == {f"{GQ}Statistic": 3, f"{GQ}Pairing": 2, f"{GQ}County": 1}
    assert stats["claims_by_evidence"] == {f"{GQ}Inferred": 1, f"{GQ}Stated": 4}
    assert stats["triples_by_graph"] == {
        "https://w3id.org/gq-kg/graph/article": 15,
        "https://w3id.org/gq-kg/graph/ontology": 2,
    }
    assert stats["statistics_by_unit"] == {f"{GQ}PersonTime": 2, f"{GQ}CNY": 1}


_GROUPS_TRIG = """
@prefix gq: <https://w3id.org/gq-kg/ontology#> .
@prefix id: <https://w3id.org/gq-kg/id/> .
<https://w3id.org/gq-kg/graph/article> {
  id:g1 a gq:Group ; gq:hasMember id:m .
  id:p a gq:Pairing ; gq:helper id:g1 ; gq:recipient id:o ; gq:level gq:DistrictToCounty ;
       gq:statedIn id:s0 .
  id:s0 a gq:Sentence ; gq:text "the pairing" .
  id:s1 a gq:Sentence ; gq:text "unrelated one" .
  id:s2 a gq:Sentence ; gq:text "unrelated two" .
  id:s3 a gq:Sentence ; gq:text "unrelated three" .
}
"""


@pytest.mark.parametrize(
    ("name", "param"), [("page-group-pairings", "entity"), ("api-party-groups", "party")]
)
def test_a_membership_without_a_sentence_cites_none(name: str, param: str) -> None:
    """A member named without provenance has no membership sentence: its row cites none. A
    sentence OPTIONAL outside the membership that binds it matched every sentence of the
    store (one row per sentence: a cross product) and, at 10M quads, took 400 ms a page."""
    store = ox.Store()
    store.load(_GROUPS_TRIG.encode(), format=ox.RdfFormat.TRIG)
    text = bind(get_query(name), {param: "https://w3id.org/gq-kg/id/m"})
    rows = list(store.query(text, use_default_graph_as_union=True))  # type: ignore[arg-type]
    assert len(rows) == 1
    assert rows[0]["group"] == ox.NamedNode("https://w3id.org/gq-kg/id/g1")
    assert rows[0]["memberText"] is None
