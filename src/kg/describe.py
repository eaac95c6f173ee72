"""What kg knows about one resource, gathered for its page (``/id/...``) and its RDF twins.

Every value comes from a named query under ``ontology/queries/pages/`` run through the store
(so the guard, the deadline, the result cache and the error mapping are those of ``/sparql``):

- ``page-facts``: the statements with the resource as subject, with graph and value labels;
- ``page-claims``: the claims (pairings, statistics, events, ...) naming it, each whole, with
  every sentence it is stated in (a claim may cite several);
- ``page-incoming``: the other statements naming it;
- ``page-statement-sources``: sentences stating its plain relations (``rdf:Statement`` nodes);
- ``page-sentence-statements``: for a sentence, the plain relations it states;
- ``page-group-pairings``: the pairings of the groups it is a member of (of the group as a
  whole, with the membership's grade and sentence);
- ``page-graph``: the same as RDF, for Turtle, JSON-LD and N-Triples.

The ontology's terms (labels, definitions, hierarchy) are read once per store version by
:class:`Vocabulary`: pages name properties and classes by their labels, and a claim's kind is
found by walking its classes up the hierarchy.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import pyoxigraph as ox

from kg.config import ONTOLOGY_NS, Settings
from kg.errors import BadParameter, NotFound, QueryError
from kg.prefixes import PREFIXES as PREFIX_TABLE
from kg.queries import Term, bind, get_query, render_term, select
from kg.sparql.results import check_xml_chars
from kg.store.base import QueryRequest, Store

__all__ = [
    "PREFIXES",
    "RDF_TYPE",
    "Claim",
    "ClaimKind",
    "Description",
    "Fact",
    "GroupPairing",
    "Link",
    "Stated",
    "TermInfo",
    "Value",
    "Vocabulary",
    "VocabularyCache",
    "describe",
    "describe_rdf",
    "iri_for_path",
    "load_vocabulary",
    "serialize_triples",
    "to_jsonld",
]

RDF_TYPE: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
_RDFS_LABEL: Final = "http://www.w3.org/2000/01/rdf-schema#label"
_XSD_STRING: Final = "http://www.w3.org/2001/XMLSchema#string"
_RDF_LANG_STRING: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"

#: Prefixes for Turtle and the JSON-LD ``@context``: the one prefix table (kg.prefixes).
PREFIXES: Final[Mapping[str, str]] = PREFIX_TABLE

ClaimKind = Literal["pairing", "unknown", "statistic", "event", "claim"]
#: Most specific first: an event is a claim, so the order decides.
_KIND_CLASSES: Final[tuple[tuple[ClaimKind, str], ...]] = (
    ("pairing", ONTOLOGY_NS + "Pairing"),
    ("unknown", ONTOLOGY_NS + "NoKnownPartner"),
    ("statistic", ONTOLOGY_NS + "Statistic"),
    ("event", ONTOLOGY_NS + "Event"),
)
#: Properties whose values are citations (shown as the claim's sources, not as facts).
CITATION_PROPERTIES: Final = frozenset(
    {ONTOLOGY_NS + "statedIn", ONTOLOGY_NS + "source", ONTOLOGY_NS + "evidence"}
)
#: RDF formats a resource is served in: media type → pyoxigraph format.
RDF_MEDIA_TYPES: Final[Mapping[str, ox.RdfFormat]] = {
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/ld+json": ox.RdfFormat.JSON_LD,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
}


@dataclass(frozen=True)
class Value:
    """An object of a statement, with what a page shows for it."""

    term: Term
    zh: str | None = None
    en: str | None = None
    #: The text of a sentence (for values that are sentences).
    text: str | None = None

    @property
    def iri(self) -> str | None:
        return self.term.value if isinstance(self.term, ox.NamedNode) else None


@dataclass(frozen=True)
class Fact:
    """One statement about the resource: property, value and the named graph that holds it."""

    property: str
    value: Value
    graph: str | None = None


@dataclass(frozen=True)
class Link:
    """One statement naming the resource as object, from ``subject``."""

    subject: Value
    property: str
    graph: str | None = None


@dataclass(frozen=True)
class Stated:
    """A plain relation a sentence states (an ``rdf:Statement`` citing it)."""

    subject: Value
    property: str
    value: Value
    evidence: str | None = None


@dataclass
class GroupPairing:
    """A pairing of a group the resource is a member of: of the group as a whole, never of
    the resource with a member of the other side."""

    pairing: Value
    group: Value
    #: The group's side of the pairing: "helper" or "recipient".
    side: str
    other: Value
    group_count: str | None = None
    other_count: str | None = None
    #: How many members of the other side a source names (0: none).
    other_named: int = 0
    evidence: str | None = None
    member_evidence: str | None = None
    member_rule: str | None = None
    member_sentences: list[Value] = field(default_factory=list)
    sentences: list[Value] = field(default_factory=list)


@dataclass
class Claim:
    """A claim naming the resource, whole: its facts and its citations."""

    node: Term
    kind: ClaimKind = "claim"
    facts: list[Fact] = field(default_factory=list)

    @property
    def iri(self) -> str | None:
        return self.node.value if isinstance(self.node, ox.NamedNode) else None

    def values(self, prop: str) -> list[Value]:
        return [f.value for f in self.facts if f.property == prop]

    @property
    def sentences(self) -> list[Value]:
        """Every sentence the claim is stated in (one or several)."""
        return self.values(ONTOLOGY_NS + "statedIn")

    @property
    def sources(self) -> list[Value]:
        return self.values(ONTOLOGY_NS + "source")

    @property
    def evidence(self) -> list[Value]:
        return self.values(ONTOLOGY_NS + "evidence")

    @property
    def label(self) -> Value | None:
        for fact in self.facts:
            if fact.property == _RDFS_LABEL:
                return fact.value
        return None

    @property
    def details(self) -> list[Fact]:
        """The facts other than type, label and citations."""
        hidden = CITATION_PROPERTIES | {RDF_TYPE, _RDFS_LABEL}
        return [f for f in self.facts if f.property not in hidden]


@dataclass(frozen=True)
class TermInfo:
    """One ontology term: kinds (rdf:type), labels, definitions, parents."""

    iri: str
    types: tuple[str, ...] = ()
    zh: str | None = None
    en: str | None = None
    definition_en: str | None = None
    definition_zh: str | None = None
    parents: tuple[str, ...] = ()

    @property
    def local_name(self) -> str:
        return self.iri.removeprefix(ONTOLOGY_NS)


@dataclass(frozen=True)
class Vocabulary:
    """The ontology graph's terms by IRI."""

    terms: Mapping[str, TermInfo]

    def ancestors(self, iri: str) -> set[str]:
        """``iri`` and every class or property above it."""
        seen: set[str] = set()
        todo = [iri]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            info = self.terms.get(current)
            if info is not None:
                todo.extend(info.parents)
        return seen

    def kind(self, types: Sequence[str]) -> ClaimKind:
        """The most specific claim kind of a node with these classes."""
        above: set[str] = set()
        for t in types:
            above |= self.ancestors(t)
        for kind, cls in _KIND_CLASSES:
            if cls in above:
                return kind
        return "claim"

    def label(self, iri: str) -> TermInfo | None:
        return self.terms.get(iri)


