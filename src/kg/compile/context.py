"""The compile context: the base IRI, every id defined so far, the sentences, the issues.

Tables are read in two passes. The first pass *declares* every id (so that a row may refer to an
entity defined further down or in another table); the second pass *emits* triples and checks
every reference, citation and value. Problems are collected, never raised one by one, so that a
researcher sees every mistake of a change at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS

from kg.compile.tables import Row, split_multi
from kg.compile.vocab import (
    BUILTIN_CLASSES,
    BUILTIN_INDIVIDUALS,
    GQ,
    LITERAL_PROPERTIES,
    OBJECT_PROPERTIES,
    expand_curie,
)
from kg.errors import DataIssue
from kg.sources import document_iri, sentence_iri

__all__ = ["Citation", "Context", "Provenance"]

_ID = re.compile(r"^([a-z][a-z0-9-]*):([A-Za-z0-9][A-Za-z0-9._-]*)$")
_CITATION = re.compile(r"^([a-z0-9][a-z0-9-]*):L([0-9]+)\.([0-9]+)$")


@dataclass(frozen=True)
class Citation:
    """A cited sentence and the document it belongs to."""

    sentence: URIRef
    document: URIRef


@dataclass(frozen=True)
class Provenance:
    """Where a claim comes from and how sure we are of it."""

    citation: Citation
    grade: URIRef
    rule: str | None

    def add_to(self, graph: Graph, node: URIRef) -> None:
        """gq:statedIn, gq:source, gq:evidence (and gq:inferenceRule) of ``node``."""
        graph.add((node, GQ.statedIn, self.citation.sentence))
        graph.add((node, GQ.source, self.citation.document))
        graph.add((node, GQ.evidence, self.grade))
        if self.grade == GQ.Inferred and self.rule:
            graph.add((node, GQ.inferenceRule, Literal(self.rule, lang="en")))


@dataclass
class Context:
    """State shared by every table reader of one compile run."""

    base_iri: str
    issues: list[DataIssue] = field(default_factory=list)
    #: (document slug, line, position) → sentence text.
    sentences: dict[tuple[str, int, int], str] = field(default_factory=dict)
    #: Source document slugs → IRI.
    documents: dict[str, URIRef] = field(default_factory=dict)
    #: Every declared id (``kind:slug``) → where it was declared.
    declared: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: Chinese labels of declared resources (used to label claims readably).
    labels: dict[URIRef, str] = field(default_factory=dict)
    #: Chinese labels of the ontology's terms (区对县 for gq:DistrictToCounty).
    term_labels: dict[URIRef, str] = field(default_factory=dict)
    #: English labels of declared resources and of the ontology's terms, where they have one.
    labels_en: dict[URIRef, str] = field(default_factory=dict)
    classes: set[URIRef] = field(default_factory=lambda: set(BUILTIN_CLASSES))
    individuals: set[URIRef] = field(default_factory=lambda: set(BUILTIN_INDIVIDUALS))
    object_properties: set[URIRef] = field(default_factory=lambda: set(OBJECT_PROPERTIES))
    literal_properties: set[URIRef] = field(default_factory=lambda: set(LITERAL_PROPERTIES))

    # --- vocabulary ------------------------------------------------------------------------

    def learn_ontology(self, ontology: Graph) -> None:
        """Make every class, property and individual declared in the ontology usable."""
        for cls in ontology.subjects(RDF.type, OWL.Class):
            if isinstance(cls, URIRef):
                self.classes.add(cls)
        for cls in ontology.subjects(RDFS.subClassOf, None):
            if isinstance(cls, URIRef):
                self.classes.add(cls)
        for prop in ontology.subjects(RDF.type, OWL.ObjectProperty):
            if isinstance(prop, URIRef):
                self.object_properties.add(prop)
        for prop in ontology.subjects(RDF.type, OWL.DatatypeProperty):
            if isinstance(prop, URIRef):
                self.literal_properties.add(prop)
        for subject in ontology.subjects(RDF.type, None):
            if isinstance(subject, URIRef) and str(subject).startswith(str(GQ)):
                self.individuals.add(subject)
        for term, label in sorted(ontology.subject_objects(RDFS.label)):
            # Claims are labelled with their terms' names (区对县), not a piece of the IRI.
            if isinstance(term, URIRef) and isinstance(label, Literal) and label.language == "zh":
                self.term_labels.setdefault(term, str(label))
            if isinstance(term, URIRef) and isinstance(label, Literal) and label.language == "en":
                self.labels_en.setdefault(term, str(label))

    # --- issues ----------------------------------------------------------------------------

    def problem(self, row: Row, message: str) -> None:
        """Record a problem of one row."""
        self.issues.append(DataIssue(row.file, row.line, message))

    # --- ids -------------------------------------------------------------------------------

    def iri(self, ref: str) -> URIRef:
        """``org:foo`` → ``{base}id/org/foo`` (no checks)."""
        kind, _, slug = ref.partition(":")
        if kind == "document":
            return document_iri(self.base_iri, slug)
        return URIRef(f"{self.base_iri}id/{kind}/{slug}")

    def declare(self, row: Row, column: str, kinds: tuple[str, ...] | None = None) -> URIRef | None:
        """Declare the id in ``column`` of ``row``; report a bad or duplicate id."""
        ref = row.get(column)
        match = _ID.match(ref)
        if not match or match.group(1) == "gq":
            self.problem(row, f"{column}: {ref!r} is not an id (write kind:slug, e.g. org:foo)")
            return None
        if kinds is not None and match.group(1) not in kinds:
            self.problem(
                row, f"{column}: {ref!r} must start with {' or '.join(k + ':' for k in kinds)}"
            )
            return None
        return self.declare_iri(ref, row)

    def declare_iri(self, ref: str, row: Row) -> URIRef | None:
        """Declare an id made by the compiler itself (e.g. ``division:522731``)."""
        if ref in self.declared:
            file, line = self.declared[ref]
            self.problem(row, f"duplicate id {ref!r} (first defined at {file}:{line})")
            return None
        self.declared[ref] = (row.file, row.line)
        return self.iri(ref)

    def resolve(self, row: Row, column: str, ref: str) -> URIRef | None:
        """The IRI of one reference; reports an unknown or malformed one."""
        if ref.startswith("gq:"):
            term = expand_curie(ref)
            if term is not None and (term in self.individuals or term in self.classes):
                return term
            self.problem(row, f"{column}: unknown ontology term {ref!r}")
            return None
        if not _ID.match(ref):
            self.problem(row, f"{column}: {ref!r} is not an id (write kind:slug)")
            return None
        if ref not in self.declared:
            self.problem(row, f"{column}: unknown id {ref!r} (not defined in any table)")
            return None
        return self.iri(ref)

    def refs(self, row: Row, column: str) -> list[URIRef]:
        """Every reference of a multi-valued cell (may be empty)."""
        found = [self.resolve(row, column, ref) for ref in split_multi(row.get(column))]
        return [iri for iri in found if iri is not None]

    def ref(self, row: Row, column: str) -> URIRef | None:
        """The single reference of a cell, or None when the cell is empty or wrong."""
        values = split_multi(row.get(column))
        if not values:
            return None
        if len(values) > 1:
            self.problem(row, f"{column}: one value expected, found {len(values)}")
            return None
        return self.resolve(row, column, values[0])

    def classes_of(
        self, row: Row, column: str, under: frozenset[URIRef] | None = None
    ) -> list[URIRef]:
        """The classes named in a cell; reports unknown ones (or ones outside ``under``)."""
        found: list[URIRef] = []
        for curie in split_multi(row.get(column)):
            cls = expand_curie(curie)
            if cls is None or cls not in self.classes:
                self.problem(row, f"{column}: unknown class {curie!r}")
            elif under is not None and cls not in under:
                self.problem(row, f"{column}: {curie!r} is not allowed here")
            else:
                found.append(cls)
        if not found and not split_multi(row.get(column)):
            self.problem(row, f"{column}: a class is required")
        return found

    # --- citations and evidence ------------------------------------------------------------

    def register_sentence(self, slug: str, line: int, position: int, text: str) -> URIRef:
        self.sentences[(slug, line, position)] = text
        return sentence_iri(self.base_iri, slug, line, position)

    def citations(self, row: Row, *, single: bool, required: bool = True) -> list[Citation]:
        """Check ``source`` and ``quote`` of a row: each quote must occur in its sentence.

        ``source`` holds ``slug:L<line>.<n>`` citations separated by ``|``, ``quote`` as many
        exact excerpts, in the same order. A claim (``single``) cites exactly one sentence.
        """
        sources = split_multi(row.get("source"))
        quotes = split_multi(row.get("quote"))
        if not sources and not quotes and not required:
            return []
        if not sources:
            self.problem(row, "source: a citation is required (e.g. gq2023:L13.2)")
            return []
        if not quotes:
            self.problem(row, "quote: the exact words of the cited sentence are required")
            return []
        if single and len(sources) != 1:
            self.problem(row, f"source: a claim cites exactly one sentence, found {len(sources)}")
            return []
        if len(quotes) != len(sources):
            self.problem(
                row, f"quote: {len(sources)} citations need {len(sources)} quotes separated by |"
            )
            return []
        found: list[Citation] = []
        for citation, quote in zip(sources, quotes, strict=True):
            match = _CITATION.match(citation)
            if not match:
                self.problem(row, f"source: {citation!r} is not a citation (write gq2023:L13.2)")
                continue
            slug, line, position = match.group(1), int(match.group(2)), int(match.group(3))
            if slug not in self.documents:
                self.problem(row, f"source: unknown document {slug!r} in {citation!r}")
                continue
            text = self.sentences.get((slug, line, position))
            if text is None:
                self.problem(row, f"source: {citation!r} names no sentence of {slug!r}")
                continue
            if quote not in text:
                self.problem(row, f"quote {quote!r} is not in {citation} ({text!r})")
                continue
            found.append(
                Citation(sentence_iri(self.base_iri, slug, line, position), self.documents[slug])
            )
        return found

    def evidence(self, row: Row) -> tuple[URIRef, str | None] | None:
        """The evidence grade and rule of a row; inferred needs a rule."""
        grade = row.get("evidence").lower()
        rule = row.get("rule") or None
        if grade == "stated":
            return GQ.Stated, rule
        if grade == "inferred":
            if rule is None:
                self.problem(row, "rule: an inferred claim needs the rule that infers it")
                return None
            return GQ.Inferred, rule
        self.problem(row, f"evidence: {grade!r} must be stated or inferred")
        return None

    def check_claim(self, row: Row) -> Provenance | None:
        """The provenance of a claim row (one citation, a grade), or None after reporting."""
        cited = self.citations(row, single=True)
        grade = self.evidence(row)
        if not cited or grade is None:
            return None
        return Provenance(cited[0], grade[0], grade[1])

    def claim(self, graph: Graph, node: URIRef, row: Row) -> bool:
        """Check a claim row and add its provenance to ``node``. False after a problem."""
        provenance = self.check_claim(row)
        if provenance is None:
            return False
        provenance.add_to(graph, node)
        return True

    def label_en_of(self, iri: URIRef) -> str | None:
        """The English label of a resource or ontology term, None when it has none."""
        return self.labels_en.get(iri)

    def label_of(self, iri: URIRef) -> str:
        """The Chinese label of a resource, or its id when it has none."""
        label = self.labels.get(iri) or self.term_labels.get(iri)
        return label or str(iri).rsplit("/", 1)[-1]
