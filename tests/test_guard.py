"""The query guard: what it sees in a query, and what it refuses (before any parser runs)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from kg.config import Settings
from kg.errors import ForbiddenQuery, QuerySyntaxError, QueryTooComplex, QueryTooLarge
from kg.sparql.guard import check, inspect

GRAPHS = ("http://example.org/g1", "http://example.org/g2")


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "max_query_depth": 16,
        "max_request_bytes": 4096,
        "allow_service": False,
        "allow_remote_from": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "form"),
    [
        ("SELECT * WHERE { ?s ?p ?o }", "SELECT"),
        ("prefix ex: <http://e/> ask { ex:a ?p ?o }", "ASK"),
        ("CONSTRUCT WHERE { ?s ?p ?o }", "CONSTRUCT"),
        ("BASE <http://e/> DESCRIBE <a>", "DESCRIBE"),
        ("INSERT DATA { <http://a> <http://b> <http://c> }", "UPDATE"),
        ("# only a comment", None),
        ("SELECT * { { SELECT ?x { } } }", "SELECT"),
    ],
)
def test_query_form(text: str, form: str | None) -> None:
    assert inspect(text).form == form


def test_update_operations_in_order() -> None:
    shape = inspect("INSERT DATA { <a:x> <a:y> 1 } ; DELETE WHERE { ?s ?p ?o } ; CLEAR ALL")
    assert shape.is_update
    assert shape.operations == ("INSERT", "DELETE", "CLEAR")


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("ASK {}", 1),
        ("ASK { { { } } }", 3),
        ("ASK { FILTER((1)) }", 3),
        ("ASK { ?s ?p [ ?q [ ?r 1 ] ] }", 3),
        ('ASK { ?s ?p "{{{{{{" }', 1),  # brackets in strings do not count
        ("ASK { ?s ?p <http://e/((> }", 1),  # nor in IRIs
        ("ASK { } # {{{{{{{{", 1),  # nor in comments
    ],
)
def test_depth(text: str, depth: int) -> None:
    assert inspect(text).depth == depth


def test_brackets_in_strings_do_not_count_against_the_limit() -> None:
    text = 'ASK { ?s ?p "((((((((((((((((((((((((((((((" . ?s ?p <http://e/((((((((((((((((((> }'
    assert check(text, settings(max_query_depth=4), GRAPHS).depth == 1


@pytest.mark.parametrize(
    "text",
    [
        "SELECT * { SERVICE <http://x/> { ?s ?p ?o } }",
        "select * { service silent <http://x/> { } }",
        "SELECT * { SeRvIcE ?endpoint { } VALUES ?endpoint { <http://x/> } }",
        r"SELECT * { \u0053ERVICE <http://x/> { } }",
        r"SELECT * { SERVIC\U00000045 <http://x/> { } }",
        "SELECT * { FILTER EXISTS { SERVICE <http://x/> { } } }",
        "SELECT * { ?s ?p ?o . }SERVICE<http://x/>{}",
    ],
)
def test_service_is_seen(text: str) -> None:
    assert inspect(text).service


@pytest.mark.parametrize(
    "text",
    [
        'SELECT * { ?s ?p "unterminated SERVICE <http://x/> { } }',
        "SELECT * { ?s ?p '''never closed SERVICE <http://x/> { } }",
        'SELECT * { ?s ?p "bad escape \\q" . SERVICE <http://x/> { } }',
    ],
)
def test_a_string_that_never_ends_is_refused(text: str) -> None:
    """Nothing after it can be read safely (the engine refuses it too)."""
    with pytest.raises(QuerySyntaxError, match="never ends"):
        check(text, settings(allow_service=True), GRAPHS)


@pytest.mark.parametrize(
    "text",
    [
        'SELECT * { ?s ?p "SERVICE <http://x/> { }" }',
        "SELECT * { ?s ?p '''\nSERVICE\n''' }",
        "SELECT * { ?s ?p ?o } # SERVICE <http://x/> { }",
        "PREFIX ex: <http://e/> SELECT * { ?s ex:SERVICE ?SERVICE }",
        "SELECT * { ?s <http://e/SERVICE> ?o }",
        r"PREFIX e: <http://e/> SELECT * { ?s e:a\#SERVICE ?o }",
    ],
)
def test_service_in_strings_iris_and_comments_is_not_a_keyword(text: str) -> None:
    assert not inspect(text).service


def test_from_graphs_are_resolved() -> None:
    shape = inspect(
        "BASE <http://example.org/> PREFIX ex: <http://example.org/> "
        "SELECT * FROM ex:g1 FROM <g2> FROM NAMED <http://other/g> FROM named ex:g\\-3 {}"
    )
    assert shape.from_graphs == ("http://example.org/g1", "http://example.org/g2")
    assert shape.from_named_graphs == ("http://other/g", "http://example.org/g-3")
    assert shape.prefixes == {"ex": "http://example.org/"}


def test_from_with_escaped_iri() -> None:
    shape = inspect(r"SELECT * FROM <http://\u0065vil.example/g> {}")
    assert shape.from_graphs == ("http://evil.example/g",)


def test_check_accepts_a_plain_query() -> None:
    shape = check("SELECT * FROM <http://example.org/g1> { ?s ?p ?o }", settings(), GRAPHS)
    assert shape.form == "SELECT"


def test_check_refuses_deep_nesting_and_names_the_setting() -> None:
    with pytest.raises(QueryTooComplex, match="max_query_depth"):
        check("ASK " + "{" * 17 + "}" * 17, settings(), GRAPHS)
    assert check("ASK " + "{" * 16 + "}" * 16, settings(), GRAPHS).depth == 16


def test_check_refuses_service_unless_allowed() -> None:
    text = "SELECT * { SERVICE <http://x/> { } }"
    with pytest.raises(ForbiddenQuery, match="allow_service"):
        check(text, settings(), GRAPHS)
    assert check(text, settings(allow_service=True), GRAPHS).service


def test_check_refuses_load_always() -> None:
    with pytest.raises(ForbiddenQuery, match="LOAD"):
        check("LOAD <http://x/data.ttl>", settings(allow_service=True, allow_remote_from=True), ())


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("SELECT * FROM <http://elsewhere/g> {}", {}),
        ("SELECT * FROM NAMED <http://elsewhere/g> {}", {}),
        ("SELECT * {}", {"default_graph_uris": ["http://elsewhere/g"]}),
        ("SELECT * {}", {"named_graph_uris": ["http://elsewhere/g"]}),
        ("DELETE { ?s ?p ?o } USING <http://elsewhere/g> WHERE { ?s ?p ?o }", {}),
    ],
)
def test_check_refuses_unknown_graphs(text: str, options: dict[str, list[str]]) -> None:
    with pytest.raises(ForbiddenQuery, match="allow_remote_from"):
        check(text, settings(), GRAPHS, **options)  # type: ignore[arg-type]
    check(text, settings(allow_remote_from=True), GRAPHS, **options)  # type: ignore[arg-type]


def test_an_unknown_using_graph_is_named_as_using() -> None:
    """An update's USING was refused as 'FROM <…> is not a graph of this store'."""
    update = "DELETE { ?s ?p ?o } USING NAMED <http://elsewhere/g> WHERE { ?s ?p ?o }"
    with pytest.raises(ForbiddenQuery, match=r"USING NAMED\) <http://elsewhere/g>"):
        check(update, settings(), GRAPHS)


