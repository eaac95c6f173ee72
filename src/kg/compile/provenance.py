"""Statement-level provenance: every data triple, reified, with the sentences and grade behind it.

An entity may be described by several rows (its own, relations, groups), each citing other
sentences; a subject-level ``prov:wasDerivedFrom`` cannot say which sentence supports which
fact. So every asserted triple of the article and reference graphs gets one standard RDF
reification node in the provenance graph::

    ?st a rdf:Statement ; rdf:subject ?s ; rdf:predicate ?p ; rdf:object ?o ;
        gq:statedIn ?sentence ; gq:evidence ?grade .

One node per triple (its IRI a hash of the triple, so builds stay byte-identical), one
``gq:statedIn`` per supporting sentence, and the strongest grade of the rows that assert it.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field

from rdflib import Graph, URIRef
from rdflib.namespace import PROV, RDF
from rdflib.term import Node

from kg.compile.context import Context
from kg.compile.tables import Row, split_multi
from kg.compile.vocab import GQ
from kg.sources import sentence_iri

__all__ = ["Support"]

Triple = tuple[Node, Node, Node]
_CITATION = re.compile(r"^([a-z0-9][a-z0-9-]*):L([0-9]+)\.([0-9]+)$")


@dataclass
class Support:
    """Sentences and grades supporting each data triple, gathered while compiling."""

    sentences: dict[Triple, set[URIRef]] = field(default_factory=lambda: defaultdict(set))
    stated: set[Triple] = field(default_factory=set)

    def _add(self, triple: Triple, sentences: set[URIRef], stated: bool) -> None:
        self.sentences[triple] |= sentences
        if stated:
            self.stated.add(triple)

    def add_row(self, ctx: Context, graph: Graph, row: Row) -> None:
        """Every triple of ``graph`` was emitted for ``row``: its citations support them."""
        sentences: set[URIRef] = set()
        for citation in split_multi(row.get("source")):
            match = _CITATION.match(citation)
            if match:
                slug, line, position = match.group(1), int(match.group(2)), int(match.group(3))
                sentences.add(sentence_iri(ctx.base_iri, slug, line, position))
        stated = row.get("evidence").lower() != "inferred"
        for triple in graph:
            self._add(triple, sentences, stated)

    def add_claims(self, graph: Graph) -> None:
        """Triples about a claim (or attestation) are supported by its sentences and grade;
        other subjects by the sentences they are derived from."""
        for triple in graph:
            subject = triple[0]
            sentences = {o for o in graph.objects(subject, GQ.statedIn) if isinstance(o, URIRef)}
            if not sentences:
                sentences = {
                    o for o in graph.objects(subject, PROV.wasDerivedFrom) if isinstance(o, URIRef)
                }
            stated = graph.value(subject, GQ.evidence) != GQ.Inferred
            self._add(triple, sentences, stated)

    def emit(self, graph: Graph, base_iri: str) -> None:
        """One reification node per supported triple into ``graph``."""
        for triple, sentences in self.sentences.items():
            if not sentences:
                continue
            key = " ".join(term.n3() for term in triple)
            digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]
            node = URIRef(f"{base_iri}id/statement/{digest}")
            graph.add((node, RDF.type, RDF.Statement))
            graph.add((node, RDF.subject, triple[0]))
            graph.add((node, RDF.predicate, triple[1]))
            graph.add((node, RDF.object, triple[2]))
            for sentence in sentences:
                graph.add((node, GQ.statedIn, sentence))
            grade = GQ.Stated if triple in self.stated else GQ.Inferred
            graph.add((node, GQ.evidence, grade))
