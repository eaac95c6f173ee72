"""``compile_dataset``: read ``data/`` and ``ontology/gq.ttl`` into one rdflib Dataset.

Named graphs (under ``settings.base_iri``): ``graph/ontology`` (gq.ttl), ``graph/sources``
(documents and their sentences), ``graph/article`` (facts of data/article), ``graph/reference``
(facts of data/reference). Every problem found is collected and raised at the end as one
:class:`kg.errors.DataError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rdflib import Dataset, Graph, URIRef
from rdflib.plugins.parsers.notation3 import BadSyntax

from kg.compile import claims, entities
from kg.compile.context import Context
from kg.compile.documents import WebPages, read_sources, shown_path
from kg.compile.entail import Rules, entail
from kg.compile.invariants import check_invariants
from kg.compile.provenance import Support
from kg.compile.reference import read_reference
from kg.compile.tables import Row, TableSpec, read_table
from kg.config import Settings
from kg.errors import DataError, DataIssue
from kg.prefixes import VOCABULARIES

__all__ = ["GRAPH_NAMES", "compile_dataset", "graph_iri"]

#: The named graphs of the dataset, by short name.
GRAPH_NAMES = ("ontology", "sources", "article", "reference", "inferred", "provenance")
#: The graphs whose triples are asserted (entailment reads them, never the inferred graph).
ASSERTED = ("ontology", "sources", "article", "reference")

Emit = Callable[[Context, Graph, Row, URIRef], None]


@dataclass(frozen=True)
class Table:
    """How one CSV table is read: its columns, its id column and kinds, how it is emitted."""

    spec: TableSpec
    emit: Emit
    kinds: tuple[str, ...] | None = None
    label: str | None = None
    has_id: bool = True


#: The generic tables, allowed in data/article and data/reference, in emit order.
TABLES: dict[str, Table] = {
    "entities.csv": Table(entities.ENTITIES_SPEC, entities.emit_entity, label="label_zh"),
    "groups.csv": Table(entities.GROUPS_SPEC, entities.emit_group, ("group",), "label_zh"),
    "documents.csv": Table(claims.DOCUMENTS_SPEC, claims.emit_document, ("document",), "title_zh"),
    "events.csv": Table(claims.EVENTS_SPEC, claims.emit_event, ("event",), "label_zh"),
    "relations.csv": Table(entities.RELATIONS_SPEC, entities.emit_relation, has_id=False),
    "pairings.csv": Table(claims.PAIRINGS_SPEC, claims.emit_pairing, ("pairing",)),
    "statistics.csv": Table(claims.STATISTICS_SPEC, claims.emit_statistic, ("statistic",)),
    "participations.csv": Table(
        claims.PARTICIPATIONS_SPEC, claims.emit_participation, ("participation",)
    ),
    "memberships.csv": Table(claims.MEMBERSHIPS_SPEC, claims.emit_membership, ("membership",)),
    "photos.csv": Table(claims.PHOTOS_SPEC, claims.emit_photo, ("photo",), "caption"),
    "unknown-partners.csv": Table(
        claims.UNKNOWN_PARTNERS_SPEC, claims.emit_no_known_partner, ("unknown",)
    ),
    "group-memberships.csv": Table(
        claims.GROUP_MEMBERSHIPS_SPEC, claims.emit_group_membership, ("group-membership",)
    ),
}
#: Tables of data/reference read by kg.compile.reference in their collected shape.
REFERENCE_ONLY = ("divisions.csv", "pairings.csv")


def graph_iri(base_iri: str, name: str) -> URIRef:
    """IRI of one named graph: ``{base}graph/<name>``."""
    return URIRef(f"{base_iri}graph/{name}")


def compile_dataset(settings: Settings) -> Dataset:
    """Compile the ontology and the curated data into a Dataset of four named graphs.

    Raises :class:`kg.errors.DataError` listing every problem (file, line, what) when any
    input is wrong; nothing is returned half-built.
    """
    data_dir = Path(settings.data_dir)
    base = settings.base_iri
    ctx = Context(base)
    dataset = Dataset()
    graphs = {name: dataset.graph(graph_iri(base, name)) for name in GRAPH_NAMES}
    dataset.bind("gq", VOCABULARIES["gq"])

    ontology = _parse_turtle(
        Path(settings.ontology_dir) / "gq.ttl", Path(settings.ontology_dir).parent, ctx.issues
    )
    if ontology is not None:
        for triple in ontology:
            graphs["ontology"].add(triple)
        ctx.learn_ontology(ontology)

    # Pass 1: documents and sentences, then every id of every table.
    sources = read_sources(ctx, data_dir)
    pages = WebPages()
    reference = read_reference(ctx, data_dir, pages)
    loaded: list[tuple[str, Table, list[tuple[Row, URIRef | None]]]] = []
    for folder in ("reference", "article"):
        loaded.extend(_read_folder(ctx, data_dir, folder))

    # Pass 2: triples, with every reference, citation and value checked.
    sources.emit(ctx, graphs["sources"], data_dir)
    support = Support()
    for folder, table, rows in sorted(loaded, key=lambda item: _order(item[1])):
        for row, node in rows:
            # Each row's triples are supported by the row's own citations and grade.
            scratch = Graph()
            table.emit(ctx, scratch, row, node)  # type: ignore[arg-type]
            graphs[folder] += scratch
            support.add_row(ctx, scratch, row)
    scratch = Graph()
    reference.emit(ctx, scratch, pages)
    graphs["reference"] += scratch
    support.add_claims(scratch)
    pages.emit(ctx, graphs["sources"])

    for path in sorted(data_dir.rglob("*.ttl")):
        folder = path.relative_to(data_dir).parts[0]
        shown = shown_path(path, data_dir)
        if folder not in ("sources", "article", "reference"):
            ctx.issues.append(
                DataIssue(
                    shown,
                    None,
                    "Turtle files belong in data/article, data/reference or data/sources",
                )
            )
            continue
        parsed = _parse_turtle(path, data_dir.parent, ctx.issues)
        if parsed is not None:
            for triple in parsed:
                graphs[folder].add(triple)

    if not ctx.issues:
        invariants = Path(settings.ontology_dir) / "invariants" / "data"
        ctx.issues.extend(check_invariants(dataset, invariants, "ontology/invariants/data"))
    if ctx.issues:
        raise DataError(sorted(ctx.issues, key=lambda i: (i.file, i.line or 0, i.problem)))
    support.emit(graphs["provenance"], base)
    if ontology is not None:
        asserted = [t for name in ASSERTED for t in graphs[name]]
        for triple in entail(asserted, Rules(ontology)):
            graphs["inferred"].add(triple)
    return dataset


def _order(table: Table) -> int:
    return list(TABLES.values()).index(table)


def _read_folder(
    ctx: Context, data_dir: Path, folder: str
) -> list[tuple[str, Table, list[tuple[Row, URIRef | None]]]]:
    """Read and declare every generic table of one data folder."""
    found: list[tuple[str, Table, list[tuple[Row, URIRef | None]]]] = []
    directory = data_dir / folder
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.csv")):
        shown = shown_path(path, data_dir)
        if folder == "reference" and path.name in REFERENCE_ONLY:
            continue
        table = TABLES.get(path.name)
        if table is None:
            known = ", ".join(TABLES)
            ctx.issues.append(DataIssue(shown, None, f"unknown table (known tables: {known})"))
            continue
        rows: list[tuple[Row, URIRef | None]] = []
        for row in read_table(path, shown, table.spec, ctx.issues):
            if not table.has_id:
                rows.append((row, None))
                continue
            node = ctx.declare(row, "id", table.kinds)
            if node is None:
                continue
            if table.label is not None:
                ctx.labels[node] = row.get(table.label)
                if english := row.get(table.label.removesuffix("_zh") + "_en"):
                    ctx.labels_en[node] = english
            rows.append((row, node))
        found.append((folder, table, rows))
    return found


def _parse_turtle(path: Path, root: Path, issues: list[DataIssue]) -> Graph | None:
    """Parse one Turtle file; a syntax error becomes an issue with rdflib's line number."""
    shown = shown_path(path, root / "data") if path.is_relative_to(root) else path.as_posix()
    if not path.is_file():
        issues.append(DataIssue(shown, None, "file not found"))
        return None
    graph = Graph()
    try:
        graph.parse(path, format="turtle")
    except BadSyntax as exc:
        issues.append(DataIssue(shown, exc.lines + 1, f"Turtle syntax error: {exc._why}"))
        return None
    except Exception as exc:  # rdflib raises many kinds (IndexError, ValueError…) on bad input
        issues.append(DataIssue(shown, None, f"Turtle cannot be parsed: {exc}"))
        return None
    return graph