def test_check_refuses_large_queries() -> None:
    with pytest.raises(QueryTooLarge, match="max_request_bytes"):
        check("ASK {} #" + "x" * 5000, settings(), GRAPHS)
    # Bytes, not characters: 1500 three-byte characters are 4500 bytes.
    with pytest.raises(QueryTooLarge):
        check("ASK {} #" + "広" * 1500, settings(), GRAPHS)


def test_bad_escape_is_a_syntax_error() -> None:
    with pytest.raises(QuerySyntaxError):
        inspect(r"SELECT * { ?s ?p '\UFFFFFFFF' }")


@pytest.mark.parametrize(
    "text",
    [
        # pyoxigraph reads each of these as SERVICE; the former guard did not.
        "SELECT * { ?s ?p 1SERVICE <http://x/> { } }",
        "SELECT * { ?s ?p 1.5SERVICE <http://x/> { } }",
        "SELECT * { ?s ?p 1.e1SERVICE <http://x/> { } }",
        "SELECT * { ?s ?p trueSERVICE <http://x/> { } }",
        "SELECT * { ?s ?p ?o OPTIONAL { }SERVICESILENT <http://x/> { } }",
        "PREFIX : <http://x/> SELECT * { ?s a ?o SERVICE:x { } }",
        # '\u0027' is a one-letter string to pyoxigraph, the start of a long string to the
        # spec's escape pre-pass: read both ways.
        "SELECT * { ?s ?p '\\u0027' . SERVICE <http://x/> { } . ?s ?p '\\u0027' }",
        # In an expression "<" is less-than to pyoxigraph, not the start of an IRI.
        "SELECT * { ?s ?p ?o FILTER(?o<?b)SERVICE?e#>\n{ } }",
    ],
)
def test_keywords_glued_to_other_tokens_are_seen(text: str) -> None:
    assert inspect(text).service
    with pytest.raises(ForbiddenQuery, match="SERVICE"):
        check(text, settings(), GRAPHS)


