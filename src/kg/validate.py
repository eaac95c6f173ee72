"""SHACL validation of a kg graph against ``ontology/shapes.ttl``, with a readable report.

The data is validated together with ``ontology/gq.ttl`` merged in, so that ``sh:class`` sees the
subclass axioms; no RDFS inference runs (the shapes list their target subclasses explicitly).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

import pyoxigraph
import rdflib
from pyshacl import validate as shacl_validate
from rdflib.collection import Collection
from rdflib.namespace import RDF, RDFS, SH
from rdflib.term import BNode, Node, URIRef

from kg.config import ONTOLOGY_NS
from kg.errors import DataError, DataIssue, ValidationError
from kg.prefixes import OTHER_PREFIXES, PREFIXES

__all__ = [
    "ONTOLOGY_FILE",
    "SHAPES_FILE",
    "Severity",
    "ValidationReport",
    "Violation",
    "load_turtle",
    "validate",
]

ONTOLOGY_FILE = "gq.ttl"
SHAPES_FILE = "shapes.ttl"

Severity = Literal["Violation", "Warning", "Info"]

_SEVERITIES: dict[Node, Severity] = {
    SH.Violation: "Violation",
    SH.Warning: "Warning",
    SH.Info: "Info",
}
# IRIs that SHACL-SPARQL message templates paste in, to be shortened like the rest.
_IRI = re.compile(r"https?://[^\s<>\"{}|^`]+[^\s<>\"{}|^`.,;:)]")
_SEVERITY_ORDER: dict[Severity, int] = {"Violation": 0, "Warning": 1, "Info": 2}

# Shown in reports whether or not the data graph binds them.
_PREFIXES: tuple[tuple[str, str], ...] = (*PREFIXES.items(), ("sh", OTHER_PREFIXES["sh"]))


@dataclass(frozen=True)
class Violation:
    """One SHACL result. IRIs are full; blank nodes are ``_:id``; values are in N-Triples form."""

    severity: Severity
    focus_node: str
    path: str | None
    value: str | None
    message: str
    source_shape: str
    #: The focus node's Chinese rdfs:label, when it has one.
    focus_label: str | None = None


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of :func:`validate`. Warnings and infos do not make ``conforms`` false."""

    conforms: bool
    violations: list[Violation]
    #: (prefix, namespace) pairs used by :meth:`text` to shorten IRIs.
    prefixes: tuple[tuple[str, str], ...] = field(default=_PREFIXES, repr=False)

    def count(self, severity: Severity) -> int:
        """How many results have this severity."""
        return sum(1 for v in self.violations if v.severity == severity)

    def compact(self, iri: str) -> str:
        """``iri`` as ``prefix:local`` when a known namespace covers it, else ``<iri>``."""
        best = max(
            ((p, ns) for p, ns in self.prefixes if iri.startswith(ns)),
            key=lambda pair: len(pair[1]),
            default=None,
        )
        if best is None:
            return iri if iri.startswith(("_:", '"')) else f"<{iri}>"
        return f"{best[0]}:{iri[len(best[1]) :]}"

    def text(self) -> str:
        """A readable report grouped by source shape, focus nodes compacted and labelled."""
        counts = ", ".join(
            f"{self.count(s)} {s.lower()}{'s' if self.count(s) != 1 else ''}"
            for s in ("Violation", "Warning", "Info")
        )
        verdict = "conforms" if self.conforms else "does not conform"
        lines = [f"SHACL validation: {verdict} ({counts})"]
        for shape, results in _group_by_shape(self.violations):
            lines.append("")
            lines.append(f"{self.compact(shape)} [{results[0].severity}] ×{len(results)}")
            for v in results:
                focus = self.compact(v.focus_node)
                if v.focus_label:
                    focus += f" 「{v.focus_label}」"
                where = f" {_compact_path(self, v.path)}" if v.path else ""
                value = f" = {self._compact_value(v.value)}" if v.value is not None else ""
                message = _IRI.sub(lambda m: self.compact(m.group(0)), v.message)
                lines.append(f"  - {focus}{where}{value}: {message}")
        return "\n".join(lines) + "\n"

    def raise_on_violations(self) -> None:
        """Raise :class:`kg.errors.ValidationError` carrying :meth:`text` unless it conforms."""
        if not self.conforms:
            n = self.count("Violation")
            raise ValidationError(
                f"SHACL validation failed: {n} violation{'s' if n != 1 else ''}",
                report=self.text(),
            )

    def _compact_value(self, value: str) -> str:
        if value.startswith("<") and value.endswith(">"):
            return self.compact(value[1:-1])
        if "^^<" in value and value.endswith(">"):
            lexical, datatype = value.rsplit("^^<", 1)
            return f"{lexical}^^{self.compact(datatype[:-1])}"
        return value


