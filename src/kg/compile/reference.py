"""The reference tables as gathered from public sources: ``divisions.csv`` and ``pairings.csv``.

They keep the shape in which they were collected (see ``data/reference/README.md``). A
division becomes ``{base}id/division/<GB/T 2260 code>`` of the class given by its level; a
pairing row becomes a gq:Pairing whose quote is a sentence of the gq:WebPage at its URL.

kg regrades some pairing rows by its own rules (:func:`grade_problem`); the grade the table
gave each row as it was gathered stays in ``reference_evidence`` (→ ``gq:referenceEvidence``).
``data/reference/original/pairings.csv`` is that table verbatim: every row of ``pairings.csv``
must carry the grade of its row there, and every row there must be carried
(:func:`check_against_original`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import PROV, RDF, RDFS, SKOS, XSD

from kg.compile.claims import add_period
from kg.compile.context import Context
from kg.compile.documents import WebPages, shown_path
from kg.compile.tables import Row, TableSpec, read_table
from kg.compile.vocab import GEO, GQ, WIKIDATA
from kg.errors import DataIssue

__all__ = [
    "DIVISIONS_SPEC",
    "ORIGINAL_PAIRINGS_SPEC",
    "REF_PAIRINGS_SPEC",
    "ReferenceTables",
    "check_against_original",
    "read_reference",
]

DIVISIONS_SPEC = TableSpec(
    "divisions.csv",
    required=("name_zh", "level", "parent_zh", "adcode"),
    optional=("name_en", "lat", "lon", "wikidata"),
)
REF_PAIRINGS_SPEC = TableSpec(
    "pairings.csv (reference)",
    required=(
        "helper_zh",
        "helper_adcode",
        "helped_zh",
        "helped_adcode",
        "level",
        "period_start",
        "evidence",
        "reference_evidence",
        "quote",
        "source_url",
    ),
    optional=(
        "helper_en",
        "helped_en",
        "period_end",
        "period_text",
        "source_date",
        "rule",
        "note",
    ),
)

#: The pairing table as it was gathered, verbatim: the source of ``reference_evidence``.
ORIGINAL_PAIRINGS = Path("original") / "pairings.csv"
ORIGINAL_PAIRINGS_SPEC = TableSpec(
    "original/pairings.csv (the reference table as gathered)",
    required=("helper_adcode", "helped_adcode", "level", "evidence", "source_url"),
    optional=(
        "helper_zh",
        "helper_en",
        "helped_zh",
        "helped_en",
        "period_start",
        "period_end",
        "quote",
    ),
)
#: A row of the original table is carried by the row with the same parties, level and page.
_ORIGINAL_KEY = ("helper_adcode", "helped_adcode", "level", "source_url")
_GRADES = {"stated": GQ.Stated, "inferred": GQ.Inferred}

#: Where the divisions come from: the sentence of the reference notes describing divisions.csv.
DIVISIONS_SOURCE = "refnotes:L1.1"
DIVISIONS_QUOTE = "GB/T 2260 codes"

#: The rule recorded for an inferred reference row that gives none of its own.
DEFAULT_REFERENCE_RULE = (
    "Deduced by the curator of data/reference/pairings.csv from what the cited page says "
    "(the quote gives the basis); no sentence of the page states the pairing itself."
)

_LEVELS: dict[str, URIRef] = {
    "district-county": GQ.DistrictToCounty,
    "city-prefecture": GQ.CityToPrefecture,
}
_ADCODE = re.compile(r"^[1-9][0-9]{5}$")
_WIKIDATA = re.compile(r"^Q[1-9][0-9]*$")


def division_class(level: str, name_zh: str) -> URIRef | None:
    """The class of a division from its level (and name, for the autonomous ones)."""
    if level == "province":
        return GQ.Province
    if level == "prefecture":
        return GQ.AutonomousPrefecture if name_zh.endswith("自治州") else GQ.Prefecture
    if level == "district":
        return GQ.UrbanDistrict
    if level == "city":
        return GQ.CountyLevelCity
    if level == "county":
        return GQ.AutonomousCounty if name_zh.endswith("自治县") else GQ.County
    return None


@dataclass
class ReferenceTables:
    """The rows of both reference tables, declared and ready to emit."""

    divisions: list[tuple[Row, URIRef]] = field(default_factory=list)
    #: One entry per real-world pairing: its node and the rows (one per source) stating it.
    pairings: list[tuple[URIRef, list[Row]]] = field(default_factory=list)

    def emit(self, ctx: Context, graph: Graph, pages: WebPages) -> None:
        """Emit divisions and pairings into ``graph`` (the reference graph)."""
        by_name = {label: iri for iri, label in ctx.labels.items()}
        notes = Row(
            "data/sources/sources.csv", 0, {"source": DIVISIONS_SOURCE, "quote": DIVISIONS_QUOTE}
        )
        provenance = ctx.citations(notes, single=True)
        for row, node in self.divisions:
            self._division(
                ctx,
                graph=graph,
                row=row,
                node=node,
                by_name=by_name,
                provenance=provenance[0].sentence if provenance else None,
            )
        for node, rows in self.pairings:
            _pairing(ctx, graph, node, rows, pages)

    @staticmethod
    def _division(
        ctx: Context,
        *,
        graph: Graph,
        row: Row,
        node: URIRef,
        by_name: dict[str, URIRef],
        provenance: URIRef | None,
    ) -> None:
        cls = division_class(row.get("level"), row.get("name_zh"))
        if cls is None:
            ctx.problem(
                row,
                f"level: unknown level {row.get('level')!r} "
                "(province, prefecture, city, district, county)",
            )
            return
        graph.add((node, RDF.type, cls))
        graph.add((node, RDFS.label, Literal(row.get("name_zh"), lang="zh")))
        if row.get("name_en"):
            graph.add((node, RDFS.label, Literal(row.get("name_en"), lang="en")))
        graph.add((node, GQ.divisionCode, Literal(row.get("adcode"))))
        parent = by_name.get(row.get("parent_zh"))
        if parent is None:
            ctx.problem(
                row, f"parent_zh: no division or entity is labelled {row.get('parent_zh')!r}"
            )
        else:
            graph.add((node, GQ.partOf, parent))
        lat, lon = row.get("lat"), row.get("lon")
        if bool(lat) != bool(lon):
            ctx.problem(row, "lat and lon: give both or neither")
        elif lat:
            for column, prop, limit in (("lat", GEO.lat, 90), ("lon", GEO.long, 180)):
                try:
                    value = Decimal(row.get(column))
                except InvalidOperation:
                    ctx.problem(row, f"{column}: {row.get(column)!r} is not a number")
                    continue
                if abs(value) > limit:
                    ctx.problem(row, f"{column}: {value} is out of range")
                    continue
                graph.add((node, prop, Literal(row.get(column), datatype=XSD.decimal)))
        if row.get("wikidata"):
            if _WIKIDATA.match(row.get("wikidata")):
                graph.add((node, SKOS.exactMatch, WIKIDATA[row.get("wikidata")]))
            else:
                ctx.problem(row, f"wikidata: {row.get('wikidata')!r} is not a Wikidata id (Q123)")
        if provenance is not None:
            graph.add((node, PROV.wasDerivedFrom, provenance))


_SUFFIXES = ("布依族苗族自治州", "水族自治县", "自治州", "自治县", "区", "县", "市")
#: Simplified → traditional for the characters of division names that differ (廣州 and 區 are
#: how Hong Kong and Taiwan pages, and some mainland ones, write 广州 and 区).
_TRADITIONAL = str.maketrans(
    {"区": "區", "县": "縣", "广": "廣", "黄": "黃", "龙": "龍", "长": "長"}
)
_LATIN = re.compile(r"[A-Za-z]{2,}")


def name_forms(name: str) -> set[str]:
    """The ways a source may write a division: 三都水族自治县, 三都; 白云区, 白云區, 白云."""
    forms = {name}
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            forms.add(name.removesuffix(suffix))
            break
    return forms | {f.translate(_TRADITIONAL) for f in forms}


def grade_problem(row: Row) -> str | None:
    """Why the quote of a reference row cannot carry its grade (None when it can).

    A quote is words of the source only: curator notes (Latin-letter words in a Chinese page's
    quote) go to ``note``. A ``stated`` pairing's quote names both parties and the period
    (the start year, and the end year when there is one); otherwise the row is inferred and
    its ``rule`` says how the pairing follows.
    """
    quote = row.get("quote")
    if _LATIN.search(quote):
        return "quote: only the words of the source; move curator notes to the note column"
    if row.get("evidence").lower() != "stated":
        return None
    missing = [
        row.get(column)
        for column in ("helper_zh", "helped_zh")
        if not any(form in quote for form in name_forms(row.get(column)))
    ]
    missing += [
        row.get(column)[:4]
        for column in ("period_start", "period_end")
        if row.get(column) and row.get(column)[:4] not in quote
    ]
    if missing:
        return (
            f"evidence: a stated pairing's quote must name both parties and the period; "
            f"{', '.join(missing)} not in the quote: grade it inferred and give the rule"
        )
    return None


def _overlap(a: Row, b: Row) -> bool:
    """Do the periods of two rows overlap? (an empty bound is open)"""

    def bound(row: Row, column: str, default: str) -> str:
        text = row.get(column)
        if not text:
            return default
        return text[:4] if len(text) == 4 else text[:7]

    a_start, a_end = bound(a, "period_start", "0000"), bound(a, "period_end", "9999")
    b_start, b_end = bound(b, "period_start", "0000"), bound(b, "period_end", "9999")
    # Compare at the coarser of the two precisions (2021 overlaps 2021-03).
    return (
        a_start[: len(b_end)] <= b_end[: len(a_start)]
        and b_start[: len(a_end)] <= a_end[: len(b_start)]
    )


def _pairing(ctx: Context, graph: Graph, node: URIRef, rows: list[Row], pages: WebPages) -> None:
    """One real-world pairing stated by one or more rows (sources), one attestation each."""
    first = rows[0]
    level = _LEVELS.get(first.get("level"))
    if level is None:
        ctx.problem(first, f"level: unknown level {first.get('level')!r} ({', '.join(_LEVELS)})")
        return
    parties: list[URIRef] = []
    for code_col, name_col in (("helper_adcode", "helper_zh"), ("helped_adcode", "helped_zh")):
        party = ctx.resolve(first, code_col, f"division:{first.get(code_col)}")
        if party is None:
            return
        if ctx.labels.get(party) != first.get(name_col):
            ctx.problem(
                first,
                f"{name_col}: {first.get(name_col)!r} is not the name of "
                f"{first.get(code_col)} ({ctx.labels.get(party)!r})",
            )
            return
        parties.append(party)
    grades: list[URIRef] = []
    reference_grades: list[URIRef] = []
    for row in rows:
        grade = row.get("evidence").lower()
        if grade not in _GRADES:
            ctx.problem(row, f"evidence: {grade!r} must be stated or inferred")
            return
        reference_grade = _GRADES.get(row.get("reference_evidence").lower())
        if reference_grade is None:
            ctx.problem(
                row,
                f"reference_evidence: {row.get('reference_evidence')!r} must be stated or "
                "inferred (the grade of the row in original/pairings.csv)",
            )
            return
        reference_grades.append(reference_grade)
        problem = grade_problem(row)
        if problem is not None:
            ctx.problem(row, problem)
            return
        if grade == "inferred" and not row.get("rule"):
            ctx.problem(row, "rule: an inferred pairing needs the rule that infers it")
            return
        grades.append(GQ.Stated if grade == "stated" else GQ.Inferred)
    graph.add((node, RDF.type, GQ.Pairing))
    graph.add((node, GQ.helper, parties[0]))
    graph.add((node, GQ.recipient, parties[1]))
    graph.add((node, GQ.level, level))
    # The claim's period is the most precise one its sources give (2021-03 over 2021).
    widest = max(rows, key=_precision)
    # Two rounds of one pair read apart in lists: 黄埔区—独山县 结对帮扶(2016–2020), (2021–).
    span = f"{widest.get('period_start') or '?'}–{widest.get('period_end')}"
    label = f"{first.get('helper_zh')}—{first.get('helped_zh')} 结对帮扶({span})"
    graph.add((node, RDFS.label, Literal(label, lang="zh")))
    label_en = f"{first.get('helper_en')} – {first.get('helped_en')} pairing ({span})"
    graph.add((node, RDFS.label, Literal(label_en, lang="en")))
    add_period(ctx, graph, widest, node)
    graph.remove((node, GQ.periodText, None))
    stated = GQ.Stated in grades
    graph.add((node, GQ.evidence, GQ.Stated if stated else GQ.Inferred))
    # What the reference table said, kept beside kg's grade (the strongest of its rows, as
    # kg's own grade is the strongest of its attestations').
    reference_stated = GQ.Stated in reference_grades
    graph.add((node, GQ.referenceEvidence, GQ.Stated if reference_stated else GQ.Inferred))
    numbered = enumerate(zip(rows, grades, reference_grades, strict=True), start=1)
    for number, (row, grade, reference_grade) in numbered:
        sentence, page = pages.cite(ctx, row.get("source_url"), row.get("quote"))
        pages.date(ctx, row, row.get("source_url"), row.get("source_date"))
        graph.add((node, GQ.statedIn, sentence))
        graph.add((node, GQ.source, page))
        if not stated:
            graph.add((node, GQ.inferenceRule, Literal(row.get("rule"), lang="en")))
        attestation = URIRef(f"{node}/attestation/{number}")
        graph.add((node, GQ.attestedBy, attestation))
        graph.add((attestation, RDF.type, GQ.Attestation))
        graph.add((attestation, GQ.statedIn, sentence))
        graph.add((attestation, GQ.source, page))
        graph.add((attestation, GQ.evidence, grade))
        graph.add((attestation, GQ.referenceEvidence, reference_grade))
        if grade == GQ.Inferred:
            graph.add((attestation, GQ.inferenceRule, Literal(row.get("rule"), lang="en")))
        add_period(ctx, graph, row, attestation)
        graph.add((attestation, RDFS.label, Literal(f"{label}({number})", lang="zh")))


def _precision(row: Row) -> tuple[int, int]:
    """Rank rows by how precisely they give the period (longer texts are more precise)."""
    return (len(row.get("period_start")), len(row.get("period_end")))


def check_against_original(ctx: Context, rows: list[Row], original: Path, data_dir: Path) -> None:
    """Every row of ``pairings.csv`` carries the grade its row of the original table gives
    (``reference_evidence``), and every row of the original is carried by exactly one row.

    Rows are matched on helper, helped, level and page (``_ORIGINAL_KEY``): kg may correct a
    row's period, quote or grade, never which pairing on which page it is.
    """
    shown = shown_path(original, data_dir)
    if not original.is_file():
        ctx.issues.append(
            DataIssue(shown, None, "missing: the reference pairing table as gathered, verbatim")
        )
        return
    gathered = read_table(original, shown, ORIGINAL_PAIRINGS_SPEC, ctx.issues)
    by_key: dict[tuple[str, ...], list[Row]] = {}
    for row in gathered:
        by_key.setdefault(tuple(row.get(c) for c in _ORIGINAL_KEY), []).append(row)
    carried: dict[tuple[str, ...], list[Row]] = {}
    for row in rows:
        key = tuple(row.get(c) for c in _ORIGINAL_KEY)
        carried.setdefault(key, []).append(row)
        matches = by_key.get(key, [])
        if len(matches) != 1:
            found = "no row" if not matches else f"{len(matches)} rows"
            ctx.problem(
                row,
                f"{found} of {shown} with this helper_adcode, helped_adcode, level and "
                "source_url: every row must carry one row of the table as gathered",
            )
            continue
        (source,) = matches
        if row.get("reference_evidence").lower() != source.get("evidence").lower():
            ctx.problem(
                row,
                f"reference_evidence: {row.get('reference_evidence')!r}, but "
                f"{shown}:{source.line} grades this row {source.get('evidence')!r}: "
                "reference_evidence keeps the table's grade (kg's own goes to evidence)",
            )
    for key, sources in by_key.items():
        if len(carried.get(key, [])) != 1:
            for source in sources:
                ctx.problem(
                    source,
                    f"carried by {len(carried.get(key, []))} rows of pairings.csv "
                    "(same helper_adcode, helped_adcode, level and source_url): exactly one "
                    "must carry it, with its grade in reference_evidence",
                )


def read_reference(ctx: Context, data_dir: Path, pages: WebPages) -> ReferenceTables:
    """Read and declare both reference tables (pass 1)."""
    found = ReferenceTables()
    folder = data_dir / "reference"
    divisions = folder / "divisions.csv"
    pairings = folder / "pairings.csv"
    for path in (divisions, pairings):
        if not path.is_file():
            ctx.issues.append(
                DataIssue(shown_path(path, data_dir), None, "missing reference table")
            )
    if divisions.is_file():
        for row in read_table(
            divisions, shown_path(divisions, data_dir), DIVISIONS_SPEC, ctx.issues
        ):
            code = row.get("adcode")
            if not _ADCODE.match(code):
                ctx.problem(row, f"adcode: {code!r} is not a 6-digit GB/T 2260 code")
                continue
            node = ctx.declare_iri(f"division:{code}", row)
            if node is not None:
                ctx.labels[node] = row.get("name_zh")
                if row.get("name_en"):
                    ctx.labels_en[node] = row.get("name_en")
                found.divisions.append((row, node))
    if pairings.is_file():
        groups: list[list[Row]] = []
        rows = read_table(pairings, shown_path(pairings, data_dir), REF_PAIRINGS_SPEC, ctx.issues)
        check_against_original(ctx, rows, folder / ORIGINAL_PAIRINGS, data_dir)
        for row in rows:
            # One real-world pairing is one node: rows with the same parties and level whose
            # periods overlap are sources of the same pairing.
            key = (row.get("helper_adcode"), row.get("helped_adcode"), row.get("level"))
            for group in groups:
                head = group[0]
                same = (head.get("helper_adcode"), head.get("helped_adcode"), head.get("level"))
                if same == key and any(_overlap(row, other) for other in group):
                    group.append(row)
                    break
            else:
                groups.append([row])
            # Registering the quote now makes the page's sentence numbering follow row order.
            pages.cite(ctx, row.get("source_url"), row.get("quote"))
        for group in groups:
            head = group[0]
            start = min(r.get("period_start") for r in group)
            years = [start[:4] if len(group) > 1 else start]
            if all(r.get("period_end") for r in group):
                years.append(max(r.get("period_end") for r in group))
            slug = "-".join([head.get("helper_adcode"), head.get("helped_adcode"), *years])
            node = ctx.declare_iri(f"pairing:{slug}", head)
            if node is not None:
                found.pairings.append((node, group))
    return found
