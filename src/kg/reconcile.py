"""Entity reconciliation (W3C Reconciliation API 0.2, as OpenRefine 3.x speaks it).

A spreadsheet column of names (Chinese, pinyin, English, codes) is matched against the search
index (:mod:`kg.search`). Each candidate gets the search score (100 for an exact name or code);
``match`` is true only for a single exact candidate, so OpenRefine auto-matches it and leaves
anything doubtful to a person. Identifiers are the base-relative paths (``division/522731``),
so ``identifierSpace`` + id is the entity's IRI. Types are ``gq:`` names (``gq:County``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kg.errors import BadParameter
from kg.search import GQ, OWL_CLASS, Entry, SearchIndex, index_for, lookup
from kg.store.base import Store

__all__ = [
    "MAX_BATCH",
    "Candidate",
    "ReconQuery",
    "TypeRef",
    "entity_id",
    "manifest",
    "parse_batch",
    "reconcile_batch",
    "suggest_entities",
    "suggest_properties",
    "suggest_types",
]

#: Queries in one batch at most (OpenRefine sends 10 by default).
MAX_BATCH: Final = 200
MAX_CANDIDATES: Final = 25
_CODE_PROPERTIES: Final = frozenset(
    {"code", "divisionCode", "gq:divisionCode", GQ + "divisionCode"}
)
#: Properties a query may give to sharpen a match (OpenRefine's "also use relevant details").
PROPERTIES: Final = ({"id": "gq:divisionCode", "name": "GB/T 2260 division code (行政区划代码)"},)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class TypeRef(_Model):
    id: str
    name: str


class Candidate(_Model):
    id: str = Field(examples=["division/522731"])
    name: str = Field(examples=["惠水县 Huishui County"])
    type: list[TypeRef]
    score: float
    match: bool
    description: str = ""


class PropertyValue(_Model):
    pid: str = Field(max_length=300)
    v: str | int | float | list[str | int | float] | dict[str, Any] = ""


class ReconQuery(_Model):
    """One query of a batch: ``{"query": "惠水", "type": "gq:County", "limit": 3}``."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    # No length cap of its own (the request's size is bounded): OpenRefine sends a cell's whole
    # text, and one long cell refused the batch of ten around it. Only the first 200 characters
    # are searched (no name is longer).
    query: str = Field(default="")
    type: str | list[str] | None = Field(default=None)
    # The spec's limit is "the maximum number of candidates to return": a larger one (OpenRefine
    # sends what its user typed) is served as MAX_CANDIDATES, not refused with the whole batch.
    limit: int = Field(default=5, ge=1)
    properties: list[PropertyValue] = Field(default_factory=list, max_length=20)
    type_strict: str | None = None

    @field_validator("limit")
    @classmethod
    def _cap_limit(cls, value: int) -> int:
        return min(value, MAX_CANDIDATES)


def entity_id(iri: str, base: str) -> str:
    """The reconciliation id of a data IRI: its path under ``{base}id/``."""
    return iri.removeprefix(base + "id/")


def _type_id(iri: str) -> str:
    return "gq:" + iri.removeprefix(GQ) if iri.startswith(GQ) else iri


def _display(entry: Entry) -> str:
    names = [n for n in (entry.label_zh, entry.label_en) if n]
    return " ".join(dict.fromkeys(names)) or entry.iri


def _type_name(index: SearchIndex, iri: str) -> str:
    """A class as the manifest names its default types, "County (县)": the ontology's English
    label, its Chinese one in brackets (the local name when a label is missing), the same in
    the manifest, type suggestions and candidates."""
    term = index.terms.get(iri)
    english = (term.label_en if term else None) or iri.removeprefix(GQ)
    chinese = term.label_zh if term else None
    return f"{english} ({chinese})" if chinese and chinese != english else english


def manifest(service_url: str, public_base: str, base: str) -> dict[str, Any]:
    """The service manifest (``GET /reconcile``)."""
    return {
        "versions": ["0.2"],
        "name": "kg — Guangzhou–Qiannan cooperation (广黔协作)",
        "identifierSpace": base + "id/",
        "schemaSpace": GQ,
        "defaultTypes": [
            {"id": "gq:AdministrativeUnit", "name": "Administrative unit (行政区划单位)"},
            {"id": "gq:County", "name": "County (县)"},
            {"id": "gq:UrbanDistrict", "name": "Urban district (市辖区)"},
        ],
        # The entity's page (HTML); its facts as JSON are at /api/entities/{id}.
        "view": {"url": public_base + "id/{{id}}"},
        "preview": {"url": service_url + "/preview?id={{id}}", "width": 400, "height": 140},
        "suggest": {
            "entity": {"service_url": service_url, "service_path": "/suggest/entity"},
            "type": {"service_url": service_url, "service_path": "/suggest/type"},
            "property": {"service_url": service_url, "service_path": "/suggest/property"},
        },
        "batchSize": MAX_BATCH,
    }


