"""Build-time entailment (graph/inferred) and statement-level provenance (graph/provenance).

One test per rule kind on a small ontology, then the questions issue 7 asked of the real build:
``?x a gq:Event`` finds the 8 events, ``?x a gq:Claim`` every claim, ``?x a gq:County`` the 10
counties of Qiannan including 三都水族自治县; and every data triple has a reification node.
"""

from __future__ import annotations

import pyoxigraph as ox
import pytest
from rdflib import Dataset, Graph, Literal, Namespace, URIRef
from rdflib.namespace import OWL, RDF, RDFS, XSD

from kg.compile import compile_dataset, graph_iri
from kg.compile.entail import Rules, entail
from kg.config import ONTOLOGY_NS, Settings

BASE = "http://kg.example.test/"
GQ = Namespace(ONTOLOGY_NS)
EX = Namespace("http://example.org/")
PREFIXES = (
    f"PREFIX gq: <{ONTOLOGY_NS}>\nPREFIX schema: <https://schema.org/>\nPREFIX rdfs: <{RDFS}>\n"
)


def _rules(*axioms: tuple[URIRef, URIRef, URIRef]) -> Rules:
    ontology = Graph()
    for axiom in axioms:
        ontology.add(axiom)
    return Rules(ontology)


def test_subclass_is_transitive() -> None:
    rules = _rules((EX.A, RDFS.subClassOf, EX.B), (EX.B, RDFS.subClassOf, EX.C))
    assert entail([(EX.x, RDF.type, EX.A)], rules) == {
        (EX.x, RDF.type, EX.B),
        (EX.x, RDF.type, EX.C),
    }


def test_subproperty() -> None:
    rules = _rules((EX.p, RDFS.subPropertyOf, EX.q), (EX.q, RDFS.subPropertyOf, EX.r))
    assert entail([(EX.x, EX.p, EX.y)], rules) == {(EX.x, EX.q, EX.y), (EX.x, EX.r, EX.y)}


def test_domain_and_range_type_subject_and_object_then_superclasses() -> None:
    rules = _rules(
        (EX.p, RDFS.domain, EX.A),
        (EX.p, RDFS.range, EX.B),
        (EX.B, RDFS.subClassOf, EX.C),
        (EX.label, RDFS.range, XSD.string),
    )
    inferred = entail([(EX.x, EX.p, EX.y), (EX.x, EX.label, Literal("x"))], rules)
    assert inferred == {(EX.x, RDF.type, EX.A), (EX.y, RDF.type, EX.B), (EX.y, RDF.type, EX.C)}


def test_inverse_both_ways() -> None:
    rules = _rules((EX.partOf, OWL.inverseOf, EX.hasPart))
    assert entail([(EX.a, EX.partOf, EX.b), (EX.c, EX.hasPart, EX.d)], rules) == {
        (EX.b, EX.hasPart, EX.a),
        (EX.d, EX.partOf, EX.c),
    }


def test_equivalent_class_and_property_both_ways() -> None:
    rules = _rules((EX.A, OWL.equivalentClass, EX.B), (EX.p, OWL.equivalentProperty, EX.q))
    inferred = entail([(EX.x, RDF.type, EX.A), (EX.y, RDF.type, EX.B), (EX.x, EX.q, EX.y)], rules)
    assert inferred == {(EX.x, RDF.type, EX.B), (EX.y, RDF.type, EX.A), (EX.x, EX.p, EX.y)}


def test_nothing_asserted_is_repeated_and_no_trivial_types() -> None:
    rules = _rules((EX.A, RDFS.subClassOf, EX.B), (EX.A, RDFS.subClassOf, EX.A))
    inferred = entail([(EX.x, RDF.type, EX.A), (EX.x, RDF.type, EX.B)], rules)
    assert inferred == set()
    assert not any(o == RDFS.Resource for _, _, o in inferred)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return compile_dataset(Settings(base_iri=BASE))


@pytest.fixture(scope="module")
def store(dataset: Dataset) -> ox.Store:
    loaded = ox.Store()
    loaded.load(dataset.serialize(format="nquads", encoding="utf-8"), format=ox.RdfFormat.N_QUADS)
    return loaded