@dataclass
class Description:
    """Everything a page shows about one resource."""

    iri: str
    facts: list[Fact]
    claims: list[Claim]
    incoming: list[Link]
    #: (property, value IRI or lexical form) → sentences stating that plain relation.
    statement_sources: dict[tuple[str, str], list[Value]]
    #: For a sentence: the plain relations it states.
    stated_here: list[Stated] = field(default_factory=list)
    #: Pairings of the groups it is a member of.
    group_pairings: list[GroupPairing] = field(default_factory=list)

    @property
    def types(self) -> list[str]:
        return sorted({f.value.term.value for f in self.facts if f.property == RDF_TYPE})

    def labels(self, lang: str) -> list[str]:
        found: list[str] = []
        for f in self.facts:
            term = f.value.term
            if (
                f.property == _RDFS_LABEL
                and isinstance(term, ox.Literal)
                and (term.language or "").split("-")[0] == lang
                and term.value not in found
            ):
                found.append(term.value)
        return found

    def claims_of(self, kind: ClaimKind) -> list[Claim]:
        return [c for c in self.claims if c.kind == kind]


def iri_for_path(settings: Settings, path: str) -> str:
    """The data IRI served at ``/id/<path>``; NotFound if it cannot be one of ours."""
    iri = f"{settings.base_iri}id/{path}"
    try:
        render_term("iri", iri)
    except BadParameter:
        raise NotFound(f"no resource /id/{path}: not a valid identifier") from None
    return iri


