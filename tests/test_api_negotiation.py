"""kg.sparql.negotiation: Accept parsing and format choice, without HTTP."""

from __future__ import annotations

import pytest

from kg.errors import BadParameter
from kg.sparql.negotiation import (
    FORMAT_NAMES,
    OFFERED,
    NotAcceptable,
    format_to_accept,
    negotiate,
    parse_accept,
    rank,
)
from kg.store.base import ResultKind

JSON = "application/sparql-results+json"
XML = "application/sparql-results+xml"
CSV = "text/csv"
TSV = "text/tab-separated-values"
TTL = "text/turtle"
NT = "application/n-triples"
JSONLD = "application/ld+json"
RDFXML = "application/rdf+xml"
CHROME = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


def test_parse_accept_reads_q_values_params_and_skips_junk() -> None:
    ranges = parse_accept("text/csv;q=0.5;charset=utf-8, garbage, */*;q=0.1, text/*;q=x")
    assert [(r.essence, r.q) for r in ranges] == [("text/csv", 0.5), ("*/*", 0.1), ("text/*", 1.0)]
    assert parse_accept(None)[0].essence == "*/*"
    assert parse_accept("  ")[0].essence == "*/*"


@pytest.mark.parametrize("accept", ["*", ";;;", "garbage", "text", "*; q=.2", ",,"])
def test_an_accept_with_nothing_well_formed_or_a_bare_star_means_anything(accept: str) -> None:
    """``Accept: *`` (Java's HttpURLConnection lists it) and a header with no well-formed
    element are read as ``*/*``: the default answer, not a 406."""
    assert negotiate(accept, kinds=("solutions",))[0] == JSON
    java = "text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2"
    assert negotiate(java, kinds=("solutions",))[0] == JSON


@pytest.mark.parametrize(
    ("accept", "kind", "best"),
    [
        (None, "solutions", JSON),
        ("*/*", "solutions", JSON),
        ("*/*", "graph", TTL),
        ("*/*", "boolean", JSON),
        (CHROME, "solutions", JSON),
        (CHROME, "graph", TTL),
        ("text/csv", "solutions", CSV),
        ("text/tab-separated-values", "solutions", TSV),
        ("application/sparql-results+xml", "solutions", XML),
        ("application/json", "solutions", JSON),
        ("application/json", "graph", JSONLD),
        ("application/xml", "solutions", XML),
        ("application/xml", "boolean", XML),
        ("application/xml", "graph", RDFXML),
        ("text/plain", "graph", NT),
        ("text/*", "solutions", CSV),
        ("application/*", "graph", NT),
        ("text/csv;q=0.2, application/sparql-results+xml;q=0.9", "solutions", XML),
        ("text/csv, application/sparql-results+xml", "solutions", CSV),
        ("application/sparql-results+xml, text/csv", "solutions", XML),
        ("text/turtle;q=0.1, application/rdf+xml", "graph", RDFXML),
        ("application/x-turtle", "graph", TTL),
        ("application/sparql-results+json, text/turtle;q=0.9", "graph", TTL),
        ("text/csv;q=0, */*", "solutions", JSON),
    ],
)
def test_negotiate_picks_the_best_offered_type(
    accept: str | None, kind: ResultKind, best: str
) -> None:
    chosen = negotiate(accept, kinds=(kind,))
    assert chosen[0] == best
    assert all(m in OFFERED[kind] for m in chosen)


def test_negotiate_without_kind_covers_every_kind_in_preference_order() -> None:
    chosen = negotiate("application/sparql-results+xml, text/turtle;q=0.5")
    assert chosen == (XML, TTL)
    assert negotiate(None)[:2] == (JSON, XML)
    assert TTL in negotiate(None)


