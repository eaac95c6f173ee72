"""Every SHACL shape is proven by examples, and kg.validate reports what the shapes find.

For each node shape ``gq:X_Shape`` in ontology/shapes.ttl, ``tests/shapes/X_Shape.valid.ttl``
must conform (no result at all, not even a warning) and ``X_Shape.invalid.ttl`` must produce
exactly the results its ``# expect: <focus> <shape>...`` lines list, all from that node shape or
its property shapes. Every property shape must be expected by some invalid example. Each example
is validated together with ``tests/shapes/_common.ttl`` (documents, sentences, places).
"""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path

import pytest
import rdflib
from rdflib.namespace import RDF, SH

from kg.errors import DataError, ValidationError
from kg.validate import ValidationReport, load_turtle, validate

ROOT = Path(__file__).resolve().parents[1]
ONTOLOGY = ROOT / "ontology"
EXAMPLES = Path(__file__).resolve().parent / "shapes"
COMMON = EXAMPLES / "_common.ttl"
GQ = rdflib.Namespace("https://w3id.org/gq-kg/ontology#")
BASE = "https://w3id.org/gq-kg/"


@cache
def _shapes() -> rdflib.Graph:
    return load_turtle(ONTOLOGY / "shapes.ttl")


def _named(kind: rdflib.URIRef) -> list[rdflib.URIRef]:
    graph = _shapes()
    return sorted(s for s in graph.subjects(RDF.type, kind) if isinstance(s, rdflib.URIRef))


def _local(iri: rdflib.URIRef) -> str:
    return str(iri).removeprefix(str(GQ))


NODE_SHAPES = [_local(s) for s in _named(SH.NodeShape)]


def _example(name: str, kind: str) -> rdflib.Graph:
    graph = rdflib.Graph()
    graph.parse(COMMON, format="turtle")
    graph.parse(EXAMPLES / f"{name}.{kind}.ttl", format="turtle")
    return graph


def _expected(name: str) -> set[tuple[str, str]]:
    """(focus IRI, shape IRI) pairs from the ``# expect:`` lines of an invalid example."""
    path = EXAMPLES / f"{name}.invalid.ttl"
    own = rdflib.Graph().parse(path, format="turtle")
    pairs: set[tuple[str, str]] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# expect:"):
            focus, *shapes = line.removeprefix("# expect:").split()
            assert shapes, f"{path.name}: '# expect:' line without shapes: {line}"
            for shape in shapes:
                pairs.add(
                    (
                        str(own.namespace_manager.expand_curie(focus)),
                        str(own.namespace_manager.expand_curie(shape)),
                    )
                )
    return pairs


def _family(node_shape: rdflib.URIRef) -> set[str]:
    """The node shape and its property shapes."""
    graph = _shapes()
    return {str(node_shape)} | {str(p) for p in graph.objects(node_shape, SH.property)}


def _severity(shape: str) -> str:
    value = _shapes().value(rdflib.URIRef(shape), SH.severity)
    return str(value or SH.Violation).removeprefix(str(SH))


def _report(name: str, kind: str) -> ValidationReport:
    return validate(_example(name, kind), ONTOLOGY, base_iri=BASE)


# --- the examples cover the shapes ------------------------------------------------------------


def test_shapes_are_found() -> None:
    assert len(NODE_SHAPES) >= 15
    assert "Pairing_Shape" in NODE_SHAPES


def test_every_node_shape_has_a_valid_and_an_invalid_example() -> None:
    missing = [
        f"{name}.{kind}.ttl"
        for name in NODE_SHAPES
        for kind in ("valid", "invalid")
        if not (EXAMPLES / f"{name}.{kind}.ttl").is_file()
    ]
    assert not missing, f"shapes without examples in tests/shapes/: {missing}"


def test_every_example_belongs_to_a_shape() -> None:
    orphans = [
        p.name
        for p in EXAMPLES.glob("*.ttl")
        if p != COMMON and p.name.split(".")[0] not in NODE_SHAPES
    ]
    assert not orphans, f"examples of shapes that do not exist: {orphans}"


def test_every_named_property_shape_is_attached_and_typed() -> None:
    graph = _shapes()
    attached = {o for o in graph.objects(None, SH.property) if isinstance(o, rdflib.URIRef)}
    typed = set(_named(SH.PropertyShape))
    assert attached == typed, (
        f"untyped: {sorted(attached - typed)}; typed but unattached: {sorted(typed - attached)}"
    )
    gq_subjects = {s for s in graph.subjects() if isinstance(s, rdflib.URIRef)}
    assert gq_subjects <= typed | set(_named(SH.NodeShape))


def test_every_property_shape_is_broken_by_some_invalid_example() -> None:
    expected = {shape for name in NODE_SHAPES for _, shape in _expected(name)}
    unproven = sorted(_local(s) for s in _named(SH.PropertyShape) if str(s) not in expected)
    assert not unproven, f"property shapes no invalid example breaks: {unproven}"


def test_common_examples_conform() -> None:
    graph = rdflib.Graph().parse(COMMON, format="turtle")
    report = validate(graph, ONTOLOGY)
    assert report.violations == [], report.text()


# --- each example does what it says ----------------------------------------------------------


@pytest.mark.parametrize("name", NODE_SHAPES)
def test_valid_example_conforms(name: str) -> None:
    report = _report(name, "valid")
    assert report.conforms, report.text()
    assert report.violations == [], report.text()