def _folder(settings: Settings) -> Path:
    return settings.ontology_dir / "queries"


async def _rows(
    store: Store, settings: Settings, name: str, values: Mapping[str, str]
) -> tuple[Mapping[str, Term], ...]:
    query = get_query(name, _folder(settings))
    graphs = query.default_graphs(settings.base_iri)
    return (await select(store, bind(query, values), default_graphs=graphs)).rows


def _text(row: Mapping[str, Term], name: str) -> str | None:
    term = row.get(name)
    return term.value if term is not None else None


def _value(row: Mapping[str, Term], name: str, prefix: str) -> Value:
    return Value(
        row[name], _text(row, f"{prefix}Zh"), _text(row, f"{prefix}En"), _text(row, f"{prefix}Text")
    )


def _merge(old: Value, new: Value) -> Value:
    return Value(old.term, old.zh or new.zh, old.en or new.en, old.text or new.text)


def _key(term: Term) -> str:
    return str(term)


@dataclass
class _TermRows:
    types: set[str] = field(default_factory=set)
    parents: set[str] = field(default_factory=set)
    texts: dict[str, str] = field(default_factory=dict)


_TERM_TEXTS: Final = ("labelZh", "labelEn", "definitionEn", "definitionZh")


async def load_vocabulary(store: Store, settings: Settings) -> Vocabulary:
    """Every term of the ontology graph (one query)."""
    rows = await _rows(store, settings, "page-terms", {})
    collected: dict[str, _TermRows] = {}
    for row in rows:
        entry = collected.setdefault(row["term"].value, _TermRows())
        entry.types.add(row["type"].value)
        if "parent" in row:
            entry.parents.add(row["parent"].value)
        for var in _TERM_TEXTS:
            if var in row:
                entry.texts.setdefault(var, row[var].value)
    return Vocabulary(
        {
            iri: TermInfo(
                iri,
                tuple(sorted(e.types)),
                e.texts.get("labelZh"),
                e.texts.get("labelEn"),
                e.texts.get("definitionEn"),
                e.texts.get("definitionZh"),
                tuple(sorted(e.parents)),
            )
            for iri, e in collected.items()
        }
    )


