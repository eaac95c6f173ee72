"""Claim tables: pairings, statistics, events, participations, memberships, documents (with
their issuance) and photos. Every claim row cites exactly one sentence and carries an evidence
grade; the compiler turns it into an n-ary node with gq:statedIn, gq:source and gq:evidence."""

from __future__ import annotations

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, ORG, PROV, RDF, RDFS, XSD

from kg.compile.context import Context
from kg.compile.entities import CITE, add_labels
from kg.compile.tables import Row, TableSpec, split_multi
from kg.compile.values import decimal_literal, parse_number, parse_period
from kg.compile.vocab import DOCUMENT_CLASSES, EVENT_CLASSES, GQ, PAIRING_LEVELS, SCHEMA, UNITS

__all__ = [
    "DOCUMENTS_SPEC",
    "EVENTS_SPEC",
    "GROUP_MEMBERSHIPS_SPEC",
    "MEMBERSHIPS_SPEC",
    "PAIRINGS_SPEC",
    "PARTICIPATIONS_SPEC",
    "PHOTOS_SPEC",
    "STATISTICS_SPEC",
    "UNKNOWN_PARTNERS_SPEC",
    "add_date",
    "add_period",
    "emit_document",
    "emit_event",
    "emit_group_membership",
    "emit_membership",
    "emit_no_known_partner",
    "emit_pairing",
    "emit_participation",
    "emit_photo",
    "emit_statistic",
]

PAIRINGS_SPEC = TableSpec(
    "pairings.csv",
    required=("id", "helper", "recipient", "level", *CITE),
    optional=("relation_text", "period_start", "period_end", "period_text", "rule", "note"),
)
STATISTICS_SPEC = TableSpec(
    "statistics.csv",
    required=(
        "id",
        "measure",
        "value",
        "unit",
        "period_end",
        "statistic_kind",
        "subject",
        "original_text",
        *CITE,
    ),
    optional=("period_start", "period_text", "rule", "period_rule", "part_of", "note"),
)
EVENTS_SPEC = TableSpec(
    "events.csv",
    required=("id", "class", "label_zh", *CITE),
    optional=(
        "label_en",
        "date",
        "date_text",
        "place",
        "venue",
        "led_by",
        "organizer",
        "participants",
        "about",
        "super_event",
        "programme",
        "rule",
        "note",
    ),
)
PARTICIPATIONS_SPEC = TableSpec(
    "participations.csv",
    required=("id", "agent", "event", *CITE),
    optional=("role_text", "rule", "note"),
)
MEMBERSHIPS_SPEC = TableSpec(
    "memberships.csv",
    required=("id", "member", "organization", *CITE),
    optional=("role", "role_text", "rule", "note"),
)
DOCUMENTS_SPEC = TableSpec(
    "documents.csv",
    required=("id", "class", "title_zh", *CITE),
    optional=("title_en", "issuer", "date", "date_text", "rule", "note"),
)
UNKNOWN_PARTNERS_SPEC = TableSpec(
    "unknown-partners.csv",
    required=("id", "party", "level", *CITE),
    optional=("period_start", "period_end", "period_text", "unknown_count", "rule", "note"),
)
GROUP_MEMBERSHIPS_SPEC = TableSpec(
    "group-memberships.csv",
    required=("id", "group", "members", *CITE),
    optional=("rule", "note"),
)
PHOTOS_SPEC = TableSpec(
    "photos.csv",
    required=("id", "caption", "source", "quote"),
    optional=("photographer", "depicts", "note"),
)


