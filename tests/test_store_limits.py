"""Answers stay well-formed and bounded in every format: oversized values, XML-unsafe
characters; the error table workers and server share; sparql/ never imports store/."""

from __future__ import annotations

import ast
from pathlib import Path

import pyoxigraph as ox
import pytest

from kg.errors import (
    ERROR_CODES,
    KgError,
    NotAcceptable,
    QueryTimeout,
    ResultTooLarge,
    StoreError,
    XmlUnsafeResult,
    error_from_code,
)
from kg.sparql.negotiation import (
    CSV,
    JSON_LD,
    N_TRIPLES,
    RDF_XML,
    SPARQL_JSON,
    SPARQL_XML,
    TSV,
    TURTLE,
)
from kg.sparql.results import serialize_result

SOLUTION_TYPES = [SPARQL_JSON, SPARQL_XML, CSV, TSV]
SRC = Path(__file__).resolve().parents[1] / "src" / "kg"


def _store(value: str) -> ox.Store:
    store = ox.Store()
    store.add(ox.Quad(ox.NamedNode("http://x/s"), ox.NamedNode("http://x/p"), ox.Literal(value)))
    return store


@pytest.mark.parametrize("media_type", SOLUTION_TYPES)
def test_a_value_over_the_cap_is_a_clear_413_error_in_every_format(media_type: str) -> None:
    store = _store("v" * (17 * 1024 * 1024))  # over the engine parsers' 16 MiB too
    query = "SELECT ?o WHERE { ?s ?p ?o }"
    with pytest.raises(ResultTooLarge, match="max_value_bytes"):
        serialize_result(store.query(query), [media_type], 10, rerun=lambda: store.query(query))


@pytest.mark.parametrize("media_type", SOLUTION_TYPES)
def test_a_value_under_the_cap_is_served_whole_in_every_format(media_type: str) -> None:
    store = _store("w" * (5 * 1024 * 1024))  # past the 4 MiB direct path, under the cap
    query = "SELECT ?o WHERE { ?s ?p ?o }"
    result = serialize_result(
        store.query(query), [media_type], 10, rerun=lambda: store.query(query)
    )
    assert result.rows == 1
    assert result.body.count(b"w") >= 5 * 1024 * 1024


def test_the_value_cap_is_a_setting() -> None:
    store = _store("z" * 5000)
    query = "SELECT ?o WHERE { ?s ?p ?o }"
    with pytest.raises(ResultTooLarge):
        serialize_result(store.query(query), [TSV], 10, max_value_bytes=4096)
    assert serialize_result(store.query(query), [TSV], 10, max_value_bytes=8192).rows == 1


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1f", "\ufffe", "\uffff"])
def test_characters_xml_cannot_carry_are_refused_in_xml_only(char: str) -> None:
    store = _store(f"a{char}b")
    select, construct = "SELECT ?o { ?s ?p ?o }", "CONSTRUCT WHERE { ?s ?p ?o }"
    for query, xml in ((select, SPARQL_XML), (construct, RDF_XML)):
        with pytest.raises(XmlUnsafeResult, match=r"XML 1\.0") as caught:
            serialize_result(store.query(query), [xml], 10)
        assert xml not in caught.value.offered
        assert isinstance(caught.value, NotAcceptable)  # 406, naming what can carry it
    for media_type in (SPARQL_JSON, TSV):
        assert serialize_result(store.query(select), [media_type], 10).rows == 1
    for media_type in (TURTLE, N_TRIPLES, JSON_LD):
        assert serialize_result(store.query(construct), [media_type], 10).rows == 1


def test_tab_newline_and_carriage_return_stay_allowed_in_xml() -> None:
    store = _store("a\tb\nc\rd é 中")
    body = serialize_result(store.query("SELECT ?o { ?s ?p ?o }"), [SPARQL_XML], 10).body
    assert "中".encode() in body


def test_every_error_code_is_unique_and_maps_back_to_its_class() -> None:
    seen: dict[str, type[KgError]] = {}
    pending: list[type[KgError]] = [KgError]
    while pending:
        cls = pending.pop()
        assert seen.setdefault(cls.code, cls) is cls, f"code {cls.code} used twice"
        pending.extend(cls.__subclasses__())
    assert dict(ERROR_CODES) == seen
    assert isinstance(error_from_code("result_too_large", "m"), ResultTooLarge)
    offered = error_from_code("xml_unsafe_result", "m", ("a/b",))
    assert isinstance(offered, XmlUnsafeResult)
    assert offered.offered == ("a/b",)
    assert isinstance(error_from_code("timeout", "m"), QueryTimeout)
    assert type(error_from_code("no such code", "m")) is StoreError


def test_sparql_never_imports_store() -> None:
    """One-way dependency: kg.store uses kg.sparql (guard, results, types), not the reverse."""
    for path in sorted((SRC / "sparql").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            assert not any(n.startswith("kg.store") for n in names), f"{path.name}: {names}"
