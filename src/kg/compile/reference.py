"""The reference tables as gathered from public sources: ``divisions.csv`` and ``pairings.csv``.

They keep the shape in which they were collected (see ``data/reference/README.md``). A
division becomes ``{base}id/division/<GB/T 2260 code>`` of the class given by its level; a
pairing row becomes a gq:Pairing whose quote is a sentence of the gq:WebPage at its URL.
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
    "REF_PAIRINGS_SPEC",
    "ReferenceTables",
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
        "quote",
        "source_url",
    ),
    optional=("helper_en", "helped_en", "period_end", "rule", "note"),
)

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
    pairings: list[tuple[Row, URIRef]] = field(default_factory=list)

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
        for row, node in self.pairings:
            self._pairing(ctx, graph, row, node, pages)

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

    @staticmethod
    def _pairing(ctx: Context, graph: Graph, row: Row, node: URIRef, pages: WebPages) -> None:
        level = _LEVELS.get(row.get("level"))
        if level is None:
            ctx.problem(row, f"level: unknown level {row.get('level')!r} ({', '.join(_LEVELS)})")
            return
        parties: list[URIRef] = []
        for code_col, name_col in (("helper_adcode", "helper_zh"), ("helped_adcode", "helped_zh")):
            party = ctx.resolve(row, code_col, f"division:{row.get(code_col)}")
            if party is None:
                return
            if ctx.labels.get(party) != row.get(name_col):
                ctx.problem(
                    row,
                    f"{name_col}: {row.get(name_col)!r} is not the name of "
                    f"{row.get(code_col)} ({ctx.labels.get(party)!r})",
                )
                return
            parties.append(party)
        grade = row.get("evidence").lower()
        if grade not in ("stated", "inferred"):
            ctx.problem(row, f"evidence: {grade!r} must be stated or inferred")
            return
        sentence, page = pages.cite(ctx, row.get("source_url"), row.get("quote"))
        graph.add((node, RDF.type, GQ.Pairing))
        graph.add((node, GQ.helper, parties[0]))
        graph.add((node, GQ.recipient, parties[1]))
        graph.add((node, GQ.level, level))
        label = f"{row.get('helper_zh')}—{row.get('helped_zh')} 结对帮扶"
        graph.add((node, RDFS.label, Literal(label, lang="zh")))
        add_period(ctx, graph, row, node)
        graph.add((node, GQ.statedIn, sentence))
        graph.add((node, GQ.source, page))
        if grade == "stated":
            graph.add((node, GQ.evidence, GQ.Stated))
        else:
            graph.add((node, GQ.evidence, GQ.Inferred))
            rule = row.get("rule") or DEFAULT_REFERENCE_RULE
            graph.add((node, GQ.inferenceRule, Literal(rule, lang="en")))


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
                found.divisions.append((row, node))
    if pairings.is_file():
        slugs: set[str] = set()
        for row in read_table(
            pairings, shown_path(pairings, data_dir), REF_PAIRINGS_SPEC, ctx.issues
        ):
            slug = "-".join(
                v
                for v in (
                    row.get("helper_adcode"),
                    row.get("helped_adcode"),
                    row.get("period_start"),
                    row.get("period_end"),
                )
                if v
            )
            if slug in slugs:
                ctx.problem(row, f"duplicate pairing {slug} (same partners and period)")
                continue
            slugs.add(slug)
            node = ctx.declare_iri(f"pairing:{slug}", row)
            if node is not None:
                found.pairings.append((row, node))
                # Registering the quote now makes the page's sentence numbering follow row order.
                pages.cite(ctx, row.get("source_url"), row.get("quote"))
    return found
