"""Namespaces and the vocabulary the compiler knows before reading the ontology.

The built-in lists are the normative term list of the project; the terms declared in
``ontology/gq.ttl`` are added to them at compile time, so a new ontology term is usable in the
data without touching this module.
"""

from __future__ import annotations

from rdflib import Namespace, URIRef
from rdflib.namespace import ORG, RDFS, SKOS

from kg.config import ONTOLOGY_NS
from kg.prefixes import VOCABULARIES

__all__ = [
    "BUILTIN_CLASSES",
    "BUILTIN_INDIVIDUALS",
    "DOCUMENT_CLASSES",
    "EVENT_CLASSES",
    "GEO",
    "GQ",
    "LITERAL_PROPERTIES",
    "OBJECT_PROPERTIES",
    "PAIRING_LEVELS",
    "PREFIXES",
    "QB",
    "SCHEMA",
    "UNITS",
    "WIKIDATA",
    "expand_curie",
]

GQ = Namespace(ONTOLOGY_NS)
SCHEMA = Namespace(VOCABULARIES["schema"])
QB = Namespace(VOCABULARIES["qb"])
GEO = Namespace(VOCABULARIES["geo"])
WIKIDATA = Namespace("http://www.wikidata.org/entity/")

#: Prefixes accepted in the ``class`` and ``property`` columns (the one table: kg.prefixes).
PREFIXES: dict[str, str] = dict(VOCABULARIES)

#: Event classes (the `class` column of events.csv).
EVENT_CLASS_NAMES = (
    "Event",
    "JointMeeting",
    "DelegationVisit",
    "Launch",
    "TrainingClass",
    "PromotionEvent",
    "StudyVisit",
)
#: Document classes (the `class` column of documents.csv).
DOCUMENT_CLASS_NAMES = ("Document", "PolicyDocument", "NewsArticle", "WebPage")
EVENT_CLASSES: frozenset[URIRef] = frozenset(GQ[n] for n in EVENT_CLASS_NAMES)
DOCUMENT_CLASSES: frozenset[URIRef] = frozenset(GQ[n] for n in DOCUMENT_CLASS_NAMES)

_GQ_CLASSES = [
    "Place",
    "AdministrativeUnit",
    "Country",
    "Province",
    "Prefecture",
    "AutonomousPrefecture",
    "UrbanDistrict",
    "County",
    "AutonomousCounty",
    "CountyLevelCity",
    "Town",
    "Township",
    "Subdistrict",
    "Village",
    "Community",
    "Facility",
    "IndustrialPark",
    "AgriculturalPark",
    "AssistanceWorkshop",
    "VegetableBasketBase",
    "PlantingBase",
    "TrainingBase",
    "DisplayCentre",
    "ResettlementSite",
    "Classroom",
    "Organization",
    "School",
    "College",
    "Hospital",
    "Enterprise",
    "SocialOrganization",
    "GovernmentBody",
    "WorkTeam",
    "Delegation",
    "MediaOutlet",
    "Person",
    "Group",
    "Programme",
    "Campaign",
    "TrainingProgramme",
    "CooperationModel",
    "ProgrammeArea",
    "AssistanceForm",
    "Product",
    "Brand",
    *EVENT_CLASS_NAMES,
    *DOCUMENT_CLASS_NAMES,
    "Photo",
    "Sentence",
    "Claim",
    "Pairing",
    "Statistic",
    "Measure",
    "Unit",
    "Membership",
    "Issuance",
    "Participation",
    "EvidenceGrade",
    "PairingLevel",
]

#: The units of measure (gq:Unit concepts) a statistic may carry.
UNIT_NAMES = (
    "PersonUnit",
    "PersonTime",
    "CNY",
    "ItemUnit",
    "SessionUnit",
    "EnterpriseUnit",
    "SchoolUnit",
    "HospitalUnit",
    "VillageUnit",
    "TownUnit",
    "OrganizationUnit",
    "CountyUnit",
    "DistrictUnit",
)
#: The pairing levels (gq:PairingLevel concepts).
LEVEL_NAMES = (
    "CityToPrefecture",
    "DistrictToCounty",
    "SchoolToSchool",
    "HospitalToHospital",
    "TownToTownship",
    "VillageToVillage",
    "EnterpriseToVillage",
    "SocialOrganizationToVillage",
    "CountyEnterpriseLink",
)
UNITS: frozenset[URIRef] = frozenset(GQ[n] for n in UNIT_NAMES)
PAIRING_LEVELS: frozenset[URIRef] = frozenset(GQ[n] for n in LEVEL_NAMES)

_GQ_INDIVIDUALS = ["Stated", "Inferred", *UNIT_NAMES, *LEVEL_NAMES]

#: Classes usable in the data before the ontology is read.
BUILTIN_CLASSES: frozenset[URIRef] = frozenset(
    [GQ[n] for n in _GQ_CLASSES] + [ORG.Role, SKOS.Concept]
)

#: Controlled individuals of the ontology (units, levels, grades) usable as ``gq:Name`` values.
BUILTIN_INDIVIDUALS: frozenset[URIRef] = frozenset(GQ[n] for n in _GQ_INDIVIDUALS)

#: Properties usable in ``relations.csv`` whose object is another resource.
OBJECT_PROPERTIES: frozenset[URIRef] = frozenset(
    [
        GQ.partOf,
        GQ.locatedIn,
        GQ.operatedBy,
        GQ.fundedBy,
        GQ.partOfProgramme,
        GQ.area,
        GQ.producedBy,
        GQ.producedIn,
        GQ.brand,
        GQ.about,
        # Added by the data (reported to the ontology): see docs/data.md.
        GQ.market,
        GQ.appliedIn,
        GQ.assistanceForm,
        GQ.hasMember,
        GQ.parkLevel,
        SCHEMA.material,
        SKOS.broader,
        SKOS.related,
    ]
)

#: Properties usable in ``relations.csv`` whose object is a literal (the ``value`` column).
LITERAL_PROPERTIES: frozenset[URIRef] = frozenset(
    [GQ.pinyin, SKOS.altLabel, SKOS.note, SKOS.definition, RDFS.comment]
)


def expand_curie(curie: str) -> URIRef | None:
    """``gq:School`` → its IRI; None when the prefix is unknown or the text is no CURIE."""
    prefix, sep, local = curie.partition(":")
    if not sep or not local or prefix not in PREFIXES or not local.replace("_", "").isalnum():
        return None
    return URIRef(PREFIXES[prefix] + local)
