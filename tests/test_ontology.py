"""The ontology parses everywhere, names every normative term, and keeps its invariants.

Each ``ontology/invariants/*.rq`` is a SELECT that must return no rows over gq.ttl (+ shapes.ttl);
each is also run over a deliberately broken copy to prove it can fail.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pyoxigraph as ox
import pytest
import rdflib
from rdflib.namespace import OWL, RDF, RDFS

ROOT = Path(__file__).resolve().parents[1]
GQ_TTL = ROOT / "ontology" / "gq.ttl"
SHAPES_TTL = ROOT / "ontology" / "shapes.ttl"
INVARIANTS = ROOT / "ontology" / "invariants"
GQ = rdflib.Namespace("https://w3id.org/gq-kg/ontology#")
ONTOLOGY_GRAPH = ox.NamedNode("urn:kg:test:ontology")
SHAPES_GRAPH = ox.NamedNode("urn:kg:test:shapes")

PREFIXES = """
@prefix gq: <https://w3id.org/gq-kg/ontology#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix sh: <http://www.w3.org/ns/shacl#> .
"""

# Every term of the normative term list (ONTOLOGY-TERMS.md): renaming one breaks the data.
NORMATIVE_TERMS = [
    "AdministrativeUnit",
    "AgriculturalPark",
    "AssistanceForm",
    "AssistanceWorkshop",
    "AutonomousCounty",
    "AutonomousPrefecture",
    "Brand",
    "CNY",
    "Campaign",
    "CityToPrefecture",
    "Claim",
    "Classroom",
    "College",
    "Community",
    "CooperationModel",
    "Country",
    "County",
    "CountyEnterpriseLink",
    "CountyLevelCity",
    "CountyUnit",
    "Delegation",
    "DelegationVisit",
    "DisplayCentre",
    "DistrictToCounty",
    "DistrictUnit",
    "Document",
    "Enterprise",
    "EnterpriseToVillage",
    "EnterpriseUnit",
    "Event",
    "EvidenceGrade",
    "Facility",
    "GovernmentBody",
    "Group",
    "Hospital",
    "HospitalToHospital",
    "HospitalUnit",
    "IndustrialPark",
    "Inferred",
    "Issuance",
    "ItemUnit",
    "JointMeeting",
    "Launch",
    "Measure",
    "MediaOutlet",
    "Membership",
    "NewsArticle",
    "Organization",
    "OrganizationUnit",
    "Pairing",
    "PairingLevel",
    "Participation",
    "Person",
    "PersonTime",
    "PersonUnit",
    "Photo",
    "Place",
    "PlantingBase",
    "PolicyDocument",
    "Prefecture",
    "Product",
    "Programme",
    "ProgrammeArea",
    "PromotionEvent",
    "Province",
    "ResettlementSite",
    "School",
    "SchoolToSchool",
    "SchoolUnit",
    "Sentence",
    "SessionUnit",
    "SocialOrganization",
    "SocialOrganizationToVillage",
    "Stated",
    "Statistic",
    "StudyVisit",
    "Subdistrict",
    "Town",
    "TownToTownship",
    "TownUnit",
    "Township",
    "TrainingBase",
    "TrainingClass",
    "TrainingProgramme",
    "Unit",
    "UrbanDistrict",
    "VegetableBasketBase",
    "Village",
    "VillageToVillage",
    "VillageUnit",
    "WebPage",
    "WorkTeam",
    "about",
    "agent",
    "area",
    "brand",
    "caption",
    "date",
    "depicts",
    "divisionCode",
    "document",
    "editor",
    "event",
    "evidence",
    "fundedBy",
    "helper",
    "inferenceRule",
    "issuer",
    "ledBy",
    "level",
    "line",
    "locatedIn",
    "measure",
    "memberClass",
    "memberCount",
    "operatedBy",
    "organizer",
    "originalText",
    "partOf",
    "partOfProgramme",
    "participant",
    "party",
    "periodEnd",
    "periodStart",
    "pinyin",
    "place",
    "position",
    "producedBy",
    "producedIn",
    "recipient",
    "relationText",
    "reviewer",
    "roleText",
    "source",
    "sourceFile",
    "statedIn",
    "subject",
    "supervisor",
    "text",
    "unit",
    "value",
    "within",
]

SCHEMA = "https://schema.org/"
# (sub, super) axioms the term list states, as full IRIs or gq: local names.
SUBCLASS_AXIOMS = [
    ("Place", f"{SCHEMA}Place"),
    ("AdministrativeUnit", "Place"),
    ("AdministrativeUnit", f"{SCHEMA}AdministrativeArea"),
    *[
        (c, "AdministrativeUnit")
        for c in [
            "Country",
            "Province",
            "Prefecture",
            "UrbanDistrict",
            "County",
            "CountyLevelCity",
            "Town",
            "Township",
            "Subdistrict",
            "Village",
            "Community",
        ]
    ],
    ("AutonomousPrefecture", "Prefecture"),
    ("AutonomousCounty", "County"),
    ("Facility", "Place"),
    *[
        (c, "Facility")
        for c in [
            "IndustrialPark",
            "AssistanceWorkshop",
            "VegetableBasketBase",
            "PlantingBase",
            "TrainingBase",
            "DisplayCentre",
            "ResettlementSite",
            "Classroom",
        ]
    ],
    ("AgriculturalPark", "IndustrialPark"),
    ("Organization", "http://www.w3.org/ns/org#Organization"),
    ("Organization", f"{SCHEMA}Organization"),
    ("School", f"{SCHEMA}School"),
    ("College", f"{SCHEMA}CollegeOrUniversity"),
    ("Hospital", f"{SCHEMA}Hospital"),
    ("Enterprise", f"{SCHEMA}Corporation"),
    ("SocialOrganization", f"{SCHEMA}NGO"),
    ("GovernmentBody", f"{SCHEMA}GovernmentOrganization"),
    ("MediaOutlet", f"{SCHEMA}NewsMediaOrganization"),
    *[
        (c, "Organization")
        for c in [
            "School",
            "College",
            "Hospital",
            "Enterprise",
            "SocialOrganization",
            "GovernmentBody",
            "WorkTeam",
            "MediaOutlet",
        ]
    ],
    ("Delegation", "WorkTeam"),
    ("Person", "http://xmlns.com/foaf/0.1/Person"),
    ("Person", f"{SCHEMA}Person"),
    ("Programme", f"{SCHEMA}Project"),
    ("Programme", "http://www.w3.org/ns/prov#Plan"),
    ("Campaign", "Programme"),
    ("TrainingProgramme", "Programme"),
    *[
        (c, "http://www.w3.org/2004/02/skos/core#Concept")
        for c in [
            "ProgrammeArea",
            "AssistanceForm",
            "Measure",
            "Unit",
            "EvidenceGrade",
            "PairingLevel",
        ]
    ],
    ("Product", f"{SCHEMA}Product"),
    ("Brand", f"{SCHEMA}Brand"),
    ("Event", f"{SCHEMA}Event"),
    ("Event", "http://www.w3.org/ns/prov#Activity"),
    ("Event", "Claim"),
    *[
        (c, "Event")
        for c in [
            "JointMeeting",
            "DelegationVisit",
            "Launch",
            "TrainingClass",
            "PromotionEvent",
            "StudyVisit",
        ]
    ],
    ("Document", "http://xmlns.com/foaf/0.1/Document"),
    ("Document", f"{SCHEMA}CreativeWork"),
    *[(c, "Document") for c in ["PolicyDocument", "NewsArticle", "WebPage", "Photo"]],
    ("NewsArticle", f"{SCHEMA}NewsArticle"),
    ("WebPage", f"{SCHEMA}WebPage"),
    ("Photo", f"{SCHEMA}Photograph"),
    *[(c, "Claim") for c in ["Pairing", "Statistic", "Membership", "Issuance", "Participation"]],
    ("Statistic", "http://purl.org/linked-data/cube#Observation"),
    ("Membership", "http://www.w3.org/ns/org#Membership"),
]

# For each invariant: Turtle that breaks it, added to ("ontology" | "shapes"), and the gq: term
# the invariant must then report.
BROKEN = {
    "terms-labelled": (
        "ontology",
        'gq:Unlabelled a owl:Class ; rdfs:label "Unlabelled"@en .',
        "Unlabelled",
    ),
    "terms-one-label-per-language": ("ontology", 'gq:Place rdfs:label "场所"@zh .', "Place"),
    "terms-declared": (
        "shapes",
        "gq:Typo_Shape a sh:NodeShape ; sh:targetClass gq:Pairng .",
        "Pairng",
    ),
    "no-hierarchy-cycles": ("ontology", "gq:Place rdfs:subClassOf gq:Facility .", "Facility"),
    "units-labelled": ("ontology", 'gq:BoxUnit a gq:Unit ; rdfs:label "box"@en .', "BoxUnit"),
    "concepts-in-schemes": ("ontology", "gq:Hearsay a gq:EvidenceGrade .", "Hearsay"),
}


@cache
def _rdflib_graph() -> rdflib.Graph:
    return rdflib.Graph().parse(GQ_TTL, format="turtle")


def _invariants() -> list[str]:
    return sorted(p.stem for p in INVARIANTS.glob("*.rq"))


def _store(extra: tuple[str, str, str] | None = None) -> ox.Store:
    store = ox.Store()
    store.load(path=str(GQ_TTL), format=ox.RdfFormat.TURTLE, to_graph=ONTOLOGY_GRAPH)
    store.load(path=str(SHAPES_TTL), format=ox.RdfFormat.TURTLE, to_graph=SHAPES_GRAPH)
    if extra is not None:
        graph = ONTOLOGY_GRAPH if extra[0] == "ontology" else SHAPES_GRAPH
        store.load(PREFIXES + extra[1], format=ox.RdfFormat.TURTLE, to_graph=graph)
    return store


def _header(text: str, key: str) -> str | None:
    match = re.search(rf"^#\+ {key}:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else None


def _run(name: str, store: ox.Store) -> list[dict[str, str]]:
    text = (INVARIANTS / f"{name}.rq").read_text(encoding="utf-8")
    # The union default graph sees gq.ttl and shapes.ttl together, as an endpoint would.
    solutions = store.query(text, use_default_graph_as_union=True)
    assert isinstance(solutions, ox.QuerySolutions)
    variables = [v.value for v in solutions.variables]
    return [{v: str(row[v].value) for v in variables if row[v] is not None} for row in solutions]


# --- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [GQ_TTL, SHAPES_TTL], ids=lambda p: p.name)
def test_parses_in_rdflib_and_pyoxigraph_alike(path: Path) -> None:
    graph = rdflib.Graph().parse(path, format="turtle")
    quads = list(ox.parse(path=str(path), format=ox.RdfFormat.TURTLE))
    assert len(graph) > 100
    assert len(quads) == len(graph)


def test_ontology_header() -> None:
    graph = _rdflib_graph()
    (ontology,) = graph.subjects(RDF.type, OWL.Ontology)
    dct = rdflib.Namespace("http://purl.org/dc/terms/")
    vann = rdflib.Namespace("http://purl.org/vocab/vann/")
    for prop in (dct.title, dct.description, dct.license, OWL.versionInfo):
        assert graph.value(ontology, prop) is not None, prop
    assert str(graph.value(ontology, vann.preferredNamespacePrefix)) == "gq"
    assert str(graph.value(ontology, vann.preferredNamespaceUri)) == str(GQ)


# --- the normative term list ------------------------------------------------------------------


def test_every_normative_term_is_declared() -> None:
    graph = _rdflib_graph()
    missing = [t for t in NORMATIVE_TERMS if (GQ[t], RDF.type, None) not in graph]
    assert not missing, f"terms of the normative list missing from gq.ttl: {missing}"


def test_properties_are_lowercase_and_classes_or_concepts_capitalised() -> None:
    graph = _rdflib_graph()
    kinds = {OWL.ObjectProperty, OWL.DatatypeProperty, OWL.AnnotationProperty, RDF.Property}
    for term in NORMATIVE_TERMS:
        is_property = any(t in kinds for t in graph.objects(GQ[term], RDF.type))
        assert is_property == term[0].islower(), term


@pytest.mark.parametrize(("sub", "sup"), SUBCLASS_AXIOMS)
def test_subclass_axiom_of_the_term_list(sub: str, sup: str) -> None:
    sup_iri = rdflib.URIRef(sup) if ":" in sup else GQ[sup]
    assert (GQ[sub], RDFS.subClassOf, sup_iri) in _rdflib_graph()


def test_helper_and_recipient_are_parties() -> None:
    graph = _rdflib_graph()
    assert (GQ.helper, RDFS.subPropertyOf, GQ.party) in graph
    assert (GQ.recipient, RDFS.subPropertyOf, GQ.party) in graph


# --- invariants -------------------------------------------------------------------------------


def test_invariants_exist_and_each_has_a_broken_case() -> None:
    assert len(_invariants()) >= 4
    assert set(_invariants()) == set(BROKEN), "every invariant needs a case in BROKEN"


@pytest.mark.parametrize("name", _invariants())
def test_invariant_has_a_summary(name: str) -> None:
    text = (INVARIANTS / f"{name}.rq").read_text(encoding="utf-8")
    assert _header(text, "summary"), f"{name}.rq has no '#+ summary:' header"


@pytest.mark.parametrize("name", _invariants())
def test_invariant_holds(name: str) -> None:
    rows = _run(name, _store())
    assert rows == [], f"{name}.rq returned {len(rows)} rows:\n" + "\n".join(map(str, rows))


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_invariant_catches_a_broken_ontology(name: str) -> None:
    where, turtle, term = BROKEN[name]
    rows = _run(name, _store((where, turtle, term)))
    reported = {value for row in rows for value in row.values()}
    assert str(GQ[term]) in reported, f"{name}.rq did not notice: {turtle}\n{rows}"