async def describe(
    store: Store, settings: Settings, iri: str, vocabulary: Vocabulary
) -> Description:
    """What the graph says about ``iri``; NotFound when it says nothing at all."""
    params = {"entity": iri}
    (
        facts_rows,
        claim_rows,
        incoming_rows,
        source_rows,
        stated_rows,
        group_rows,
    ) = await asyncio.gather(
        _rows(store, settings, "page-facts", params),
        _rows(store, settings, "page-claims", params),
        _rows(store, settings, "page-incoming", params),
        _rows(store, settings, "page-statement-sources", params),
        _rows(store, settings, "page-sentence-statements", params),
        _rows(store, settings, "page-group-pairings", params),
    )
    if not facts_rows and not incoming_rows:
        raise NotFound(f"kg has no statement about <{iri}>")

    facts: dict[tuple[str, str, str | None], Fact] = {}
    for row in facts_rows:
        graph = _text(row, "graph")
        key = (row["property"].value, _key(row["value"]), graph)
        value = _value(row, "value", "value")
        old = facts.get(key)
        facts[key] = Fact(key[0], _merge(old.value, value) if old else value, graph)

    claims: dict[str, Claim] = {}
    claim_values: dict[tuple[str, str, str], Value] = {}
    for row in claim_rows:
        node = row["claim"]
        claim = claims.setdefault(_key(node), Claim(node))
        prop = row["property"].value
        value = _value(row, "value", "value")
        key = (_key(node), prop, _key(row["value"]))
        if key in claim_values:
            claim_values[key] = _merge(claim_values[key], value)
            continue
        claim_values[key] = value
        claim.facts.append(Fact(prop, value))
    for claim in claims.values():
        merged = [
            Fact(f.property, claim_values[(_key(claim.node), f.property, _key(f.value.term))])
            for f in claim.facts
        ]
        claim.facts = merged
        claim.kind = vocabulary.kind([v.term.value for v in claim.values(RDF_TYPE)])

    incoming: dict[tuple[str, str, str | None], Link] = {}
    for row in incoming_rows:
        subject = row["subject"]
        if _key(subject) in claims:
            continue  # shown whole with the claims
        graph = _text(row, "graph")
        key = (_key(subject), row["property"].value, graph)
        value = _value(row, "subject", "subject")
        seen = incoming.get(key)
        incoming[key] = Link(_merge(seen.subject, value) if seen else value, key[1], graph)

    sources: dict[tuple[str, str], list[Value]] = {}
    for row in source_rows:
        sentence = Value(row["sentence"], text=_text(row, "text"))
        sources.setdefault((row["property"].value, row["value"].value), []).append(sentence)

    stated = [
        Stated(
            Value(row["subject"], _text(row, "subjectZh")),
            row["property"].value,
            Value(row["value"], _text(row, "valueZh")),
            _text(row, "evidence"),
        )
        for row in stated_rows
    ]
    return Description(
        iri,
        list(facts.values()),
        sorted(claims.values(), key=lambda c: (c.kind, _key(c.node))),
        list(incoming.values()),
        sources,
        stated,
        _group_pairings(group_rows),
    )


def _group_pairings(rows: Sequence[Mapping[str, Term]]) -> list[GroupPairing]:
    """One entry per (pairing, group); a named membership (stated) is the one shown when the
    resource is also a claimed member."""
    found: dict[tuple[str, str], GroupPairing] = {}
    for row in rows:
        key = (row["pairing"].value, row["group"].value)
        entry = found.get(key)
        if entry is None:
            named = _text(row, "otherNamed")
            entry = found[key] = GroupPairing(
                pairing=_value(row, "pairing", "pairing"),
                group=_value(row, "group", "group"),
                side=_text(row, "side") or "",
                other=_value(row, "other", "other"),
                group_count=_text(row, "groupCount"),
                other_count=_text(row, "otherCount"),
                other_named=int(named) if named and named.isdigit() else 0,
                evidence=_text(row, "evidence"),
            )
        grade = _text(row, "memberEvidence")
        if grade is not None and (entry.member_evidence is None or grade.endswith("Stated")):
            if grade != entry.member_evidence:
                entry.member_sentences = []
            entry.member_evidence = grade
            entry.member_rule = _text(row, "memberRule")
        if grade == entry.member_evidence and "memberSentence" in row:
            sentence = Value(row["memberSentence"], text=_text(row, "memberText"))
            if sentence.term not in [s.term for s in entry.member_sentences]:
                entry.member_sentences.append(sentence)
        if "sentence" in row:
            sentence = Value(row["sentence"], text=_text(row, "sentenceText"))
            if sentence.term not in [s.term for s in entry.sentences]:
                entry.sentences.append(sentence)
    return list(found.values())


async def describe_rdf(store: Store, settings: Settings, iri: str, media_type: str) -> bytes:
    """The resource's description as Turtle, JSON-LD (with ``@context``), N-Triples or
    RDF/XML (refused with XmlUnsafeResult, 406, when a value holds a character XML 1.0 cannot
    carry)."""
    if media_type not in RDF_MEDIA_TYPES:
        raise QueryError(f"no RDF serialisation as {media_type}")
    query = get_query("page-graph", _folder(settings))
    result = await store.query(
        QueryRequest(query=bind(query, {"entity": iri}), accept=("application/n-triples",))
    )
    triples = list(ox.parse(result.body, format=ox.RdfFormat.N_TRIPLES))
    if not triples:
        raise NotFound(f"kg has no statement about <{iri}>")
    return serialize_triples(triples, media_type, settings.base_iri)