def _count(store: ox.Store, where: str, *, union: bool = True) -> int:
    query = f"{PREFIXES}SELECT (COUNT(DISTINCT ?x) AS ?n) WHERE {{ {where} }}"
    (row,) = list(store.query(query, use_default_graph_as_union=union))  # type: ignore[arg-type]
    return int(row["n"].value)


def test_issue_questions_answer_with_plain_types(store: ox.Store) -> None:
    assert _count(store, "?x a gq:Event") == 8
    assert _count(store, "?x a schema:Event") == 8
    # 81 claims before issue 7, one pairing fewer (merged), ten explicit unknowns more; then
    # 南沙区's two unnamed partners and the membership of 黔南州10个县 (inferred).
    claims = _count(store, "?x a/rdfs:subClassOf* gq:Claim")
    assert claims == _count(store, "?x a gq:Claim") == 92
    counties = _count(store, "?x a gq:County ; gq:partOf/gq:divisionCode '522700'")
    assert counties == 10
    assert _count(store, "?x a gq:County ; gq:divisionCode '522732'") == 1  # 三都水族自治县


def test_inferred_graph_is_separate_and_left_out_by_naming_graphs(store: ox.Store) -> None:
    inferred = f"<{graph_iri(BASE, 'inferred')}>"
    reference = f"<{graph_iri(BASE, 'reference')}>"
    # 三都水族自治县 is asserted a gq:AutonomousCounty only; its gq:County type is inferred.
    assert _count(store, f"GRAPH {inferred} {{ ?x a gq:County }}", union=False) == 1
    # Named without the inferred graph, only the asserted most specific class is there.
    assert _count(store, f"GRAPH {reference} {{ ?x a gq:County }}", union=False) == 9
    assert _count(store, f"GRAPH {reference} {{ ?x a gq:AutonomousCounty }}", union=False) == 1
    assert _count(store, f"GRAPH {inferred} {{ ?x a gq:AutonomousCounty }}", union=False) == 0


def test_inverse_and_subproperty_in_the_build(store: ox.Store) -> None:
    # gq:hasPart is the inverse of gq:partOf; gq:helper is a gq:party.
    assert _count(store, "?x gq:hasPart ?county . ?county gq:divisionCode '522732'") == 1
    assert _count(store, "?x gq:party ?d . ?d gq:divisionCode '440103'") == 1


def test_every_data_triple_has_a_statement_with_sentence_and_grade(dataset: Dataset) -> None:
    provenance = dataset.graph(graph_iri(BASE, "provenance"))
    sentences = dataset.graph(graph_iri(BASE, "sources"))
    covered: dict[tuple[object, ...], URIRef] = {}
    for node in provenance.subjects(RDF.type, RDF.Statement):
        assert isinstance(node, URIRef)
        key = tuple(provenance.value(node, p) for p in (RDF.subject, RDF.predicate, RDF.object))
        covered[key] = node
    for name in ("article", "reference"):
        for triple in dataset.graph(graph_iri(BASE, name)):
            statement = covered.get(tuple(triple))
            assert statement is not None, f"no provenance for {triple} ({name})"
            cited = set(provenance.objects(statement, GQ.statedIn))
            assert cited
            assert all((s, RDF.type, GQ.Sentence) in sentences for s in cited)
            assert provenance.value(statement, GQ.evidence) in (GQ.Stated, GQ.Inferred)


def test_a_relation_is_traced_to_its_own_sentence(store: ox.Store) -> None:
    # 麦布社区 is part of 广顺镇 by L3.1; the entity is mentioned elsewhere too.
    query = f"""{PREFIXES}
    PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
    SELECT ?sentence ?grade WHERE {{
      ?st rdf:subject <{BASE}id/place/maibu-community> ; rdf:predicate gq:partOf ;
          rdf:object <{BASE}id/place/guangshun-town> ; gq:statedIn ?sentence ; gq:evidence ?grade .
    }}"""
    solutions = store.query(query, use_default_graph_as_union=True)
    rows = [(r["sentence"].value, r["grade"].value) for r in solutions]  # type: ignore[union-attr]
    assert rows == [(f"{BASE}id/document/gq2023/s/3-1", str(GQ.Stated))]