def emit_pairing(ctx: Context, graph: Graph, row: Row, node: URIRef) -> None:
    """A pairing between a helper and a recipient at a level, optionally over a period."""
    helper, recipient = ctx.ref(row, "helper"), ctx.ref(row, "recipient")
    level = ctx.ref(row, "level")
    if level is not None and level not in PAIRING_LEVELS:
        ctx.problem(row, f"level: {row.get('level')!r} is not a pairing level")
        level = None
    if helper is not None and helper == recipient:
        ctx.problem(row, "helper and recipient are the same")
    missing = [
        row.get(column)[:4]
        for column in ("period_start", "period_end")
        if row.get(column) and row.get(column)[:4] not in row.get("quote")
    ]
    if row.get("evidence").lower() == "stated" and missing:
        # The rule of the reference pairings (kg.compile.reference.grade_problem) for the
        # article's: a stated period is one the quote gives.
        ctx.problem(
            row,
            f"evidence: a stated pairing's quote must give its period; {', '.join(missing)} "
            "not in the quote: grade it inferred and give the rule",
        )
    if not ctx.claim(graph, node, row) or helper is None or recipient is None or level is None:
        return
    graph.add((node, RDF.type, GQ.Pairing))
    graph.add((node, GQ.helper, helper))
    graph.add((node, GQ.recipient, recipient))
    graph.add((node, GQ.level, level))
    verb = row.get("relation_text") or "结对"
    if row.get("relation_text"):
        graph.add((node, GQ.relationText, Literal(verb, lang="zh")))
    label = f"{ctx.label_of(helper)} {verb} {ctx.label_of(recipient)}"
    graph.add((node, RDFS.label, Literal(label, lang="zh")))
    helper_en, recipient_en = ctx.label_en_of(helper), ctx.label_en_of(recipient)
    if helper_en and recipient_en:
        label_en = f"{helper_en} – {recipient_en} pairing"
        graph.add((node, RDFS.label, Literal(label_en, lang="en")))
    add_period(ctx, graph, row, node)


def add_period(ctx: Context, graph: Graph, row: Row, node: URIRef) -> bool:
    """``period_start`` / ``period_end`` as xsd:date bounds with their precision.

    A bound the row leaves empty is unknown: no date, and precision gq:Unknown, so that "the
    start is not known" is a triple a query can ask for. ``period_text`` keeps the source's
    wording. False after reporting a problem.
    """
    bounds: list[Literal | None] = []
    ok = True
    for column, prop, precision_prop, end in (
        ("period_start", GQ.periodStart, GQ.periodStartPrecision, False),
        ("period_end", GQ.periodEnd, GQ.periodEndPrecision, True),
    ):
        text = row.get(column)
        if not text:
            graph.add((node, precision_prop, GQ.Unknown))
            bounds.append(None)
            continue
        try:
            value, precision = parse_period(text, end=end)
        except ValueError as exc:
            ctx.problem(row, f"{column}: {exc}")
            ok = False
            continue
        graph.add((node, prop, value))
        graph.add((node, precision_prop, precision))
        bounds.append(value)
    first = bounds[0] if len(bounds) == 2 else None
    last = bounds[1] if len(bounds) == 2 else None
    if ok and first is not None and last is not None and first.toPython() > last.toPython():
        ctx.problem(row, "period_start is after period_end")
        ok = False
    if row.get("period_text"):
        graph.add((node, GQ.periodText, Literal(row.get("period_text"), lang="zh")))
    return ok


def add_date(ctx: Context, graph: Graph, row: Row, node: URIRef, prop: URIRef = GQ.date) -> bool:
    """``date`` (a year, year-month or day) as an xsd:date, its precision and ``date_text``."""
    if row.get("date_text") and not row.get("date"):
        ctx.problem(row, "date_text: give the date it words in date")
        return False
    if not row.get("date"):
        return True
    try:
        value, precision = parse_period(row.get("date"))
    except ValueError as exc:
        ctx.problem(row, f"date: {exc}")
        return False
    graph.add((node, prop, value))
    graph.add((node, GQ.datePrecision, precision))
    if row.get("date_text"):
        graph.add((node, GQ.dateText, Literal(row.get("date_text"), lang="zh")))
    return True


_KINDS = {"stock": GQ.Stock, "flow": GQ.Flow}
_OF_WHICH = "其中"


#: How a source may write a small count: 2, two, 两 or 二 (a stated count must be in the quote).
_COUNT_WORDS: dict[int, tuple[str, ...]] = {
    1: ("one", "一"),
    2: ("two", "两", "二"),
    3: ("three", "三"),
    4: ("four", "四"),
    5: ("five", "五"),
    6: ("six", "六"),
    7: ("seven", "七"),
    8: ("eight", "八"),
    9: ("nine", "九"),
    10: ("ten", "十"),
}