def parse_batch(raw: str) -> dict[str, ReconQuery]:
    """The ``queries`` parameter: a JSON object of named queries; BadParameter if malformed."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadParameter(f"parameter 'queries': not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadParameter('parameter \'queries\': a JSON object {"q0": {"query": ...}, ...}')
    if len(data) > MAX_BATCH:
        raise BadParameter(f"parameter 'queries': at most {MAX_BATCH} queries in one batch")
    batch: dict[str, ReconQuery] = {}
    for key, value in data.items():
        given = {"query": value} if isinstance(value, str) else value  # a bare string: a query
        try:
            batch[str(key)[:100]] = ReconQuery.model_validate(given)
        except ValidationError as exc:
            problem = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise BadParameter(f"parameter 'queries': query {key!r}: {problem}") from None
    return batch


def _types_of(query: ReconQuery) -> list[str]:
    from kg.resolve import expand_type  # noqa: PLC0415 - resolve imports search too

    given = query.type if isinstance(query.type, list) else [query.type] if query.type else []
    return [expand_type(t) for t in given[:10] if t]


def _wanted_code(query: ReconQuery) -> str | None:
    for prop in query.properties:
        if prop.pid in _CODE_PROPERTIES and isinstance(prop.v, str | int):
            return str(prop.v).strip()
    return None


async def _candidates(index: SearchIndex, query: ReconQuery, base: str) -> list[Candidate]:
    text = query.query.strip()[:200]
    types = _types_of(query)
    code = _wanted_code(query)
    if not text and code:
        text = code
    if not text:
        return []
    hits = await lookup(index, text, types=types, limit=query.limit)
    scored: list[tuple[float, Entry, bool]] = []
    for hit in hits:
        score = hit.score
        if code is not None:  # a code that disagrees rules the candidate down, one that agrees up
            score = min(100.0, score + 10.0) if hit.entry.code == code else score / 2
        scored.append((score, hit.entry, hit.match == "exact"))
    scored.sort(key=lambda s: -s[0])
    exact = [s for s in scored if s[2] and s[0] >= 100.0]
    out: list[Candidate] = []
    for score, entry, _ in scored:
        kinds = sorted(t for t in entry.types if t.startswith(GQ))
        out.append(
            Candidate(
                id=entity_id(entry.iri, base),
                name=_display(entry),
                type=[TypeRef(id=_type_id(t), name=_type_name(index, t)) for t in kinds],
                score=round(score, 1),
                match=len(exact) == 1 and exact[0][1] is entry,
                description=entry.code or "",
            )
        )
    return out


async def reconcile_batch(
    store: Store, batch: Mapping[str, ReconQuery], base: str
) -> dict[str, dict[str, list[Candidate]]]:
    """``{"q0": {"result": [candidates]}, ...}`` for a batch of queries."""
    index = await index_for(store, base)
    return {key: {"result": await _candidates(index, q, base)} for key, q in batch.items()}


async def suggest_entities(
    store: Store, prefix: str, base: str, limit: int = 10
) -> list[dict[str, str]]:
    """Entities whose names start with (or contain) ``prefix``, for OpenRefine's search box."""
    index = await index_for(store, base)
    hits = await lookup(index, prefix[:200], limit=limit)
    return [
        {
            "id": entity_id(h.entry.iri, base),
            "name": _display(h.entry),
            "description": h.entry.code or "",
        }
        for h in hits
    ]


async def suggest_types(
    store: Store, prefix: str, base: str, limit: int = 10
) -> list[dict[str, str]]:
    """Classes of the ontology whose name or label starts with ``prefix`` (case-insensitive)."""
    index = await index_for(store, base)
    wanted = prefix.strip().lower().removeprefix("gq:")
    found: list[dict[str, str]] = []
    for entry in sorted(index.terms.values(), key=lambda e: e.iri):
        if OWL_CLASS not in entry.types or not entry.iri.startswith(GQ):
            continue
        names = [entry.iri.removeprefix(GQ), entry.label_en or "", entry.label_zh or ""]
        if any(n.lower().startswith(wanted) for n in names if n):
            found.append({"id": _type_id(entry.iri), "name": _type_name(index, entry.iri)})
    return found[:limit]


def suggest_properties(prefix: str) -> list[dict[str, str]]:
    wanted = prefix.strip().lower()
    return [dict(p) for p in PROPERTIES if wanted in p["id"].lower() or wanted in p["name"].lower()]
