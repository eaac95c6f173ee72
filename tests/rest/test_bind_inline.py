"""``#+ bind: inline``: the VALUES block opens the WHERE group; same answer as trailing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pyoxigraph as ox
import pytest

from kg.errors import QueryError
from kg.queries import bind, get_query, parse_query_file


def test_inline_block_opens_the_where_group() -> None:
    query = get_query("api-party-pairings")
    text = bind(query, {"party": "https://w3id.org/gq-kg/id/division/522731"})
    head, _, rest = text.partition("WHERE {")
    assert rest.lstrip().startswith(
        "VALUES (?party) { (<https://w3id.org/gq-kg/id/division/522731>) }"
    )
    assert "VALUES" not in head
    assert text.count("VALUES") == 1


ID = "https://w3id.org/gq-kg/id/"


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("api-party-pairings", {"party": f"{ID}division/522731"}),
        ("county-partners", {}),  # the default prefecture, 522700
        ("county-partners", {"prefectureCode": "440100"}),
        ("statistics", {}),
        ("statistics", {"subject": f"{ID}programme/guangzhou-qiannan"}),
        ("statistics", {"measure": f"{ID}measure/technicians-gz-to-qn"}),
        ("statistics", {"unit": "https://w3id.org/gq-kg/ontology#PersonUnit"}),
        (
            "statistics",
            {
                "subject": f"{ID}programme/guangzhou-qiannan",
                "unit": "https://w3id.org/gq-kg/ontology#PersonUnit",
            },
        ),
    ],
)
def test_inline_and_trailing_agree(real_build: Path, name: str, values: dict[str, str]) -> None:
    store = ox.Store()
    store.bulk_load(path=str(real_build / "dataset.nq"))
    query = get_query(name)
    assert query.meta.get("bind") == "inline"
    trailing = replace(query, meta={})

    def rows(text: str) -> list[tuple[str, ...]]:
        result = store.query(text, use_default_graph_as_union=True)
        assert isinstance(result, ox.QuerySolutions)
        return sorted(tuple(str(s[v]) for v in result.variables) for s in result)

    inline_rows = rows(bind(query, values))
    assert inline_rows
    assert inline_rows == rows(bind(trailing, values))


def test_inline_without_where_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "q.rq"
    path.write_text("#+ summary: s\n#+ params: x: iri\n#+ bind: inline\nASK { ?x ?p ?o }\n")
    with pytest.raises(QueryError, match="no WHERE"):
        bind(parse_query_file(path), {"x": "urn:x"})


def test_statistics_about_a_subject_leave_out_those_without_one() -> None:
    """With the old trailing VALUES, a statistic without gq:subject joined with any subject and
    was listed as being about it; inline, a subject filter keeps only the statistics about it."""
    store = ox.Store()
    store.load(
        f"""
        @prefix gq: <https://w3id.org/gq-kg/ontology#> .
        <{ID}statistic/a> a gq:Statistic ; gq:measure <{ID}measure/m> ; gq:value 1 ;
            gq:unit gq:PersonUnit ; gq:subject <{ID}programme/x> .
        <{ID}statistic/b> a gq:Statistic ; gq:measure <{ID}measure/m> ; gq:value 2 ;
            gq:unit gq:PersonUnit .
        <{ID}statistic/c> a gq:Statistic ; gq:measure <{ID}measure/m> ; gq:value 3 ;
            gq:unit gq:PersonUnit ; gq:subject <{ID}programme/y> .
        """,
        format=ox.RdfFormat.TURTLE,
    )
    query = get_query("statistics")

    def statistics(values: dict[str, str]) -> list[str]:
        result = store.query(bind(query, values))
        assert isinstance(result, ox.QuerySolutions)
        return sorted(str(s["statistic"].value) for s in result if s["statistic"] is not None)

    assert statistics({"subject": f"{ID}programme/x"}) == [f"{ID}statistic/a"]
    assert statistics({}) == [f"{ID}statistic/{n}" for n in "abc"]