def _unknown_count(ctx: Context, row: Row) -> tuple[bool, int | None]:
    """(ok, ``unknown_count`` as a whole number from 1, or None when empty); not ok after
    reporting a problem.

    A stated count is one the quote gives (as 2, two, 两 or 二); otherwise the row is inferred
    and its rule says how the count was read."""
    text = row.get("unknown_count")
    if not text:
        return True, None
    if not text.isdigit() or int(text) < 1:
        ctx.problem(row, f"unknown_count: {text!r} is not a whole number from 1")
        return False, None
    count = int(text)
    forms = (str(count), *_COUNT_WORDS.get(count, ()))
    quote = row.get("quote")
    if row.get("evidence").lower() == "stated" and not any(f in quote for f in forms):
        ctx.problem(
            row,
            f"unknown_count: a stated count must be in the quote ({' or '.join(forms)}); "
            "grade it inferred and give the rule",
        )
        return False, None
    return True, count


def emit_no_known_partner(ctx: Context, graph: Graph, row: Row, node: URIRef) -> None:
    """An explicit unknown: no source known to kg names a partner of ``party`` at ``level``;
    with ``unknown_count`` N: the party had N partners more than its pairings name, and no
    source known to kg says which (gq:unknownPartnerCount)."""
    party, level = ctx.ref(row, "party"), ctx.ref(row, "level")
    if level is not None and level not in PAIRING_LEVELS:
        ctx.problem(row, f"level: {row.get('level')!r} is not a pairing level")
        level = None
    count_ok, count = _unknown_count(ctx, row)
    period = Graph()
    period_ok = add_period(ctx, period, row, node)
    if not ctx.claim(graph, node, row) or party is None or level is None or not period_ok:
        return
    if not count_ok:
        return
    graph += period
    graph.add((node, RDF.type, GQ.NoKnownPartner))
    graph.add((node, GQ.party, party))
    graph.add((node, GQ.level, level))
    party_en, level_en = ctx.label_en_of(party), ctx.label_en_of(level)
    if count is not None:
        graph.add((node, GQ.unknownPartnerCount, Literal(count, datatype=XSD.integer)))
        label = f"{ctx.label_of(party)} 另有{count}个结对方未知({ctx.label_of(level)})"
        label_en = f"{party_en}: {count} more partners not known ({level_en})"
    else:
        label = f"{ctx.label_of(party)} 结对方未知({ctx.label_of(level)})"
        label_en = f"{party_en}: no known partner ({level_en})"
    graph.add((node, RDFS.label, Literal(label, lang="zh")))
    if party_en and level_en:
        graph.add((node, RDFS.label, Literal(label_en, lang="en")))


def emit_group_membership(ctx: Context, graph: Graph, row: Row, node: URIRef) -> None:
    """Members of a group that no source names outright, as a claim with its grade and rule
    (the reference notes' reading of 黔南州10个县). Named members are gq:hasMember triples of
    ``groups.csv``; ``ontology/invariants/data/group-members-fit.rq`` checks the members
    against the group's count and member class."""
    group = ctx.ref(row, "group")
    if group is not None and not row.get("group").startswith("group:"):
        ctx.problem(row, f"group: {row.get('group')!r} is not a group (group:…)")
        group = None
    members = ctx.refs(row, "members")
    if len(set(members)) != len(members):
        ctx.problem(row, "members: a member is listed twice")
        return
    if not ctx.claim(graph, node, row) or group is None or not members:
        return
    graph.add((node, RDF.type, GQ.GroupMembership))
    graph.add((node, GQ.group, group))
    for member in members:
        graph.add((node, GQ.member, member))
    graph.add((node, RDFS.label, Literal(f"{ctx.label_of(group)} 成员", lang="zh")))
    if group_en := ctx.label_en_of(group):
        graph.add((node, RDFS.label, Literal(f"members of {group_en}", lang="en")))


