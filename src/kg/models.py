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
    "GroupInfo",
    "GroupVia",
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
    """Where a fact is stated: the sentence, its text, its document and the document's URL.

    For a pairing of the reference table, each citation is one row (one
    ``gq:Attestation``): ``evidence`` is kg's grade of that row, ``reference_evidence`` the
    grade the reference table as gathered gives it (they differ where kg regraded the row)."""

    sentence: str | None = Field(
        default=None, examples=["https://w3id.org/gq-kg/id/document/gq2023/s/13-1"]
    )
    text: str | None = Field(default=None, examples=["广州282所学校结对帮扶黔南328所学校"])
    document: str | None = Field(
        default=None, examples=["https://w3id.org/gq-kg/id/document/gq2023"]
    )
    url: str | None = None
    evidence: Evidence = Field(
        default=None, description="kg's grade of this source's statement (a reference row)"
    )
    reference_evidence: Evidence = Field(
        default=None,
        description="the grade the reference table as gathered gives this row",
        examples=["stated"],
    )


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


class GroupInfo(_Model):
    """A group on one side of a pairing (广州282所学校, 黔南州10个县): how many members the
    source counts, the members a source names, and those only inferred."""

    group: Ref
    member_count: int | None = Field(default=None, examples=[10])
    named_members: list[Ref] = Field(
        default_factory=list, description="members a source names (stated)"
    )
    unnamed_count: int | None = Field(
        default=None, description="members counted but named by no source", examples=[10]
    )
    inferred_members: list[Ref] = Field(
        default_factory=list,
        description="members only inferred (a gq:GroupMembership graded inferred), not named",
    )
    note: str = Field(examples=["10 members; none named by a source; 10 inferred"])


class GroupVia(_Model):
    """Why a pairing of a group is listed for a party: the party is a member of the group, and
    the pairing is of the group as a whole. No member-to-member pairing follows from it."""

    group: Ref
    side: Literal["helper", "recipient"]
    member: Ref
    evidence: Evidence = Field(
        default=None, description="the grade of the party's membership of the group"
    )
    rule: str | None = Field(default=None, description="how an inferred membership was inferred")
    citations: list[Citation] = Field(description="where the membership is stated")
    note: str


class PairingView(_Model):
    """One pairing (结对): who helps whom, at which level, since when, and who says so.

    ``evidence`` is kg's grade of the claim; ``reference_evidence`` what the reference table
    as gathered graded it (reference pairings only). ``via`` is set on the rows of
    ``group_pairings`` (a pairing of a group the party is a member of); ``helper_group`` /
    ``recipient_group`` describe a side that is a group."""

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
    reference_evidence: Evidence = Field(
        default=None,
        description="the reference table's grade (the strongest of its rows); kg's is evidence",
        examples=["stated"],
    )
    via: GroupVia | None = None
    helper_group: GroupInfo | None = None
    recipient_group: GroupInfo | None = None


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
    unknown_count: int | None = Field(
        default=None,
        description="partners the source counts besides the known ones, not identified "
        "(none: no partner is known at all)",
        examples=[2],
    )


class PairingsAnswer(_Model):
    """``status`` is "known" when pairings naming the party match; "unknown" (never an empty
    "none") otherwise. ``unknown``: every explicit unknown that matches (a county's other round,
    南沙区's two unnamed partners), also beside known pairings. ``group_pairings``: pairings of a
    group the party is a member of, as a whole (``via``); they leave status and count alone."""

    status: Literal["known", "unknown"]
    filters: dict[str, Ref | str | int]
    count: int
    pairings: list[PairingView]
    unknown: list[UnknownPartner] = Field(default_factory=list)
    group_pairings: list[PairingView] = Field(default_factory=list)


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
