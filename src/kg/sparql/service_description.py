"""The W3C SPARQL 1.1 Service Description of the endpoint, with a VoID description of the data.

Statistics come from the named queries ``ontology/queries/void-*.rq`` run through the store
(:func:`collect_statistics`, once per store version by the caller); :func:`describe` turns them
and the endpoint's features into triples; :func:`serialize_description` writes them in one of
:data:`DESCRIPTION_MEDIA_TYPES`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pyoxigraph as ox

from kg.config import ONTOLOGY_NS, Settings
from kg.prefixes import ALL_PREFIXES
from kg.queries import get_query, select
from kg.sparql.negotiation import MEDIA_TYPE_FORMATS, OFFERED
from kg.sparql.types import Store

__all__ = [
    "DESCRIPTION_MEDIA_TYPES",
    "EndpointFeatures",
    "GraphCount",
    "VoidStatistics",
    "collect_statistics",
    "describe",
    "serialize_description",
]

SD: Final = ALL_PREFIXES["sd"]
VOID: Final = ALL_PREFIXES["void"]
DCT: Final = ALL_PREFIXES["dct"]
FORMATS: Final = ALL_PREFIXES["formats"]
RDF_TYPE: Final = ox.NamedNode(ALL_PREFIXES["rdf"] + "type")
XSD_INTEGER: Final = ox.NamedNode(ALL_PREFIXES["xsd"] + "integer")

#: Description formats, the default first.
DESCRIPTION_MEDIA_TYPES: Final[dict[str, ox.RdfFormat]] = {
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
    "application/ld+json": ox.RdfFormat.JSON_LD,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
}

#: W3C format IRIs (http://www.w3.org/ns/formats/) for each media type we answer in.
_FORMAT_IRIS: Final[dict[str, str]] = {
    "json": "SPARQL_Results_JSON",
    "xml": "SPARQL_Results_XML",
    "csv": "SPARQL_Results_CSV",
    "tsv": "SPARQL_Results_TSV",
    "turtle": "Turtle",
    "ntriples": "N-Triples",
    "nquads": "N-Quads",
    "trig": "TriG",
    "jsonld": "JSON-LD",
    "rdfxml": "RDF_XML",
}

#: The prefixes a Turtle or RDF/XML description declares (kg.prefixes' names and IRIs).
DESCRIPTION_PREFIXES: Final = {
    name: ALL_PREFIXES[name] for name in ("sd", "void", "dct", "formats", "gq", "xsd")
}

#: Slug of the primary article's document node ({base}id/document/<slug>).
ARTICLE_SLUG: Final = "gq2023"
DATA_LICENSE: Final = "https://creativecommons.org/licenses/by/4.0/"
TITLE: Final = "kg: knowledge graph of the Guangzhou–Qiannan East–West cooperation (广黔协作)"
DESCRIPTION: Final = (
    "Pairings, statistics, events and administrative divisions of the Guangzhou–Qiannan "
    "East–West cooperation, each claim citing the source sentence that states it."
)


@dataclass(frozen=True)
class GraphCount:
    name: str
    triples: int


@dataclass(frozen=True)
class VoidStatistics:
    """What the void-*.rq queries found (quads of every named graph)."""

    triples: int = 0
    entities: int = 0
    distinct_subjects: int = 0
    distinct_objects: int = 0
    #: (class IRI, distinct instances), sorted.
    classes: tuple[tuple[str, int], ...] = ()
    #: (property IRI, triples), sorted.
    properties: tuple[tuple[str, int], ...] = ()
    graphs: tuple[GraphCount, ...] = ()


@dataclass(frozen=True)
class EndpointFeatures:
    """What the endpoint does, as the description reports it."""

    endpoint: str
    dump_url: str | None
    union_default_graph: bool
    allow_service: bool
    update_enabled: bool
    media_types: tuple[str, ...] = field(
        default_factory=lambda: (*OFFERED["solutions"], *OFFERED["graph"])
    )


async def _select(store: Store, name: str, queries: Path) -> Sequence[Mapping[str, object]]:
    """Run one void query; its rows as {variable: term}."""
    return (await select(store, get_query(name, queries).text)).rows


def _int(row: Mapping[str, object], name: str) -> int:
    term = row.get(name)
    return int(term.value) if isinstance(term, ox.Literal) else 0


def _iri(row: Mapping[str, object], name: str) -> str | None:
    term = row.get(name)
    return term.value if isinstance(term, ox.NamedNode) else None


async def collect_statistics(store: Store, settings: Settings) -> VoidStatistics:
    """Run ``void-*.rq`` through the store. Costly on big data: cache per store version."""
    queries = settings.ontology_dir / "queries"
    totals = await _select(store, "void-totals", queries)
    entities = await _select(store, "void-entities", queries)
    classes = await _select(store, "void-classes", queries)
    properties = await _select(store, "void-properties", queries)
    graphs = await _select(store, "void-graphs", queries)
    top = totals[0] if totals else {}
    return VoidStatistics(
        triples=_int(top, "triples"),
        entities=_int(entities[0], "entities") if entities else 0,
        distinct_subjects=_int(top, "distinctSubjects"),
        distinct_objects=_int(top, "distinctObjects"),
        classes=tuple(sorted((c, _int(r, "entities")) for r in classes if (c := _iri(r, "class")))),
        properties=tuple(
            sorted((p, _int(r, "triples")) for r in properties if (p := _iri(r, "property")))
        ),
        graphs=tuple(
            sorted(
                (GraphCount(g, _int(r, "triples")) for r in graphs if (g := _iri(r, "graph"))),
                key=lambda c: c.name,
            )
        ),
    )


def _sd(local: str) -> ox.NamedNode:
    return ox.NamedNode(SD + local)


def _void(local: str) -> ox.NamedNode:
    return ox.NamedNode(VOID + local)


def _dct(local: str) -> ox.NamedNode:
    return ox.NamedNode(DCT + local)


def _count(value: int) -> ox.Literal:
    return ox.Literal(str(value), datatype=XSD_INTEGER)


def describe(
    features: EndpointFeatures, stats: VoidStatistics | None, settings: Settings
) -> list[ox.Triple]:
    """The service description triples (VoID counts only when ``stats`` is given)."""
    service = ox.BlankNode("service")
    dataset = ox.NamedNode(settings.base_iri + "dataset")
    endpoint = ox.NamedNode(features.endpoint)
    out: list[ox.Triple] = []

    def add(
        s: ox.NamedNode | ox.BlankNode, p: ox.NamedNode, o: ox.NamedNode | ox.BlankNode | ox.Literal
    ) -> None:
        out.append(ox.Triple(s, p, o))

    add(service, RDF_TYPE, _sd("Service"))
    add(service, _sd("endpoint"), endpoint)
    add(service, _sd("supportedLanguage"), _sd("SPARQL11Query"))
    if features.update_enabled:
        add(service, _sd("supportedLanguage"), _sd("SPARQL11Update"))
    for media_type in features.media_types:
        name = MEDIA_TYPE_FORMATS.get(media_type)
        if name in _FORMAT_IRIS:
            add(service, _sd("resultFormat"), ox.NamedNode(FORMATS + _FORMAT_IRIS[name]))
    if features.union_default_graph:
        add(service, _sd("feature"), _sd("UnionDefaultGraph"))
    if features.allow_service:
        add(service, _sd("feature"), _sd("BasicFederatedQuery"))
    add(
        service,
        _sd("defaultEntailmentRegime"),
        ox.NamedNode("http://www.w3.org/ns/entailment/Simple"),
    )
    add(service, _sd("defaultDataset"), dataset)

    add(dataset, RDF_TYPE, _sd("Dataset"))
    add(dataset, RDF_TYPE, _void("Dataset"))
    add(dataset, _dct("title"), ox.Literal(TITLE, language="en"))
    add(dataset, _dct("description"), ox.Literal(DESCRIPTION, language="en"))
    add(dataset, _dct("license"), ox.NamedNode(DATA_LICENSE))
    add(dataset, _dct("source"), ox.NamedNode(f"{settings.base_iri}id/document/{ARTICLE_SLUG}"))
    add(dataset, _void("sparqlEndpoint"), endpoint)
    if features.dump_url:
        add(dataset, _void("dataDump"), ox.NamedNode(features.dump_url))
    add(dataset, _void("uriSpace"), ox.Literal(settings.base_iri + "id/"))
    add(dataset, _void("vocabulary"), ox.NamedNode(ONTOLOGY_NS))

    default_graph = ox.BlankNode("defaultGraph")
    add(dataset, _sd("defaultGraph"), default_graph)
    add(default_graph, RDF_TYPE, _sd("Graph"))
    if stats is None:
        return _grouped(out)

    add(dataset, _void("triples"), _count(stats.triples))
    add(dataset, _void("entities"), _count(stats.entities))
    add(dataset, _void("classes"), _count(len(stats.classes)))
    add(dataset, _void("properties"), _count(len(stats.properties)))
    add(dataset, _void("distinctSubjects"), _count(stats.distinct_subjects))
    add(dataset, _void("distinctObjects"), _count(stats.distinct_objects))
    if features.union_default_graph:
        add(default_graph, _void("triples"), _count(stats.triples))
    for index, (cls, entities) in enumerate(stats.classes):
        part = ox.BlankNode(f"class{index}")
        add(dataset, _void("classPartition"), part)
        add(part, _void("class"), ox.NamedNode(cls))
        add(part, _void("entities"), _count(entities))
    for index, (prop, triples) in enumerate(stats.properties):
        part = ox.BlankNode(f"property{index}")
        add(dataset, _void("propertyPartition"), part)
        add(part, _void("property"), ox.NamedNode(prop))
        add(part, _void("triples"), _count(triples))
    for index, graph in enumerate(stats.graphs):
        named = ox.BlankNode(f"namedGraph{index}")
        inner = ox.BlankNode(f"graph{index}")
        add(dataset, _sd("namedGraph"), named)
        add(named, RDF_TYPE, _sd("NamedGraph"))
        add(named, _sd("name"), ox.NamedNode(graph.name))
        add(named, _sd("graph"), inner)
        add(inner, RDF_TYPE, _sd("Graph"))
        add(inner, _void("triples"), _count(graph.triples))
    return _grouped(out)


def _grouped(triples: list[ox.Triple]) -> list[ox.Triple]:
    """Triples grouped by subject (first-seen order), so Turtle writes each subject once."""
    first: dict[object, int] = {}
    for triple in triples:
        first.setdefault(triple.subject, len(first))
    return sorted(triples, key=lambda t: first[t.subject])


def serialize_description(triples: Iterable[ox.Triple], media_type: str) -> bytes:
    """Serialise the description; ``media_type`` must be one of DESCRIPTION_MEDIA_TYPES."""
    fmt = DESCRIPTION_MEDIA_TYPES[media_type]
    prefixes = DESCRIPTION_PREFIXES if fmt in {ox.RdfFormat.TURTLE, ox.RdfFormat.RDF_XML} else None
    data = ox.serialize(triples, format=fmt, prefixes=prefixes)
    assert data is not None
    return data