def test_a_string_hidden_by_the_iri_reading_is_refused() -> None:
    """To pyoxigraph, "'>'" is a string after "FILTER(?a<?b)"; to the IRI reading the "'"
    after ">" would open a string hiding SERVICE: such a text is refused."""
    text = "SELECT * { ?s ?p ?o FILTER(?o<?b)'>' ?p ?o . SERVICE <http://x/> {} # ' }"
    with pytest.raises(QuerySyntaxError):
        check(text, settings(allow_service=False), GRAPHS)


def test_nesting_in_the_comparison_reading_counts() -> None:
    text = "SELECT * { ?s ?p ?o FILTER(?o<?b)" + "(" * 20 + "#>\n}"
    assert inspect(text).depth >= 21
    # Balanced brackets in IRIs do not add up.
    assert inspect("SELECT * { " + "?s ?p <http://a/(b)> . " * 100 + "}").depth == 2


def test_load_glued_to_what_precedes_it_is_seen() -> None:
    assert inspect("CLEAR ALL ;LOAD<http://x/d.ttl>").load
    assert inspect("INSERT DATA { <a:x> <a:y> 1 };load <http://x/d.ttl>").load


@pytest.mark.parametrize(
    ("text", "graphs", "named"),
    [
        ("ASKFROM<http://e/g>{}", ("http://e/g",), ()),
        ("PREFIX ex: <http://e/> SELECT*FROMex:g{}", ("http://e/g",), ()),
        ("SELECT * FROMNAMED<http://e/g> {}", (), ("http://e/g",)),
        ("PREFIX ex: <http://e/> SELECT * FROM NAMEDex:g {}", (), ("http://e/g",)),
        ("PREFIXex:<http://e/> SELECT * FROM ex:g {}", ("http://e/g",), ()),
    ],
)
def test_from_glued_to_other_tokens_is_seen(
    text: str, graphs: tuple[str, ...], named: tuple[str, ...]
) -> None:
    shape = inspect(text)
    assert (shape.from_graphs, shape.from_named_graphs) == (graphs, named)


def test_a_store_can_keep_service_refused_whatever_the_setting() -> None:
    """A store whose workers are not isolated passes allow_service=False."""
    text = "SELECT * { SERVICE <http://x/> { } }"
    with pytest.raises(ForbiddenQuery, match="SERVICE"):
        check(text, settings(allow_service=True), GRAPHS, allow_service=False)


def test_too_many_base_declarations_are_refused() -> None:
    with pytest.raises(QuerySyntaxError, match="BASE"):
        inspect("BASE <a> " * 300 + "ASK {}")


def test_long_texts_are_guarded_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    from kg.sparql import guard

    threads: list[int] = []
    original = guard.check

    def recording(*args: Any, **kwargs: Any) -> guard.QueryShape:
        threads.append(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(guard, "check", recording)
    big = "SELECT * { ?s ?p ?o } #" + "a." * guard.OFF_LOOP_CHARS

    async def main() -> tuple[int, guard.QueryShape, guard.QueryShape]:
        loop_thread = threading.get_ident()
        small = await guard.check_off_loop("ASK {}", settings(), GRAPHS)
        large = await guard.check_off_loop(big, settings(max_request_bytes=10**6), GRAPHS)
        return loop_thread, small, large

    loop_thread, small, large = asyncio.run(main())
    assert (small.form, large.form) == ("ASK", "SELECT")
    assert threads[0] == loop_thread
    assert threads[1] != loop_thread
    with pytest.raises(ForbiddenQuery):
        asyncio.run(
            guard.check_off_loop(
                big.replace("?o }", "?o SERVICE <http://x/> {} }"),
                settings(max_request_bytes=10**6),
                GRAPHS,
            )
        )
