"""The REST API's answers, computed from named queries (``ontology/queries/api/``).

Each function takes the store and the user's values as typed (names, codes, ``id:`` forms),
resolves them (:mod:`kg.resolve`), runs one or two named queries with the values bound, and
returns a model of :mod:`kg.models`. Labels come from the search index of the same store
version; citations are grouped per claim (:mod:`kg.cite`). Filters a trailing ``VALUES``
cannot express (a year, an evidence grade) are applied here, after the query.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from typing import Final, Literal

import pyoxigraph as ox

from kg.catalogue import bind_typed
from kg.cite import citations, evidence, group_rows, literal, make_ref, period, ref_of
from kg.errors import BadParameter, NotFound
from kg.models import (
    EntityAnswer,
    EntityList,
    Fact,
    GroupInfo,
    GroupVia,
    NamedQueryResult,
    PairingsAnswer,
    PairingSummary,
    PairingSummaryAnswer,
    PairingView,
    Period,
    Ref,
    SearchAnswer,
    SearchHitView,
    StatisticsAnswer,
    StatisticView,
    UnknownPartner,
)
from kg.queries import Term, bind, bind_batches, get_query, select
from kg.resolve import expand_type, resolve
from kg.search import GQ, MAX_LIMIT, OWL_CLASS, SearchIndex, fold, index_for, lookup
from kg.store.base import QueryRequest, Store

__all__ = [
    "EVIDENCE",
    "MAX_PAGE",
    "entity_facts",
    "list_entities",
    "list_pairings",
    "pairing_summary",
    "resolve_level",
    "run_catalogue_query",
    "search_entities",
    "statistics",
]

EVIDENCE: Final = ("stated", "inferred")
MAX_PAGE: Final = 500
_JSON_RESULTS: Final = "application/sparql-results+json"
_YEAR: Final = re.compile(r"^(-?[0-9]{4})")
_RDF_TYPE: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
_UNKNOWN_NOTE: Final = "no source known to kg names a partner"


async def _ref(store: Store, text: str, name: str, index: SearchIndex, base: str) -> Ref:
    try:
        resolved = await resolve(store, text, base=base)
    except BadParameter as exc:
        raise BadParameter(f"parameter {name!r}: {exc.message}") from None
    except NotFound as exc:
        raise NotFound(f"parameter {name!r}: {exc.message}") from None
    return make_ref(resolved.iri, index, base)


def resolve_level(text: str, index: SearchIndex, base: str) -> Ref:
    """A pairing level by IRI, ``gq:`` form, local name or label (``district-county``,
    ``DistrictToCounty``, ``school↔school``, ``区县结对``…); BadParameter listing the known ones."""
    levels = [e for e in index.terms.values() if GQ + "PairingLevel" in e.types]
    wanted = fold(text).replace("to", "")
    for entry in levels:
        local = entry.iri.removeprefix(GQ)
        names = {entry.iri, "gq:" + local, local, entry.label_zh or "", entry.label_en or ""}
        if text in names or wanted in {fold(n).replace("to", "") for n in names if n}:
            return make_ref(entry.iri, index, base)
    known = ", ".join(sorted(e.iri.removeprefix(GQ) for e in levels))
    raise BadParameter(f"parameter 'level': unknown pairing level {text[:80]!r} (known: {known})")


def _year_of(value: str | None) -> int | None:
    match = _YEAR.match(value or "")
    return int(match[1]) if match else None


def _active_in(period: Period, year: int) -> bool:
    """Active in ``year``: started by its end and not ended before it (unknown start: no)."""
    start, end = _year_of(period.start), _year_of(period.end)
    return start is not None and start <= year and (end is None or end >= year)


_KINDS: Final[dict[str, Literal["stock", "flow"]]] = {GQ + "Stock": "stock", GQ + "Flow": "flow"}


def _stated_in_year(period: Period, rows: Sequence[Mapping[str, Term]], year: int) -> bool:
    """A pairing with no period at all holds when its source says it: in the year the source
    was issued (the article's aggregate pairings, of 2023), as the counts of its sentence do."""
    if period.start or period.end:
        return False
    return any(_year_of(literal(row, "issued")) == year for row in rows)


def _covers(period: Period, year: int) -> bool:
    """A record of an unknown covers ``year``: no bound of its period excludes it (a record
    with no period covers any year)."""
    start, end = _year_of(period.start), _year_of(period.end)
    return (start is None or start <= year) and (end is None or end >= year)


def _pairing(rows: Sequence[Mapping[str, Term]], index: SearchIndex, base: str) -> PairingView:
    row = rows[0]
    iri = literal(row, "pairing") or ""
    return PairingView(
        iri=iri,
        id=make_ref(iri, index, base).id,
        level=ref_of(row, "level", index, base) or make_ref(GQ + "PairingLevel", index, base),
        helper=ref_of(row, "helper", index, base) or make_ref(iri, index, base),
        recipient=ref_of(row, "recipient", index, base) or make_ref(iri, index, base),
        period=period(row),
        relation_text=literal(row, "relationText"),
        evidence=evidence(row),
        rule=literal(row, "rule"),
        citations=citations(rows),
        reference_evidence=evidence(row, "referenceEvidence"),
    )


Side = Literal["helper", "recipient"]


def _member_of(refs: Mapping[str, Ref]) -> tuple[Ref, Side | None] | None:
    """Whose group pairings to list: the party, or the one side given alone (then only the
    pairings with the group on that side); none when both sides are given (a pairing of two
    groups says nothing about two of their members)."""
    if "party" in refs:
        return refs["party"], None
    if "helper" in refs and "recipient" not in refs:
        return refs["helper"], "helper"
    if "recipient" in refs and "helper" not in refs:
        return refs["recipient"], "recipient"
    return None


def _weaker(*grades: str | None) -> Literal["stated", "inferred"] | None:
    """The weaker of grades: a party's part in a group's pairing is no stronger than either
    the pairing or its membership of the group."""
    if "inferred" in grades:
        return "inferred"
    return "stated" if "stated" in grades else None


async def _group_pairings(
    store: Store, member: Ref, index: SearchIndex, base: str
) -> tuple[list[PairingView], dict[str, Sequence[Mapping[str, Term]]]]:
    """The pairings of the groups ``member`` belongs to (``via`` set, note to be completed by
    :func:`_with_groups`), and each one's rows."""
    # Two steps: the party's groups (none, for most parties: nothing more is asked), then
    # those groups' pairings; one query with both let the engine join every pairing first.
    groups = await select(store, bind(get_query("api-party-groups"), {"party": member.iri}))
    memberships: dict[str, list[Mapping[str, Term]]] = {}
    for row in groups.rows:
        memberships.setdefault(literal(row, "group") or "", []).append(row)
    pairing_rows: list[Mapping[str, Term]] = []
    for text in bind_batches(get_query("api-group-pairings"), "group", sorted(memberships)):
        pairing_rows.extend((await select(store, text)).rows)
    joined = [
        {**pairing, **membership}
        for pairing in pairing_rows
        for membership in memberships.get(literal(pairing, "group") or "", ())
    ]
    found: list[PairingView] = []
    rows_of: dict[str, Sequence[Mapping[str, Term]]] = {}
    by_key: dict[tuple[str, str], list[Mapping[str, Term]]] = {}
    for row in joined:
        key = (literal(row, "pairing") or "", literal(row, "group") or "")
        by_key.setdefault(key, []).append(row)
    for (_, group_iri), rows in by_key.items():
        # Named and claimed both: the named (stated) membership is the one to cite.
        grades = {evidence(r, "memberEvidence") for r in rows}
        best: Literal["stated", "inferred"] | None = (
            "stated" if "stated" in grades else ("inferred" if "inferred" in grades else None)
        )
        member_rows = [r for r in rows if evidence(r, "memberEvidence") == best] or rows
        side: Side = "helper" if literal(rows[0], "side") == "helper" else "recipient"
        view = _pairing(rows, index, base)
        via = GroupVia(
            group=make_ref(group_iri, index, base),
            side=side,
            member=member,
            evidence=best,
            rule=literal(member_rows[0], "memberRule") if best == "inferred" else None,
            citations=citations(
                {
                    "sentence": r["memberSentence"],
                    **{k: r[v] for k, v in _MEMBER_CITATION.items() if v in r},
                }
                for r in member_rows
                if "memberSentence" in r
            ),
            note="",
        )
        found.append(view.model_copy(update={"via": via}))
        rows_of[f"{view.iri} {group_iri}"] = rows
    return found, rows_of


async def _no_group_pairings() -> tuple[list[PairingView], dict[str, Sequence[Mapping[str, Term]]]]:
    return [], {}


_MEMBER_CITATION: Final = {"text": "memberText", "document": "memberDocument", "url": "memberUrl"}


def _group_note(count: int | None, named: Sequence[Ref], inferred: Sequence[Ref]) -> str:
    parts = [f"{count} members" if count is not None else "members not counted"]
    if named and count is not None and len(named) >= count:
        parts.append("all named by a source")
    elif named:
        unnamed = f", {count - len(named)} not named" if count is not None else ""
        parts.append(f"{len(named)} named by a source{unnamed}")
    else:
        parts.append("none named by a source")
    if inferred:
        parts.append(f"{len(inferred)} inferred, not stated")
    return "; ".join(parts)


def _code_order(ref: Ref) -> tuple[str, str]:
    return (ref.code or "", ref.iri)


async def _group_infos(
    store: Store, iris: Sequence[str], index: SearchIndex, base: str
) -> dict[str, GroupInfo]:
    """What the graph says of each group: member count, named and inferred members."""
    rows: list[Mapping[str, Term]] = []
    for text in bind_batches(get_query("api-groups"), "group", iris):
        rows.extend((await select(store, text)).rows)
    infos: dict[str, GroupInfo] = {}
    for iri, group in group_rows(rows, "group").items():
        named: dict[str, Ref] = {}
        inferred: dict[str, Ref] = {}
        for row in group:
            member = ref_of(row, "member", index, base)
            if member is None:
                continue
            chosen = named if evidence(row, "memberEvidence") == "stated" else inferred
            chosen[member.iri] = member
        for key in named:
            inferred.pop(key, None)
        count = _count(group[0], "count")
        named_refs = sorted(named.values(), key=_code_order)
        inferred_refs = sorted(inferred.values(), key=_code_order)
        infos[iri] = GroupInfo(
            group=make_ref(iri, index, base),
            member_count=count,
            named_members=named_refs,
            unnamed_count=max(count - len(named_refs), 0) if count is not None else None,
            inferred_members=inferred_refs,
            note=_group_note(count, named_refs, inferred_refs),
        )
    return infos


async def _with_groups(
    store: Store, views: Sequence[PairingView], index: SearchIndex, base: str
) -> list[PairingView]:
    """``views`` with ``helper_group`` / ``recipient_group`` for each side that is a group, and
    the note of each ``via`` naming the other side."""
    groups = sorted(
        {
            ref.iri
            for view in views
            for ref in (view.helper, view.recipient)
            if (entry := index.entry(ref.iri)) is not None and GQ + "Group" in entry.types
        }
    )
    infos = await _group_infos(store, groups, index, base) if groups else {}
    out: list[PairingView] = []
    for view in views:
        update: dict[str, object] = {
            "helper_group": infos.get(view.helper.iri),
            "recipient_group": infos.get(view.recipient.iri),
        }
        if view.via is not None:
            update["via"] = view.via.model_copy(update={"note": _via_note(view, infos)})
        out.append(view.model_copy(update=update))
    return out


def _via_note(view: PairingView, infos: Mapping[str, GroupInfo]) -> str:
    via = view.via
    assert via is not None
    other = view.recipient if via.side == "helper" else view.helper
    own, theirs = infos.get(via.group.iri), infos.get(other.iri)
    member = via.member.label or via.member.id
    group = via.group.label or via.group.id
    how = {"stated": "a named", "inferred": "an inferred"}.get(via.evidence or "", "a")
    size = f" ({own.member_count} members)" if own and own.member_count is not None else ""
    other_text = other.label or other.id
    if theirs is not None:
        other_text += f" ({theirs.note})"
    return (
        f"{member} is {how} member of {group}{size}; this is a pairing of that group as a "
        f"whole with {other_text}: the source does not say which member pairs with which"
    )


async def list_pairings(
    store: Store,
    *,
    base: str,
    party: str | None = None,
    helper: str | None = None,
    recipient: str | None = None,
    level: str | None = None,
    year: int | None = None,
    evidence_grade: str | None = None,
) -> PairingsAnswer:
    """Pairings matching every filter given; "unknown" status (with the citations that record
    the gap, when the graph has them) when none does."""
    index = await index_for(store, base)
    filters: dict[str, Ref | str | int] = {}
    refs: dict[str, Ref] = {}
    for name, text in (("party", party), ("helper", helper), ("recipient", recipient)):
        if text is not None:
            refs[name] = filters[name] = await _ref(store, text, name, index, base)
    level_ref = resolve_level(level, index, base) if level is not None else None
    if level_ref is not None:
        filters["level"] = level_ref
    if year is not None:
        if not 1900 <= year <= 2100:
            raise BadParameter("parameter 'year': a year between 1900 and 2100")
        filters["year"] = year
    if evidence_grade is not None:
        if evidence_grade not in EVIDENCE:
            raise BadParameter(f"parameter 'evidence': one of {', '.join(EVIDENCE)}")
        filters["evidence"] = evidence_grade
    values = {k: r.iri for k, r in refs.items() if k != "party"}
    if level_ref is not None:
        values["level"] = level_ref.iri
    if "party" in refs:
        text = bind(get_query("api-party-pairings"), {"party": refs["party"].iri})
    else:
        text = bind(get_query("api-pairings"), values)
    member = _member_of(refs)
    unknown_party = refs.get("party") or refs.get("recipient") or refs.get("helper")
    # The party's own pairings, those of its groups and its explicit unknowns: three lookups
    # of one party each, run together.
    answer, (found, rows_of), unknown_rows = await asyncio.gather(
        select(store, text),
        # A store without groups (the search index knows every entity's classes) has no
        # pairing of a group: nothing to ask.
        _group_pairings(store, member[0], index, base)
        if member and index.has_type(GQ + "Group")
        else _no_group_pairings(),
        _unknown_rows(store, unknown_party),
    )
    grouped = group_rows(answer.rows, "pairing")
    pairings = [_pairing(rows, index, base) for rows in grouped.values()]
    if "party" in refs:  # the other filters, on the party's pairings
        pairings = [
            p
            for p in pairings
            if all(getattr(p, k).iri == v for k, v in values.items() if k != "level")
            and (level_ref is None or p.level.iri == level_ref.iri)
        ]
    if year is not None:
        pairings = [
            p
            for p in pairings
            if _active_in(p.period, year) or _stated_in_year(p.period, grouped[p.iri], year)
        ]
    if evidence_grade is not None:
        pairings = [p for p in pairings if p.evidence == evidence_grade]
    pairings.sort(
        key=lambda p: (p.helper.label or "", p.recipient.label or "", p.period.start or "", p.iri)
    )
    via_groups: list[PairingView] = []
    if member is not None:
        # The other filters, as on the party's own pairings; a side given alone is the
        # member's: its group must be on that side.
        others = {k: v for k, v in values.items() if k != "level"} if "party" in refs else {}
        for view in found:
            assert view.via is not None
            rows = rows_of[f"{view.iri} {view.via.group.iri}"]
            if member[1] is not None and view.via.side != member[1]:
                continue
            if any(getattr(view, k).iri != v for k, v in others.items()):
                continue
            if level_ref is not None and view.level.iri != level_ref.iri:
                continue
            if year is not None and not (
                _active_in(view.period, year) or _stated_in_year(view.period, rows, year)
            ):
                continue
            if evidence_grade is not None and (
                _weaker(view.evidence, view.via.evidence) != evidence_grade
            ):
                continue
            via_groups.append(view)
        via_groups.sort(key=lambda p: (p.via.group.iri if p.via else "", p.iri))
    if pairings or via_groups:
        views = await _with_groups(store, [*pairings, *via_groups], index, base)
        pairings, via_groups = views[: len(pairings)], views[len(pairings) :]
    unknown = _unknowns(
        unknown_party,
        unknown_rows,
        level_ref,
        year=year,
        index=index,
        base=base,
        fallback=not pairings,
    )
    return PairingsAnswer(
        status="known" if pairings else "unknown",
        filters=filters,
        count=len(pairings),
        pairings=pairings,
        unknown=unknown,
        group_pairings=via_groups,
    )


async def _unknown_rows(store: Store, party: Ref | None) -> Sequence[Mapping[str, Term]]:
    """The rows of the party's explicit unknowns (none without a party)."""
    if party is None:
        return ()
    answer = await select(store, bind(get_query("api-no-known-partner"), {"party": party.iri}))
    return answer.rows


def _unknowns(
    party: Ref | None,
    unknown_rows: Sequence[Mapping[str, Term]],
    level: Ref | None,
    *,
    year: int | None,
    index: SearchIndex,
    base: str,
    fallback: bool,
) -> list[UnknownPartner]:
    """The explicit unknowns of the party that match the level and year; with ``fallback``
    (no pairing matched), one record saying "unknown" without a source when there is none."""
    if party is None:
        return []
    found: list[UnknownPartner] = []
    for rows in group_rows(unknown_rows, "claim").values():
        row_level = ref_of(rows[0], "level", index, base)
        if level is not None and row_level is not None and row_level.iri != level.iri:
            continue
        row_period = period(rows[0])
        if year is not None and not _covers(row_period, year):
            continue  # a record of another round does not speak for this year
        name = party.label or party.id
        count = _count(rows[0], "unknownCount")
        note = f"{_UNKNOWN_NOTE} of {name}"
        if count is not None:
            level_name = row_level.label_en if row_level and row_level.label_en else "this level"
            note = (
                f"{name} had {count} more partner{'s' if count != 1 else ''} ({level_name}) "
                "than its pairings name; no source known to kg says which"
            )
        found.append(
            UnknownPartner(
                party=party,
                level=row_level,
                period=row_period,
                evidence=evidence(rows[0]),
                rule=literal(rows[0], "rule"),
                note=note,
                citations=citations(rows),
                unknown_count=count,
            )
        )
    found.sort(key=lambda u: ((u.period.start or "") if u.period else "", u.note))
    if not found and fallback:  # the graph records no search: still unknown, and said so
        found.append(
            UnknownPartner(
                party=party,
                level=level,
                note=f"{_UNKNOWN_NOTE} of {party.label or party.id} matching these filters",
                citations=[],
            )
        )
    return found


def _count(row: Mapping[str, Term], name: str) -> int | None:
    value = literal(row, name)
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


async def pairing_summary(store: Store, *, base: str) -> PairingSummaryAnswer:
    """The aggregate pairings (282 schools ↔ 328 schools, 76 ↔ 76 hospitals …)."""
    index = await index_for(store, base)
    answer = await select(store, bind(get_query("api-pairing-summary"), {}))
    levels: list[PairingSummary] = []
    for iri, rows in group_rows(answer.rows, "pairing").items():
        row = rows[0]
        levels.append(
            PairingSummary(
                iri=iri,
                id=make_ref(iri, index, base).id,
                level=ref_of(row, "level", index, base) or make_ref(iri, index, base),
                helper=ref_of(row, "helper", index, base) or make_ref(iri, index, base),
                helper_count=_count(row, "helperCount"),
                recipient=ref_of(row, "recipient", index, base) or make_ref(iri, index, base),
                recipient_count=_count(row, "recipientCount"),
                relation_text=literal(row, "relationText"),
                evidence=evidence(row),
                citations=citations(rows),
            )
        )
    levels.sort(key=lambda s: (s.level.iri, s.iri))
    return PairingSummaryAnswer(count=len(levels), levels=levels)


def _number(value: str | None) -> float | int | str:
    if value is None:
        return ""
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


async def statistics(
    store: Store,
    *,
    base: str,
    measure: str | None = None,
    subject: str | None = None,
    unit: str | None = None,
    year: int | None = None,
    offset: int = 0,
    limit: int = MAX_PAGE,
) -> StatisticsAnswer:
    """Statistics filtered by measure, subject, unit (each resolved) and the year of the period,
    sorted by IRI, one page (``offset``, ``limit``); ``total`` counts every match."""
    if not 0 <= offset <= 10_000_000 or not 1 <= limit <= MAX_PAGE:
        raise BadParameter(f"offset >= 0 and 1 <= limit <= {MAX_PAGE}")
    index = await index_for(store, base)
    filters: dict[str, Ref | str | int] = {}
    values: dict[str, str] = {}
    for name, text in (("measure", measure), ("subject", subject), ("unit", unit)):
        if text is None:
            continue
        if name == "unit" and not text.startswith(("http", "id:")):
            ref = make_ref(expand_type(text), index, base)  # gq:PersonTime, PersonTime
            if index.describe(ref.iri) is None:
                raise NotFound(f"parameter 'unit': no unit {text[:80]!r}")
        else:
            ref = await _ref(store, text, name, index, base)
        filters[name] = ref
        values[name] = ref.iri
    if year is not None:
        if not 1900 <= year <= 2100:
            raise BadParameter("parameter 'year': a year between 1900 and 2100")
        filters["year"] = year
    # The IRIs first (every statistic, or those with each value and in the year asked for:
    # the engine starts from the value), then the details of the page only (a national build
    # has tens of thousands of statistics; api-statistics took 8 s at 10M quads).
    lists = [
        bind(get_query("api-statistic-ids-by"), {"property": GQ + name, "value": iri})
        for name, iri in values.items()
    ]
    if year is not None:
        lists.append(bind(get_query("api-statistic-ids-in-year"), {"year": year}))
    if not lists:
        lists.append(bind(get_query("api-statistic-ids"), {}))
    chosen: set[str] | None = None
    for text in lists:
        ids = await select(store, text)
        found = {literal(row, "statistic") or "" for row in ids.rows} - {""}
        chosen = found if chosen is None else chosen & found
    matching = sorted(chosen or ())
    total = len(matching)
    page = await _statistics_of(store, matching[offset : offset + limit], index, base)
    return StatisticsAnswer(
        filters=filters,
        count=len(page),
        total=total,
        offset=offset,
        limit=limit,
        statistics=page,
    )


async def _statistics_of(
    store: Store, iris: Sequence[str], index: SearchIndex, base: str
) -> list[StatisticView]:
    """The statistics with these IRIs (api-statistics-of, in batches), sorted by IRI."""
    rows: list[Mapping[str, Term]] = []
    for text in bind_batches(get_query("api-statistics-of"), "statistic", iris):
        rows.extend((await select(store, text)).rows)
    views = [
        _statistic(iri, group, index, base) for iri, group in group_rows(rows, "statistic").items()
    ]
    return sorted(views, key=lambda s: s.iri)


def _statistic(
    iri: str, rows: Sequence[Mapping[str, Term]], index: SearchIndex, base: str
) -> StatisticView:
    row = rows[0]
    return StatisticView(
        iri=iri,
        id=make_ref(iri, index, base).id,
        measure=ref_of(row, "measure", index, base),
        subject=ref_of(row, "subject", index, base),
        value=_number(literal(row, "value")),
        unit=ref_of(row, "unit", index, base),
        kind=_KINDS.get(literal(row, "kind") or ""),
        period=period(row),
        original_text=literal(row, "originalText"),
        evidence=evidence(row),
        citations=citations(rows),
    )


def _fact_order(fact: Fact) -> tuple[bool, str, str, str, str, str]:
    value = fact.value if isinstance(fact.value, str) else fact.value.iri
    return (
        fact.direction != "out",
        fact.property.iri,
        value,
        fact.language or "",
        fact.datatype or "",
        fact.graph or "",
    )


async def entity_facts(store: Store, text: str, *, base: str) -> EntityAnswer:
    """One entity (by IRI, id, code or name) with every fact about it, both directions."""
    index = await index_for(store, base)
    resolved = await resolve(store, text, base=base)
    answer = await select(store, bind(get_query("api-entity-facts"), {"entity": resolved.iri}))
    if not answer.rows:
        raise NotFound(f"no resource {text[:80]!r} in the graph")
    groups: dict[tuple[str, ...], list[Mapping[str, Term]]] = {}
    for row in answer.rows:
        value = row.get("value")
        key = (
            literal(row, "direction") or "",
            literal(row, "property") or "",
            repr(value),
            literal(row, "graph") or "",
        )
        groups.setdefault(key, []).append(row)
    facts: list[Fact] = []
    types: list[Ref] = []
    for rows in groups.values():
        row = rows[0]
        value = row.get("value")
        direction: Literal["out", "in"] = "in" if literal(row, "direction") == "in" else "out"
        prop = ref_of(row, "property", index, base)
        if prop is None:
            continue
        shown: Ref | str
        datatype = language = None
        if isinstance(value, ox.NamedNode):
            shown = make_ref(value.value, index, base)
            if shown.label is None and (text_of := literal(row, "valueText")):
                shown = shown.model_copy(update={"label": text_of})  # a sentence: its text
            if direction == "out" and prop.iri == _RDF_TYPE:
                types.append(shown)
        elif isinstance(value, ox.Literal):
            shown, language = value.value, value.language
            datatype = None if language else value.datatype.value
        elif value is not None:
            shown = f"_:{value.value}"
        else:
            continue
        facts.append(
            Fact(
                direction=direction,
                property=prop,
                value=shown,
                datatype=datatype,
                language=language,
                graph=literal(row, "graph"),
                evidence=evidence(row),
                citations=citations(rows),
            )
        )
    # The engine's row order varies between runs: answer in a stable order instead (outgoing
    # first, then by property, value and graph).
    facts.sort(key=_fact_order)
    types.sort(key=lambda ref: ref.iri)
    entry = index.entry(resolved.iri)
    return EntityAnswer(
        entity=make_ref(resolved.iri, index, base),
        types=types,
        alt_labels=list(entry.alt_labels) if entry else [],
        facts=facts,
    )


async def list_entities(
    store: Store,
    *,
    base: str,
    type_: str | None = None,
    q: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> EntityList:
    """Entities (of a class, optionally matching a name), sorted by id, one page."""
    if not 0 <= offset <= 10_000_000 or not 1 <= limit <= MAX_PAGE:
        raise BadParameter(f"offset >= 0 and 1 <= limit <= {MAX_PAGE}")
    index = await index_for(store, base)
    types = class_types(index, type_)
    if q:
        chosen = [h.entry for h in await lookup(index, q, types=types, limit=MAX_LIMIT)]
        total, page = len(chosen), chosen[offset : offset + limit]
    else:  # in IRI order, straight from the index file
        total, page = await asyncio.to_thread(index.page, types, offset, limit)
    return EntityList(
        total=total,
        offset=offset,
        limit=limit,
        entities=[make_ref(e.iri, index, base) for e in page],
    )


def class_types(index: SearchIndex, type_: str | None) -> list[str]:
    """``[IRI]`` of the class ``type_`` names (IRI, ``gq:County``, ``County``), ``[]`` for none;
    BadParameter for a name that is neither a class of the ontology nor any entity's type
    (``Countyy`` answered an empty list, as if there were no county)."""
    if not type_:
        return []
    iri = expand_type(type_)
    term = index.terms.get(iri)
    known = term is not None and OWL_CLASS in term.types
    if not known and index.page([iri], 0, 1)[0] == 0:  # nor the type of any entity
        classes = sorted(
            e.iri.removeprefix(GQ) for e in index.terms.values() if OWL_CLASS in e.types
        )
        hint = ", ".join(c for c in classes if c in _COMMON_CLASSES) or ", ".join(classes[:6])
        raise BadParameter(f"type {type_[:80]!r} is not a class of the ontology (e.g. {hint})")
    return [iri]


_COMMON_CLASSES: Final = frozenset({"County", "UrbanDistrict", "Prefecture", "Document"})


async def search_entities(
    store: Store, text: str, *, base: str, type_: str | None = None, limit: int = 10
) -> SearchAnswer:
    """Ranked search hits as an answer model (see :mod:`kg.search`)."""
    if not text.strip():
        raise BadParameter("parameter 'q': give a name, pinyin, English name or code")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadParameter(f"parameter 'limit': between 1 and {MAX_LIMIT}")
    index = await index_for(store, base)
    types = class_types(index, type_)
    hits = await lookup(index, text, types=types, limit=limit)
    return SearchAnswer(
        query=text,
        count=len(hits),
        hits=[
            SearchHitView(
                entity=make_ref(h.entry.iri, index, base),
                types=sorted(h.entry.types),
                match=h.match,
                score=h.score,
            )
            for h in hits
        ],
    )


async def run_catalogue_query(
    store: Store, name: str, values: Mapping[str, str], *, base: str
) -> NamedQueryResult:
    """A named query (SELECT or ASK) run with user-typed values; IRIs described as Refs.

    An ASK answers one row ``{"boolean": "true"|"false"}``.
    """
    index = await index_for(store, base)
    query = get_query(name)
    text = await bind_typed(store, query, values, base=base)
    result = await store.query(
        QueryRequest(
            query=text, accept=(_JSON_RESULTS,), default_graph_uris=query.default_graphs(base)
        )
    )
    parsed = ox.parse_query_results(result.body, format=ox.QueryResultsFormat.JSON)
    if isinstance(parsed, ox.QueryBoolean):
        flag = "true" if bool(parsed) else "false"
        return NamedQueryResult(
            query=name,
            params=dict(values),
            variables=["boolean"],
            count=1,
            rows=[{"boolean": flag}],
        )
    variables = [v.value for v in parsed.variables]
    rows: list[dict[str, Ref | str | None]] = []
    for solution in parsed:
        out: dict[str, Ref | str | None] = {}
        for var in variables:
            term = solution[var]
            if isinstance(term, ox.NamedNode):
                out[var] = make_ref(term.value, index, base)
            else:
                out[var] = None if term is None else term.value
        rows.append(out)
    return NamedQueryResult(
        query=name,
        params=dict(values),
        variables=variables,
        count=len(rows),
        rows=rows,
        truncated=result.truncated,
    )
