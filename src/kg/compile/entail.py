"""Build-time entailment: the RDFS and OWL consequences of gq.ttl over the data, materialised.

Only the rule kinds the ontology uses are applied, to a fixpoint:

- ``rdfs:subClassOf`` (rdfs9) and ``owl:equivalentClass`` (both ways): types of every resource;
- ``rdfs:subPropertyOf`` (rdfs7) and ``owl:equivalentProperty`` (both ways);
- ``rdfs:domain`` (rdfs2) and ``rdfs:range`` (rdfs3, for IRI objects and class ranges only);
- ``owl:inverseOf`` (both ways).

The result is the set of triples entailed and not asserted, computed over the data graphs and
the ontology (for its concepts). Nothing trivial is added: no ``rdfs:Resource`` type, no
reflexive subclass, no closure of the ontology itself (a query uses ``rdfs:subClassOf*`` on the
TBox). The function is pure and its output a set, so the build stays byte-reproducible.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from rdflib import Graph, URIRef
from rdflib.namespace import OWL, RDF, RDFS
from rdflib.term import Node

__all__ = ["Rules", "entail"]

Triple = tuple[Node, Node, Node]

#: Classes a range or domain may name that are about terms, not data (no type is inferred).
_META = frozenset({OWL.Class, RDFS.Class, RDFS.Literal, RDFS.Resource, RDF.Property})


def _closure(edges: dict[URIRef, set[URIRef]]) -> dict[URIRef, set[URIRef]]:
    """Every strict ancestor of every node of a directed graph (cycles are tolerated)."""
    result: dict[URIRef, set[URIRef]] = {}
    for start, parents in edges.items():
        seen: set[URIRef] = set()
        todo = list(parents)
        while todo:
            node = todo.pop()
            if node in seen:
                continue
            seen.add(node)
            todo.extend(edges.get(node, ()))
        seen.discard(start)
        result[start] = seen
    return result


class Rules:
    """The entailment rules read from an ontology graph."""

    def __init__(self, ontology: Graph) -> None:
        sub_class: dict[URIRef, set[URIRef]] = defaultdict(set)
        sub_prop: dict[URIRef, set[URIRef]] = defaultdict(set)
        for pred, edges in ((RDFS.subClassOf, sub_class), (RDFS.subPropertyOf, sub_prop)):
            for s, o in ontology.subject_objects(pred):
                if isinstance(s, URIRef) and isinstance(o, URIRef) and s != o:
                    edges[s].add(o)
        for pred, edges in ((OWL.equivalentClass, sub_class), (OWL.equivalentProperty, sub_prop)):
            for s, o in ontology.subject_objects(pred):
                if isinstance(s, URIRef) and isinstance(o, URIRef) and s != o:
                    edges[s].add(o)
                    edges[o].add(s)
        self.superclasses = _closure(sub_class)
        self.superproperties = _closure(sub_prop)
        self.domain: dict[URIRef, set[URIRef]] = defaultdict(set)
        self.range: dict[URIRef, set[URIRef]] = defaultdict(set)
        for pred, table in ((RDFS.domain, self.domain), (RDFS.range, self.range)):
            for s, o in ontology.subject_objects(pred):
                # A datatype range (xsd:date) says nothing about a resource.
                if isinstance(s, URIRef) and isinstance(o, URIRef) and self._is_class(o):
                    table[s].add(o)
        self.inverse: dict[URIRef, set[URIRef]] = defaultdict(set)
        for s, o in ontology.subject_objects(OWL.inverseOf):
            if isinstance(s, URIRef) and isinstance(o, URIRef):
                self.inverse[s].add(o)
                self.inverse[o].add(s)

    @staticmethod
    def _is_class(term: URIRef) -> bool:
        if term in _META or (str(term).startswith(str(RDF)) and term != RDF.Statement):
            return False
        return not str(term).startswith("http://www.w3.org/2001/XMLSchema#")

    def types_of(self, cls: URIRef) -> set[URIRef]:
        return self.superclasses.get(cls, set())


def entail(asserted: Iterable[Triple], rules: Rules) -> set[Triple]:
    """The triples entailed by ``asserted`` under ``rules`` that ``asserted`` lacks."""
    known: set[Triple] = set(asserted)
    inferred: set[Triple] = set()
    todo = list(known)
    while todo:
        new: list[Triple] = []
        for s, p, o in todo:
            if not isinstance(p, URIRef):
                continue
            if p == RDF.type:
                if isinstance(o, URIRef):
                    new.extend((s, RDF.type, sup) for sup in rules.types_of(o))
                continue
            new.extend((s, sup, o) for sup in rules.superproperties.get(p, ()))
            new.extend((s, RDF.type, cls) for cls in rules.domain.get(p, ()))
            if isinstance(o, URIRef):
                new.extend((o, RDF.type, cls) for cls in rules.range.get(p, ()))
                new.extend((o, inv, s) for inv in rules.inverse.get(p, ()))
        todo = []
        for triple in new:
            if triple not in known:
                known.add(triple)
                inferred.add(triple)
                todo.append(triple)
    return inferred
