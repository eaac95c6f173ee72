"""Entity tables: ``entities.csv`` (things and their labels), ``relations.csv`` (one binary fact
a row) and ``groups.csv`` (N members of one class within a place)."""

from __future__ import annotations

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import PROV, RDF, RDFS, SKOS, XSD

from kg.compile.context import Context
from kg.compile.tables import Row, TableSpec, split_multi
from kg.compile.vocab import GQ, expand_curie

__all__ = [
    "CITE",
    "ENTITIES_SPEC",
    "GROUPS_SPEC",
    "RELATIONS_SPEC",
    "emit_entity",
    "emit_group",
    "emit_relation",
]

#: The citation columns every fact row carries (``rule`` only for inferred facts).
CITE = ("source", "quote", "evidence")

ENTITIES_SPEC = TableSpec(
    "entities.csv",
    required=("id", "class", "label_zh"),
    optional=("label_en", "pinyin", "alt_labels", "source", "quote", "note"),
)
RELATIONS_SPEC = TableSpec(
    "relations.csv",
    required=("subject", "property", *CITE),
    optional=("object", "value", "lang", "rule", "note"),
)
GROUPS_SPEC = TableSpec(
    "groups.csv",
    required=("id", "label_zh", "member_class", *CITE),
    optional=("label_en", "member_count", "within", "members", "rule", "note"),
)


def add_labels(
    graph: Graph, node: URIRef, row: Row, zh: str = "label_zh", en: str = "label_en"
) -> None:
    """rdfs:label in Chinese (and English when given)."""
    graph.add((node, RDFS.label, Literal(row.get(zh), lang="zh")))
    if row.get(en):
        graph.add((node, RDFS.label, Literal(row.get(en), lang="en")))


def derived_from(
    ctx: Context, graph: Graph, node: URIRef, row: Row, *, required: bool
) -> list[URIRef]:
    """Check the row's citations and link ``node`` to each cited sentence (prov:wasDerivedFrom)."""
    cited = ctx.citations(row, single=False, required=required)
    for citation in cited:
        graph.add((node, PROV.wasDerivedFrom, citation.sentence))
    return [c.document for c in cited]


def emit_entity(ctx: Context, graph: Graph, row: Row, node: URIRef) -> None:
    """An entity: its classes, labels, pinyin, alternative labels and where it is mentioned."""
    for cls in ctx.classes_of(row, "class"):
        graph.add((node, RDF.type, cls))
    add_labels(graph, node, row)
    if row.get("pinyin"):
        graph.add((node, GQ.pinyin, Literal(row.get("pinyin"))))
    for alt in split_multi(row.get("alt_labels")):
        graph.add((node, SKOS.altLabel, Literal(alt, lang="zh")))
    derived_from(ctx, graph, node, row, required=False)


def emit_relation(ctx: Context, graph: Graph, row: Row, _node: URIRef | None) -> None:
    """One binary fact: subject, property, and an entity (object) or a literal (value)."""
    subject = ctx.ref(row, "subject")
    prop = expand_curie(row.get("property"))
    has_object, has_value = bool(row.get("object")), bool(row.get("value"))
    if prop is None or (prop not in ctx.object_properties and prop not in ctx.literal_properties):
        ctx.problem(row, f"property: unknown property {row.get('property')!r}")
        return
    if has_object == has_value:
        ctx.problem(row, "give either object (an id) or value (a text), not both or neither")
        return
    obj: URIRef | Literal | None
    if has_object:
        if prop not in ctx.object_properties:
            ctx.problem(row, f"object: {row.get('property')} takes a value, not an id")
            return
        obj = ctx.ref(row, "object")
    else:
        if prop not in ctx.literal_properties:
            ctx.problem(row, f"value: {row.get('property')} takes an id (object), not a value")
            return
        obj = Literal(row.get("value"), lang=row.get("lang") or None)
    grade = _stated_only(ctx, row)
    cited = ctx.citations(row, single=False)
    if subject is None or obj is None or grade is None or not cited:
        return
    graph.add((subject, prop, obj))
    for citation in cited:
        graph.add((subject, PROV.wasDerivedFrom, citation.sentence))


def emit_group(ctx: Context, graph: Graph, row: Row, node: URIRef) -> None:
    """A collective: member class(es), member count, the place it lies within, named members."""
    graph.add((node, RDF.type, GQ.Group))
    add_labels(graph, node, row)
    for cls in ctx.classes_of(row, "member_class"):
        graph.add((node, GQ.memberClass, cls))
    if row.get("member_count"):
        count = row.get("member_count")
        if count.isdigit():
            graph.add((node, GQ.memberCount, Literal(int(count), datatype=XSD.integer)))
        else:
            ctx.problem(row, f"member_count: {count!r} is not a whole number")
    within = ctx.ref(row, "within")
    if within is not None:
        graph.add((node, GQ.within, within))
    for member in ctx.refs(row, "members"):
        graph.add((node, GQ.hasMember, member))
    _stated_only(ctx, row)
    derived_from(ctx, graph, node, row, required=True)


def _stated_only(ctx: Context, row: Row) -> URIRef | None:
    """The grade of a plain fact, which must be stated.

    A plain triple cannot carry its own evidence grade, so an inferred fact has to be a claim
    (a row of a claim table) for its rule to reach the graph.
    """
    grade = ctx.evidence(row)
    if grade is not None and grade[0] != GQ.Stated:
        ctx.problem(row, "evidence: only stated facts here; write an inferred fact as a claim")
        return None
    return grade[0] if grade else None