def _group_by_shape(violations: list[Violation]) -> Iterator[tuple[str, list[Violation]]]:
    groups: dict[str, list[Violation]] = {}
    for v in violations:
        groups.setdefault(v.source_shape, []).append(v)
    for shape in sorted(groups, key=lambda s: (_SEVERITY_ORDER[groups[s][0].severity], s)):
        yield shape, groups[shape]


def _compact_path(report: ValidationReport, path: str) -> str:
    # Paths are stored as space-separated IRIs with "/" between steps and "^" for inverse.
    return "/".join(
        ("^" if step.startswith("^") else "") + report.compact(step.lstrip("^"))
        for step in path.split(" / ")
    )


def load_turtle(path: Path) -> rdflib.Graph:
    """Parse one Turtle file; :class:`kg.errors.DataError` names the file and line if it is bad."""
    if not path.is_file():
        raise DataError(DataIssue(str(path), None, "file not found"))
    graph = rdflib.Graph()
    try:
        graph.parse(path, format="turtle")
    except Exception as exc:  # rdflib raises several unrelated types for bad input
        raise DataError(_syntax_issue(path, exc)) from exc
    return graph


def _syntax_issue(path: Path, exc: Exception) -> DataIssue:
    # pyoxigraph's parser reports line and problem precisely; rdflib's messages quote raw bytes.
    try:
        for _ in pyoxigraph.parse(path=str(path), format=pyoxigraph.RdfFormat.TURTLE):
            pass
    except SyntaxError as err:
        return DataIssue(str(path), err.lineno, f"Turtle syntax error: {err.msg}")
    line = getattr(exc, "lines", None)
    first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return DataIssue(
        str(path), line + 1 if isinstance(line, int) else None, f"Turtle error: {first}"
    )


def _merge(data: rdflib.Dataset | rdflib.Graph, ontology: rdflib.Graph) -> rdflib.Graph:
    # pyshacl validates each graph of a Dataset on its own; claims cite sentences in another
    # graph, so the union is what must conform.
    merged = rdflib.Graph()
    if isinstance(data, rdflib.Dataset):
        for s, p, o, _ in data.quads((None, None, None, None)):
            merged.add((s, p, o))
    else:
        for triple in data:
            merged.add(triple)
    for triple in ontology:
        merged.add(triple)
    return merged


def _node_text(node: Node) -> str:
    if isinstance(node, BNode):
        return f"_:{node}"
    if isinstance(node, URIRef):
        return str(node)
    return node.n3()


def _value_text(node: Node) -> str:
    return f"_:{node}" if isinstance(node, BNode) else node.n3()


def _path_text(results: rdflib.Graph, path: Node) -> str:
    if isinstance(path, URIRef):
        return str(path)
    inverse = results.value(path, SH.inversePath)
    if inverse is not None:
        return "^" + _path_text(results, inverse)
    if (path, RDF.first, None) in results:
        return " / ".join(_path_text(results, step) for step in Collection(results, path))
    return _node_text(path)


def _zh_label(graph: rdflib.Graph, node: Node) -> str | None:
    labels = sorted(
        str(o)
        for o in graph.objects(node, RDFS.label)
        if isinstance(o, rdflib.Literal) and (o.language or "").lower().startswith("zh")
    )
    return labels[0] if labels else None


def _message(results: rdflib.Graph, result: Node) -> str:
    messages = [
        m for m in results.objects(result, SH.resultMessage) if isinstance(m, rdflib.Literal)
    ]
    english = sorted(str(m) for m in messages if (m.language or "en").startswith("en"))
    if english:
        return english[0]
    return sorted(str(m) for m in messages)[0] if messages else "(no message)"


