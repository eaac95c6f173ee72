"""The answers of the REST API as typed models (pydantic, no web framework).

The core builds these; the API returns them as JSON (and flattens them for CSV), and FastAPI
derives the OpenAPI response schemas from them. Every fact carries its evidence grade and its
citations: the sentence text, the sentence and document IRIs, and the document's URL.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Citation",
    "EntityAnswer",
    "EntityList",
    "Fact",
    "NamedQueryInfo",
    "NamedQueryList",
    "NamedQueryResult",
    "PairingSummary",
    "PairingSummaryAnswer",
    "PairingView",
    "PairingsAnswer",
    "ParamInfo",
    "Period",
    "Ref",
    "SearchAnswer",
    "SearchHitView",
    "StatisticView",
    "StatisticsAnswer",
    "UnknownPartner",
]

Evidence = Literal["stated", "inferred"] | None


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Ref(_Model):
    """A resource with its labels: ``id`` is the compact form kg prints (``id:division/522731``)."""

    iri: str = Field(examples=["https://w3id.org/gq-kg/id/division/522731"])
    id: str = Field(examples=["id:division/522731"])
    label: str | None = Field(default=None, description="Chinese label", examples=["惠水县"])
    label_en: str | None = Field(default=None, examples=["Huishui County"])
    code: str | None = Field(default=None, description="GB/T 2260 code", examples=["522731"])


class Citation(_Model):
    """Where a fact is stated: the sentence, its text, its document and the document's URL."""

    sentence: str | None = Field(
        default=None, examples=["https://w3id.org/gq-kg/id/document/gq2023/s/13-1"]
    )
    text: str | None = Field(default=None, examples=["广州282所学校结对帮扶黔南328所学校"])
    document: str | None = Field(
        default=None, examples=["https://w3id.org/gq-kg/id/document/gq2023"]
    )
    url: str | None = None


Precision = Literal["year", "month", "day", "unknown"] | None


class Period(_Model):
    """Start and end dates, each with the precision the source gives (a date of year precision
    stands for the whole year: 2021-01-01 "year" is "2021"); "unknown": the source gives no
    such bound. ``text``: the source's own wording."""

    start: str | None = Field(default=None, examples=["2021-01-01"])
    start_precision: Precision = Field(default=None, examples=["year"])
    end: str | None = None
    end_precision: Precision = None
    text: str | None = None


class PairingView(_Model):
    """One pairing (结对): who helps whom, at which level, since when, and who says so."""

    iri: str
    id: str
    level: Ref
    helper: Ref
    recipient: Ref
    period: Period
    relation_text: str | None = Field(default=None, examples=["结对帮扶"])
    evidence: Evidence = Field(default=None, examples=["stated"])
    rule: str | None = Field(default=None, description="how an inferred pairing was inferred")
    citations: list[Citation]


class UnknownPartner(_Model):
    """No source known to kg names a partner of ``party`` (at ``level``): unknown, not none.
    ``period``: the time the record covers (no bound given: any time); ``rule``: how an
    inferred record was read from its source."""

    party: Ref
    level: Ref | None = None
    period: Period | None = None
    evidence: Evidence = None
    rule: str | None = None
    note: str
    citations: list[Citation]


class PairingsAnswer(_Model):
    """``status`` is "known" when pairings match; "unknown" (never an empty "none") otherwise."""

    status: Literal["known", "unknown"]
    filters: dict[str, Ref | str | int]
    count: int
    pairings: list[PairingView]
    unknown: list[UnknownPartner] = Field(default_factory=list)


class PairingSummary(_Model):
    """An aggregate pairing: a group of units on each side, with their counts."""

    iri: str
    id: str
    level: Ref
    helper: Ref
    helper_count: int | None = Field(default=None, examples=[282])
    recipient: Ref
    recipient_count: int | None = Field(default=None, examples=[328])
    relation_text: str | None = None
    evidence: Evidence = None
    citations: list[Citation]


class PairingSummaryAnswer(_Model):
    count: int
    levels: list[PairingSummary]


class Fact(_Model):
    """One statement about the entity. ``direction`` "out": entity property value; "in": value
    property entity. ``value`` is a Ref for a resource, else the literal text."""

    direction: Literal["out", "in"]
    property: Ref
    value: Ref | str
    datatype: str | None = None
    language: str | None = None
    graph: str | None = None
    evidence: Evidence = None
    citations: list[Citation]


class EntityAnswer(_Model):
    entity: Ref
    types: list[Ref]
    alt_labels: list[str]
    facts: list[Fact]


class EntityList(_Model):
    total: int
    offset: int
    limit: int
    entities: list[Ref]


class SearchHitView(_Model):
    entity: Ref
    types: list[str]
    match: Literal["exact", "prefix", "substring"]
    score: float = Field(ge=0, le=100)


class SearchAnswer(_Model):
    query: str
    count: int
    hits: list[SearchHitView]


class StatisticView(_Model):
    """A figure as the source gives it: value and unit, period, original wording."""

    iri: str
    id: str
    measure: Ref | None = None
    subject: Ref | None = None
    value: float | int | str
    unit: Ref | None = None
    #: "stock" (a level as of the period's end: 282 schools) or "flow" (an amount over it).
    kind: Literal["stock", "flow"] | None = None
    period: Period
    original_text: str | None = Field(default=None, examples=["3.45万人"])
    evidence: Evidence = None
    citations: list[Citation]


class StatisticsAnswer(_Model):
    filters: dict[str, Ref | str | int]
    #: Statistics on this page; ``total`` counts every match.
    count: int
    total: int
    offset: int
    limit: int
    statistics: list[StatisticView]


class ParamInfo(_Model):
    name: str
    type: str
    required: bool
    default: str | None = None


class NamedQueryInfo(_Model):
    name: str
    summary: str
    description: str = ""
    tags: list[str]
    params: list[ParamInfo]
    url: str = Field(description="Where to run it: GET /api/queries/{name}?param=value")


class NamedQueryList(_Model):
    count: int
    queries: list[NamedQueryInfo]


class NamedQueryResult(_Model):
    """A named query's answer: its variables and one object per row (IRIs as Refs)."""

    query: str
    params: dict[str, str]
    variables: list[str]
    count: int
    rows: list[dict[str, Ref | str | None]]
    truncated: bool = Field(default=False, description="the row cap cut the answer short")