def serialize_triples(triples: Sequence[ox.Triple], media_type: str, base_iri: str) -> bytes:
    """``triples`` (sorted, so the same graph is the same bytes) in one of RDF_MEDIA_TYPES:
    Turtle and RDF/XML with the project's prefixes, JSON-LD with them as ``@context``."""
    if media_type not in RDF_MEDIA_TYPES:
        raise QueryError(f"no RDF serialisation as {media_type}")
    triples = sorted(triples, key=lambda t: (str(t.subject), str(t.predicate), str(t.object)))
    if media_type == "application/ld+json":
        return to_jsonld(triples, {**PREFIXES, "id": f"{base_iri}id/"})
    fmt = RDF_MEDIA_TYPES[media_type]
    prefixes = dict(PREFIXES) if fmt in {ox.RdfFormat.TURTLE, ox.RdfFormat.RDF_XML} else None
    body = ox.serialize(triples, format=fmt, prefixes=prefixes)
    assert body is not None
    if fmt == ox.RdfFormat.RDF_XML:
        check_xml_chars(body, media_type, [m for m in RDF_MEDIA_TYPES if m != media_type])
    return body


def _compact(iri: str, prefixes: Mapping[str, str]) -> str:
    best = ""
    for prefix, ns in prefixes.items():
        if iri.startswith(ns) and len(ns) > len(prefixes.get(best, "")) and iri != ns:
            best = prefix
    return f"{best}:{iri[len(prefixes[best]) :]}" if best else iri


def _node_id(term: ox.NamedNode | ox.BlankNode | ox.Triple, prefixes: Mapping[str, str]) -> str:
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    if isinstance(term, ox.NamedNode):
        return _compact(term.value, prefixes)
    raise QueryError("triple terms are not served as JSON-LD")


def to_jsonld(triples: Sequence[ox.Triple], prefixes: Mapping[str, str]) -> bytes:
    """Triples as compact-IRI JSON-LD with a prefix ``@context`` (one node object each)."""
    nodes: dict[str, dict[str, object]] = {}
    for t in triples:
        node = nodes.setdefault(_node_id(t.subject, prefixes), {})
        node["@id"] = _node_id(t.subject, prefixes)
        obj = t.object
        if t.predicate.value == RDF_TYPE and isinstance(obj, ox.NamedNode):
            types = node.setdefault("@type", [])
            assert isinstance(types, list)
            types.append(_compact(obj.value, prefixes))
            continue
        item: dict[str, str]
        if isinstance(obj, ox.Literal):
            item = {"@value": obj.value}
            if obj.language:
                item["@language"] = obj.language
            elif obj.datatype.value not in {_XSD_STRING, _RDF_LANG_STRING}:
                item["@type"] = _compact(obj.datatype.value, prefixes)
        elif isinstance(obj, ox.NamedNode | ox.BlankNode):
            item = {"@id": _node_id(obj, prefixes)}
        else:
            raise QueryError("triple terms are not served as JSON-LD")
        values = node.setdefault(_compact(t.predicate.value, prefixes), [])
        assert isinstance(values, list)
        values.append(item)
    document = {"@context": dict(prefixes), "@graph": list(nodes.values())}
    return json.dumps(document, ensure_ascii=False, indent=1).encode()


class VocabularyCache:
    """The ontology's terms, read once per store version."""

    def __init__(self) -> None:
        self._version: str | None = None
        self._vocabulary: Vocabulary | None = None
        self._lock = asyncio.Lock()

    async def get(self, store: Store, settings: Settings) -> Vocabulary:
        version = (await store.info()).version
        if self._version == version and self._vocabulary is not None:
            return self._vocabulary
        async with self._lock:
            if self._version != version or self._vocabulary is None:
                self._vocabulary = await load_vocabulary(store, settings)
                self._version = version
            return self._vocabulary