def emit_statistic(ctx: Context, graph: Graph, row: Row, node: URIRef) -> None:
    """A figure: measure, normalised value, unit, period, kind, subject and the wording."""
    measure, subject, unit = ctx.ref(row, "measure"), ctx.ref(row, "subject"), ctx.ref(row, "unit")
    part_of = ctx.ref(row, "part_of")
    if unit is not None and unit not in UNITS:
        ctx.problem(row, f"unit: {row.get('unit')!r} is not a unit (e.g. gq:PersonUnit, gq:CNY)")
        unit = None
    kind = _KINDS.get(row.get("statistic_kind"))
    if kind is None:
        ctx.problem(row, f"statistic_kind: {row.get('statistic_kind')!r} must be stock or flow")
    value = None
    try:
        value = parse_number(row.get("value"))
    except ValueError as exc:
        ctx.problem(row, f"value: {exc}")
    if row.get("original_text") not in row.get("quote"):
        ctx.problem(row, f"original_text {row.get('original_text')!r} is not in the quote")
    if row.get("part_of") and _OF_WHICH not in row.get("quote"):
        # Two figures in one sentence are not a whole and its part unless the source says so.
        said = f"part_of: the quote does not say {_OF_WHICH} (of which)"
        ctx.problem(row, f"{said}: give it, or leave part_of empty")
    if not row.get("period_start") and not row.get("period_rule"):
        ctx.problem(row, "period_rule: say why the start is unknown (or give period_start)")
    period = Graph()
    period_ok = add_period(ctx, period, row, node)
    ok = ctx.claim(graph, node, row)
    if not ok or measure is None or subject is None or unit is None or value is None:
        return
    if not period_ok or kind is None:
        return
    graph += period
    graph.add((node, RDF.type, GQ.Statistic))
    graph.add((node, GQ.measure, measure))
    graph.add((node, GQ.value, decimal_literal(value)))
    graph.add((node, GQ.unit, unit))
    graph.add((node, GQ.statisticKind, kind))
    if part_of is not None:
        graph.add((node, GQ.partOfStatistic, part_of))
    if row.get("period_rule"):
        # The figure is graded by gq:evidence; how its period was read is said separately.
        graph.add((node, GQ.periodRule, Literal(row.get("period_rule"), lang="en")))
    graph.add((node, GQ.subject, subject))
    graph.add((node, GQ.originalText, Literal(row.get("original_text"), lang="zh")))
    label = f"{ctx.label_of(measure)}:{row.get('original_text')}"
    graph.add((node, RDFS.label, Literal(label, lang="zh")))
    measure_en, unit_en = ctx.label_en_of(measure), ctx.label_en_of(unit)
    if measure_en and unit_en:  # the number as stored, in its unit: 34500 person
        amount = decimal_literal(value)
        graph.add((node, RDFS.label, Literal(f"{measure_en}: {amount} {unit_en}", lang="en")))


def emit_event(ctx: Context, graph: Graph, row: Row, node: URIRef) -> None:
    """An event: class, labels, date, place, venue, leader, participants, what it is about."""
    classes = ctx.classes_of(row, "class", under=EVENT_CLASSES)
    dated = Graph()
    date_ok = add_date(ctx, dated, row, node)
    links: list[tuple[URIRef, URIRef]] = []
    for column, prop in (
        ("place", GQ.place),
        ("venue", GQ.venue),
        ("led_by", GQ.ledBy),
        ("organizer", GQ.organizer),
        ("participants", GQ.participant),
        ("about", GQ.about),
        ("super_event", SCHEMA.superEvent),
        ("programme", GQ.partOfProgramme),
    ):
        links.extend((prop, target) for target in ctx.refs(row, column))
    if not ctx.claim(graph, node, row) or not classes or not date_ok:
        return
    for cls in classes:
        graph.add((node, RDF.type, cls))
    add_labels(graph, node, row)
    graph += dated
    for prop, target in links:
        graph.add((node, prop, target))


