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


def test_inline_and_trailing_agree(real_build: Path) -> None:
    store = ox.Store()
    store.bulk_load(path=str(real_build / "dataset.nq"))
    query = get_query("api-party-pairings")
    trailing = replace(query, meta={})
    values = {"party": "https://w3id.org/gq-kg/id/division/522731"}

    def rows(text: str) -> set[tuple[str, ...]]:
        result = store.query(text, use_default_graph_as_union=True)
        assert isinstance(result, ox.QuerySolutions)
        return {tuple(str(s[v]) for v in result.variables) for s in result}

    inline_rows = rows(bind(query, values))
    assert inline_rows
    assert inline_rows == rows(bind(trailing, values))


def test_inline_without_where_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "q.rq"
    path.write_text("#+ summary: s\n#+ params: x: iri\n#+ bind: inline\nASK { ?x ?p ?o }\n")
    with pytest.raises(QueryError, match="no WHERE"):
        bind(parse_query_file(path), {"x": "urn:x"})