@pytest.mark.parametrize("name", NODE_SHAPES)
def test_invalid_example_fails_on_its_own_shape(name: str) -> None:
    report = _report(name, "invalid")
    expected = _expected(name)
    assert expected, f"{name}.invalid.ttl has no '# expect:' lines"
    family = _family(GQ[name])
    assert {shape for _, shape in expected} <= family, "expected shapes outside this shape"

    got = {(v.focus_node, v.source_shape) for v in report.violations}
    assert got == expected, report.text()
    for v in report.violations:
        assert v.severity == _severity(v.source_shape), v
        declared = _shapes().value(rdflib.URIRef(v.source_shape), SH.message)
        # SHACL-SPARQL messages are templates filled per result; the others are fixed.
        assert v.message == str(declared) if declared is not None else v.message
    must = any(_severity(shape) == "Violation" for _, shape in expected)
    assert report.conforms is (not must)


# --- kg.validate ------------------------------------------------------------------------------


def test_dataset_graphs_are_validated_together() -> None:
    # The claim cites a sentence that lives in another named graph: valid only as a union.
    common = rdflib.Graph().parse(COMMON, format="turtle")
    claim = rdflib.Graph().parse(EXAMPLES / "Pairing_Shape.valid.ttl", format="turtle")
    dataset = rdflib.Dataset()
    sources = dataset.graph(rdflib.URIRef(f"{BASE}graph/sources"))
    article = dataset.graph(rdflib.URIRef(f"{BASE}graph/article"))
    for triple in common:
        sources.add(triple)
    for triple in claim:
        article.add(triple)
    assert validate(dataset, ONTOLOGY).violations == []

    broken = rdflib.URIRef(f"{BASE}id/example/haizhu-wengan")
    article.remove((broken, GQ.recipient, None))
    report = validate(dataset, ONTOLOGY)
    assert not report.conforms
    assert {(v.focus_node, v.source_shape) for v in report.violations} == {
        (str(broken), str(GQ.Pairing_recipient_gq))
    }


def _unbound(graph: rdflib.Graph) -> rdflib.Graph:
    """The same triples without the example's @prefix bindings."""
    copy = rdflib.Graph()
    for triple in graph:
        copy.add(triple)
    return copy


def test_report_text_is_grouped_compact_and_labelled() -> None:
    text = _report("Group_Shape", "invalid").text()
    assert text.startswith("SHACL validation: does not conform (3 violations, 0 warnings")
    assert "gq:Group_memberCount_gq [Violation] ×1" in text
    # the data's own prefixes are used first
    assert "ex:bad-group 「某群体」 gq:memberCount" in text
    assert '"0"^^xsd:integer' in text
    assert "https://w3id.org/gq-kg/ontology#" not in text


def test_report_text_compacts_data_iris_with_the_base() -> None:
    data = _unbound(_example("Group_Shape", "invalid"))
    text = validate(data, ONTOLOGY, base_iri=BASE).text()
    assert "  - id:example/bad-group 「某群体」 gq:within: A group is gq:within" in text


def test_report_text_shows_full_iris_without_a_base() -> None:
    data = _unbound(_example("Group_Shape", "invalid"))
    text = validate(data, ONTOLOGY).text()
    assert "<https://w3id.org/gq-kg/id/example/bad-group>" in text


def test_report_shows_sequence_paths() -> None:
    report = _report("Claim_Shape", "invalid")
    paths = {v.path for v in report.violations if v.source_shape.endswith("sourceOfSentence_gq")}
    assert paths == {f"{GQ}statedIn / http://purl.org/dc/terms/isPartOf"}
    assert "gq:statedIn/dct:isPartOf" in report.text()


def test_warnings_do_not_fail_validation() -> None:
    report = _report("EventRecommended_Shape", "invalid")
    assert report.conforms
    assert report.count("Warning") == 2
    assert report.count("Violation") == 0
    report.raise_on_violations()  # does not raise


def test_violations_raise_validation_error_with_the_report() -> None:
    report = _report("Pairing_Shape", "invalid")
    with pytest.raises(ValidationError, match="11 violations") as info:
        report.raise_on_violations()
    assert "gq:Pairing_helper_gq" in info.value.report


@pytest.mark.parametrize("filename", ["gq.ttl", "shapes.ttl"])
def test_unparseable_ontology_file_names_file_and_line(tmp_path: Path, filename: str) -> None:
    copy = tmp_path / "ontology"
    shutil.copytree(ONTOLOGY, copy)
    target = copy / filename
    lines = target.read_text(encoding="utf-8").splitlines()
    lines.append("gq:broken gq:twoObjects gq:a gq:b .")
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(DataError) as info:
        validate(rdflib.Graph(), copy)
    (issue,) = info.value.issues
    assert issue.file == str(target)
    assert issue.line == len(lines)
    assert "syntax" in issue.problem.lower()


def test_missing_shapes_file_is_a_data_error(tmp_path: Path) -> None:
    shutil.copy(ONTOLOGY / "gq.ttl", tmp_path / "gq.ttl")
    with pytest.raises(DataError, match=r"shapes\.ttl: file not found"):
        validate(rdflib.Graph(), tmp_path)


def test_vocabulary_check_reports_each_undeclared_term_where_it_is_used() -> None:
    report = _report("Vocabulary_Shape", "invalid")
    assert {(v.path, v.value) for v in report.violations} == {
        (str(RDF.type), f"<{GQ}Pairng>"),
        (str(GQ.helpr), f"<{GQ}helpr>"),
        (str(GQ.level), f"<{GQ}DistrictToCunty>"),
    }
    assert "ex:typos 「错字」 gq:level = gq:DistrictToCunty" in report.text()