@pytest.mark.parametrize(
    ("accept", "kind"),
    [
        ("text/csv", "graph"),
        ("text/csv", "boolean"),
        ("text/turtle", "solutions"),
        ("image/png", "solutions"),
        ("text/html", "graph"),
        ("*/*;q=0", "solutions"),
    ],
)
def test_nothing_acceptable_lists_what_is_offered(accept: str, kind: ResultKind) -> None:
    with pytest.raises(NotAcceptable) as caught:
        negotiate(accept, kinds=(kind,))
    assert caught.value.offered == OFFERED[kind]
    assert OFFERED[kind][0] in caught.value.message


def test_nothing_acceptable_for_any_kind() -> None:
    with pytest.raises(NotAcceptable):
        negotiate("image/png")


@pytest.mark.parametrize(
    ("fmt", "kind", "best"),
    [
        ("json", "solutions", JSON),
        ("JSON", "graph", JSONLD),
        ("xml", "solutions", XML),
        ("xml", "graph", RDFXML),
        ("csv", "solutions", CSV),
        ("tsv", "solutions", TSV),
        ("turtle", "graph", TTL),
        ("ttl", "graph", TTL),
        ("nt", "graph", NT),
        ("ntriples", "graph", NT),
        ("nq", "graph", "application/n-quads"),
        ("nquads", "graph", "application/n-quads"),
        ("trig", "graph", "application/trig"),
        ("jsonld", "graph", JSONLD),
        ("json-ld", "graph", JSONLD),
        ("rdfxml", "graph", RDFXML),
        ("text/csv", "solutions", CSV),
        ("application/sparql-results+json", "boolean", JSON),
        ("application/json", "solutions", JSON),
    ],
)
def test_format_parameter_overrides_accept(fmt: str, kind: ResultKind, best: str) -> None:
    assert negotiate("text/csv", fmt, kinds=(kind,))[0] == best


def test_format_parameter_that_does_not_fit_the_kind_is_not_acceptable() -> None:
    with pytest.raises(NotAcceptable):
        negotiate(None, "csv", kinds=("graph",))


def test_nothing_acceptable_says_what_each_query_form_is_offered_as() -> None:
    # Before the query is parsed its form is unknown: the message lists the formats per form
    # (it read "cannot answer SELECT or ASK or CONSTRUCT/DESCRIBE as 'image/png'", every
    # media type in one list, Turtle among them for a SELECT).
    with pytest.raises(NotAcceptable) as refused:
        negotiate("image/png")
    message = str(refused.value)
    assert message.startswith("no result format offered matches 'image/png'; offered: ")
    assert f"SELECT as {JSON}, {XML}, {CSV}, {TSV}; " in message
    assert f"ASK as {JSON}, {XML}; " in message
    assert f"CONSTRUCT/DESCRIBE as {TTL}, " in message
    assert set(refused.value.offered) == {m for kind in OFFERED.values() for m in kind}
    with pytest.raises(NotAcceptable) as one_form:
        negotiate(TTL, kinds=("solutions",))
    assert (
        str(one_form.value)
        == f"cannot answer SELECT as 'text/turtle'; offered: {JSON}, {XML}, {CSV}, {TSV}"
    )


def test_unknown_format_name_is_a_bad_parameter() -> None:
    with pytest.raises(BadParameter, match="unknown result format 'yaml'"):
        format_to_accept("yaml")


def test_every_format_name_maps_to_offered_media_types() -> None:
    offered = {m for kind in OFFERED.values() for m in kind}
    for name, media_types in FORMAT_NAMES.items():
        assert media_types, name
        assert set(media_types) <= offered, name


def test_rank_keeps_the_clients_order_and_drops_q_zero() -> None:
    offered = ("text/turtle", "application/rdf+xml", "application/ld+json", "text/html")
    assert rank("application/ld+json, text/turtle", offered) == (JSONLD, TTL)
    assert rank(CHROME, offered)[0] == "text/html"
    assert rank("*/*", offered)[0] == TTL
    assert rank("text/html;q=0, */*", offered) == (TTL, RDFXML, JSONLD)