def emit_participation(ctx: Context, graph: Graph, row: Row, node: URIRef) -> None:
    """An agent's part in an event (led, attended, hosted …)."""
    agent, event = ctx.ref(row, "agent"), ctx.ref(row, "event")
    if not ctx.claim(graph, node, row) or agent is None or event is None:
        return
    graph.add((node, RDF.type, GQ.Participation))
    graph.add((node, GQ.agent, agent))
    graph.add((node, GQ.event, event))
    if row.get("role_text"):
        graph.add((node, GQ.roleText, Literal(row.get("role_text"), lang="zh")))
    label = f"{ctx.label_of(agent)} {row.get('role_text') or '参与'} {ctx.label_of(event)}"
    graph.add((node, RDFS.label, Literal(label, lang="zh")))


def emit_membership(ctx: Context, graph: Graph, row: Row, node: URIRef) -> None:
    """A person's role in an organisation (org:Membership)."""
    member, organization = ctx.ref(row, "member"), ctx.ref(row, "organization")
    role = ctx.ref(row, "role")
    if not ctx.claim(graph, node, row) or member is None or organization is None:
        return
    graph.add((node, RDF.type, GQ.Membership))
    graph.add((node, ORG.member, member))
    graph.add((node, ORG.organization, organization))
    if role is not None:
        graph.add((node, ORG.role, role))
    if row.get("role_text"):
        graph.add((node, GQ.roleText, Literal(row.get("role_text"), lang="zh")))
    label = f"{ctx.label_of(member)}({ctx.label_of(organization)} {row.get('role_text')})"
    graph.add((node, RDFS.label, Literal(label, lang="zh")))


def emit_document(ctx: Context, graph: Graph, row: Row, node: URIRef) -> None:
    """A document named by a source, and (with an issuer) its issuance as a claim."""
    classes = ctx.classes_of(row, "class", under=DOCUMENT_CLASSES)
    issuers = ctx.refs(row, "issuer")
    issuance = URIRef(str(node).replace("/id/document/", "/id/issuance/", 1))
    dated = Graph()
    date_ok = add_date(ctx, dated, row, issuance)
    provenance = ctx.check_claim(row)
    if provenance is None or not date_ok:
        return
    for cls in classes:
        graph.add((node, RDF.type, cls))
    graph.add((node, DCTERMS.title, Literal(row.get("title_zh"), lang="zh")))
    add_labels(graph, node, row, zh="title_zh", en="title_en")
    if row.get("title_en"):
        graph.add((node, DCTERMS.title, Literal(row.get("title_en"), lang="en")))
    graph.add((node, PROV.wasDerivedFrom, provenance.citation.sentence))
    if not issuers:
        if row.get("date"):
            ctx.problem(row, "date: the date of an issuance needs its issuer")
        return  # no issuer named: the document is mentioned, no issuance is claimed
    provenance.add_to(graph, issuance)
    graph.add((issuance, RDF.type, GQ.Issuance))
    graph.add((issuance, GQ.document, node))
    for issuer in issuers:
        graph.add((issuance, GQ.issuer, issuer))
    graph += dated
    label = f"{'、'.join(ctx.label_of(i) for i in issuers)} 印发 {row.get('title_zh')}"
    graph.add((issuance, RDFS.label, Literal(label, lang="zh")))


def emit_photo(ctx: Context, graph: Graph, row: Row, node: URIRef) -> None:
    """A photo of a source: caption, photographer (after 摄), what it depicts, its sentences."""
    photographer = ctx.ref(row, "photographer")
    depicts = ctx.refs(row, "depicts")
    cited = ctx.citations(row, single=False)
    if not cited:
        return
    if row.get("caption") not in "".join(split_multi(row.get("quote"))):
        ctx.problem(row, f"caption {row.get('caption')!r} is not in the quotes")
        return
    graph.add((node, RDF.type, GQ.Photo))
    graph.add((node, GQ.caption, Literal(row.get("caption"), lang="zh")))
    graph.add((node, RDFS.label, Literal(row.get("caption"), lang="zh")))
    if photographer is not None:
        graph.add((node, SCHEMA.creator, photographer))
    for target in depicts:
        graph.add((node, GQ.depicts, target))
    for document in {c.document for c in cited}:
        graph.add((node, DCTERMS.isPartOf, document))
    for citation in cited:
        graph.add((node, PROV.wasDerivedFrom, citation.sentence))
