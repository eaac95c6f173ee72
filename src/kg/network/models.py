"""The answers of the network analysis, as pydantic models.

They live in the core (pydantic, not FastAPI) so that ``kg network … --json`` and
``/api/network/…`` print the very same shapes, and the OpenAPI schema documents them.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = [
    "BipartiteAnswer",
    "BipartitePair",
    "Centrality",
    "CentralityAnswer",
    "Citation",
    "Component",
    "ComponentsAnswer",
    "Fact",
    "Hop",
    "NodeRef",
    "PathAnswer",
    "PeriodSummary",
    "PeriodsAnswer",
    "SharedPartners",
]


class NodeRef(BaseModel):
    """An entity of the network."""

    id: str = Field(description="The entity's IRI")
    kind: str = Field(description="Its most specific gq: class (local name)")
    label_zh: str = ""
    label_en: str = ""


class Citation(BaseModel):
    """The sentence that states a fact, and the document it is part of."""

    sentence: str
    text: str
    document: str = ""
    document_title: str = ""


class Fact(BaseModel):
    """One edge of the network: a claim or a plain relation, with its evidence."""

    relation: str = Field(description="Pairing, Participation, … or a property (partOf, …)")
    source: str
    target: str
    claim: str = Field("", description="The claim node's IRI (empty for a plain relation)")
    level: str = ""
    start: str = ""
    end: str = ""
    evidence: str = Field("", description="stated or inferred")
    relation_text: str = ""
    citations: list[Citation] = Field(default_factory=list)


class Hop(BaseModel):
    """One step of a path: the two entities and every fact that links them."""

    source: NodeRef
    target: NodeRef
    facts: list[Fact]


class PathAnswer(BaseModel):
    """Shortest paths between two entities (edges read in both directions)."""

    source: NodeRef
    target: NodeRef
    length: int | None = Field(description="Hops on a shortest path; null when unconnected")
    paths: list[list[Hop]]


class Centrality(BaseModel):
    node: NodeRef
    score: float
    degree: int


class CentralityAnswer(BaseModel):
    measure: str
    nodes: int
    edges: int
    ranking: list[Centrality]


class Component(BaseModel):
    size: int
    members: list[NodeRef]


class ComponentsAnswer(BaseModel):
    count: int
    components: list[Component]


class BipartitePair(BaseModel):
    district: NodeRef
    county: NodeRef
    periods: list[str] = Field(description="start/end of each pairing between the two")


class SharedPartners(BaseModel):
    """Two districts that help the same counties (the bipartite projection on districts)."""

    first: NodeRef
    second: NodeRef
    shared: int


class BipartiteAnswer(BaseModel):
    districts: list[NodeRef]
    counties: list[NodeRef]
    pairs: list[BipartitePair]
    projection: list[SharedPartners]


class PeriodSummary(BaseModel):
    period: str
    first_year: int
    last_year: int
    pairings: int
    helpers: int
    recipients: int
    pairs: list[tuple[str, str]] = Field(description="(helper, recipient) IRIs active then")
    added: list[tuple[str, str]] = Field(description="pairs not active in the period before")
    ended: list[tuple[str, str]] = Field(description="pairs of the period before not active now")


class PeriodsAnswer(BaseModel):
    level: str
    periods: list[PeriodSummary]
