"""Source documents split into sentences with stable positions.

A source file holds one paragraph a line. Each line is split after a sentence end (。！？),
keeping any closing quotes or brackets that follow it with the sentence they close. A line with
no sentence end (a photo caption such as ``… 雷春琳 摄``) is one sentence. Blank lines hold no
sentence but still count, so line numbers always match the file as opened in an editor.

A sentence is addressed as ``{base}id/document/<slug>/s/<line>-<n>``: the line of the file and
the n-th sentence of that line, both from 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from rdflib import RDF, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, XSD

from kg.config import ONTOLOGY_NS

__all__ = [
    "Sentence",
    "document_iri",
    "sentence_iri",
    "sentence_triples",
    "split_line",
    "split_text",
]

GQ = Namespace(ONTOLOGY_NS)

#: Characters that end a sentence.
TERMINATORS = frozenset("。！？")
#: Characters that, right after a sentence end, still belong to the sentence (closing quotes).
CLOSERS = frozenset("”’」』）)】〕\"'")

Triple = tuple[URIRef, URIRef, URIRef | Literal]


@dataclass(frozen=True)
class Sentence:
    """One sentence of a source: its 1-based line, its 1-based index in the line, its text."""

    line: int
    position: int
    text: str


def split_line(line: str) -> list[str]:
    """Split one paragraph into sentences (stripped, never empty)."""
    parts: list[str] = []
    current: list[str] = []
    ended = False
    for char in line:
        if ended and char not in CLOSERS:
            parts.append("".join(current))
            current = []
            ended = False
        current.append(char)
        if char in TERMINATORS:
            ended = True
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def split_text(text: str) -> list[Sentence]:
    """Split a whole source text (one paragraph a line) into positioned sentences."""
    sentences: list[Sentence] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        for position, sentence in enumerate(split_line(line), start=1):
            sentences.append(Sentence(line_no, position, sentence))
    return sentences


def document_iri(base_iri: str, slug: str) -> URIRef:
    """IRI of a source document."""
    return URIRef(f"{base_iri}id/document/{slug}")


def sentence_iri(base_iri: str, slug: str, line: int, position: int) -> URIRef:
    """IRI of sentence ``position`` of line ``line`` of document ``slug``."""
    return URIRef(f"{base_iri}id/document/{slug}/s/{line}-{position}")


def sentence_triples(base_iri: str, slug: str, sentences: Iterable[Sentence]) -> Iterator[Triple]:
    """The triples describing each sentence of one document."""
    doc = document_iri(base_iri, slug)
    for s in sentences:
        node = sentence_iri(base_iri, slug, s.line, s.position)
        yield node, RDF.type, GQ.Sentence
        yield node, GQ.text, Literal(s.text)
        yield node, GQ.line, Literal(s.line, datatype=XSD.integer)
        yield node, GQ.position, Literal(s.position, datatype=XSD.integer)
        yield node, DCTERMS.isPartOf, doc