def _violations(results: rdflib.Graph, data: rdflib.Graph) -> Iterable[Violation]:
    for report in results.subjects(RDF.type, SH.ValidationReport):
        for result in results.objects(report, SH.result):
            focus = results.value(result, SH.focusNode)
            path = results.value(result, SH.resultPath)
            value = results.value(result, SH.value)
            shape = results.value(result, SH.sourceShape)
            severity = _SEVERITIES.get(
                results.value(result, SH.resultSeverity) or SH.Violation, "Violation"
            )
            # SHACL requires both on every result
            assert focus is not None
            assert shape is not None
            yield Violation(
                severity=severity,
                focus_node=_node_text(focus),
                path=_path_text(results, path) if path is not None else None,
                value=_value_text(value) if value is not None else None,
                message=_message(results, result),
                source_shape=_node_text(shape),
                focus_label=_zh_label(data, focus),
            )


def _undeclared_terms(merged: rdflib.Graph, shapes: rdflib.Graph) -> Iterator[Violation]:
    """Uses of gq: IRIs the ontology does not declare (gq:Vocabulary_Shape, run in Python)."""
    shape = URIRef(f"{ONTOLOGY_NS}Vocabulary_Shape")
    if (shape, RDF.type, SH.NodeShape) not in shapes:
        return
    message = str(shapes.value(shape, SH.message) or "Undeclared gq: term.")
    severity = _SEVERITIES.get(shapes.value(shape, SH.severity) or SH.Violation, "Violation")
    declared = set(merged.subjects(RDF.type, None))
    for s, p, o in merged:
        for term in (p, o):
            if isinstance(term, URIRef) and term.startswith(ONTOLOGY_NS) and term not in declared:
                yield Violation(
                    severity=severity,
                    focus_node=_node_text(s),
                    path=str(p),
                    value=_value_text(term),
                    message=message,
                    source_shape=str(shape),
                    focus_label=_zh_label(merged, s),
                )


def validate(
    data: rdflib.Dataset | rdflib.Graph,
    ontology_dir: Path,
    *,
    base_iri: str | None = None,
) -> ValidationReport:
    """Validate ``data`` (every graph of a Dataset, merged) with the ontology and shapes.

    ``base_iri`` (``Settings.base_iri``) only makes the report shorter: data IRIs under
    ``{base_iri}id/`` are shown as ``id:kind/slug``. Raises :class:`kg.errors.DataError` when
    ``gq.ttl`` or ``shapes.ttl`` cannot be read.
    """
    ontology = load_turtle(ontology_dir / ONTOLOGY_FILE)
    shapes = load_turtle(ontology_dir / SHAPES_FILE)
    merged = _merge(data, ontology)
    _conforms, results, _text = shacl_validate(
        merged,
        shacl_graph=shapes,
        inference="none",
        advanced=False,
        allow_warnings=True,
        abort_on_first=False,
    )
    found = [*_violations(cast(rdflib.Graph, results), merged), *_undeclared_terms(merged, shapes)]
    violations = sorted(
        found,
        key=lambda v: (
            _SEVERITY_ORDER[v.severity],
            v.source_shape,
            v.focus_node,
            v.path or "",
            v.value or "",
        ),
    )
    prefixes = list(_PREFIXES)
    if base_iri:
        prefixes.append(("id", f"{base_iri}id/"))
    # Then the data's own bindings (rdflib adds its defaults too): a name or namespace that is
    # already taken keeps its first meaning, so one prefix never means two things in a report.
    names, spaces = {p for p, _ in prefixes}, {ns for _, ns in prefixes}
    for prefix, ns in data.namespace_manager.namespaces():
        if prefix and prefix not in names and str(ns) not in spaces:
            prefixes.append((prefix, str(ns)))
            names.add(prefix)
            spaces.add(str(ns))
    return ValidationReport(
        conforms=not any(v.severity == "Violation" for v in violations),
        violations=violations,
        prefixes=tuple(prefixes),
    )
