"""SPARQL results as plain values, parsed from every format the suite uses.

Terms are tuples so that equality is RDF term equality and nothing is normalised behind our
back: ``("iri", value)``, ``("bnode", label)``, ``("literal", lexical, datatype, lang)``
(a simple literal has datatype xsd:string and lang ""; a language-tagged one rdf:langString and
its tag in lower case, as tags are case-insensitive).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from xml.etree import ElementTree

import rdflib

from tests.w3c.rdfio import parse_graph_text

__all__ = [
    "CSV",
    "JSON",
    "NTRIPLES",
    "TSV",
    "TURTLE",
    "XML",
    "XSD",
    "Answer",
    "ResultsError",
    "Row",
    "Term",
    "csv_rows",
    "from_rdflib",
    "literal",
    "media_type",
    "parse_answer",
    "parse_json",
    "parse_rs_graph",
    "parse_tsv",
    "parse_xml",
]

Term = tuple[str, ...]
Row = dict[str, Term]

XSD = "http://www.w3.org/2001/XMLSchema#"
XSD_STRING = XSD + "string"
RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
RS = rdflib.Namespace("http://www.w3.org/2001/sw/DataAccess/tests/result-set#")

XML = "application/sparql-results+xml"
JSON = "application/sparql-results+json"
TSV = "text/tab-separated-values"
CSV = "text/csv"
TURTLE = "text/turtle"
NTRIPLES = "application/n-triples"

_RDF_FORMATS = {
    "text/turtle": "turtle",
    "application/n-triples": "nt",
    "text/plain": "nt",
    "application/rdf+xml": "xml",
    "application/ld+json": "json-ld",
    "application/n-quads": "nquads",
    "application/trig": "trig",
}


class ResultsError(ValueError):
    """An answer that cannot be read in the format it claims."""


@dataclass
class Answer:
    """A query answer: a boolean, a table (variables and rows), or a graph."""

    boolean: bool | None = None
    variables: list[str] | None = None
    rows: list[Row] | None = None
    graph: rdflib.Graph | None = None

    @property
    def kind(self) -> str:
        """``boolean``, ``tabular`` or ``RDF``, the words the protocol manifest uses."""
        if self.boolean is not None:
            return "boolean"
        if self.rows is not None:
            return "tabular"
        return "RDF"


def literal(lexical: str, datatype: str | None = None, lang: str | None = None) -> Term:
    """A literal term, with RDF 1.1 defaults for the datatype."""
    if lang:
        return ("literal", lexical, RDF_LANGSTRING, lang.lower())
    return ("literal", lexical, datatype or XSD_STRING, "")


def from_rdflib(node: rdflib.term.Node) -> Term:
    """Convert an rdflib term (parsed with exact literals) to a tuple term."""
    if isinstance(node, rdflib.URIRef):
        return ("iri", str(node))
    if isinstance(node, rdflib.BNode):
        return ("bnode", str(node))
    if isinstance(node, rdflib.Literal):
        dt = str(node.datatype) if node.datatype is not None else None
        return literal(str(node), dt, node.language)
    raise ResultsError(f"unexpected term {node!r}")


def media_type(content_type: str) -> str:
    """``text/csv; charset=utf-8`` -> ``text/csv``."""
    return content_type.split(";", 1)[0].strip().lower()


def parse_answer(text: str, content_type: str, base: str | None = None) -> Answer:
    """Parse an answer by its media type (XML, JSON, TSV results or any RDF syntax)."""
    mt = media_type(content_type)
    if mt in (XML, "application/xml", "text/xml"):
        return parse_xml(text)
    if mt in (JSON, "application/json"):
        return parse_json(text)
    if mt == TSV:
        return parse_tsv(text)
    if mt in _RDF_FORMATS:
        try:
            return Answer(graph=parse_graph_text(text, _RDF_FORMATS[mt], base))
        except Exception as exc:  # rdflib raises many types
            raise ResultsError(f"not valid {mt}: {exc}") from exc
    raise ResultsError(f"unsupported media type {content_type!r}")


_NS = "{http://www.w3.org/2005/sparql-results#}"


def parse_xml(text: str) -> Answer:
    """SPARQL Query Results XML Format."""
    try:
        root = ElementTree.fromstring(text.encode("utf-8"))
    except ElementTree.ParseError as exc:
        raise ResultsError(f"not well-formed XML: {exc}") from exc
    if root.tag != f"{_NS}sparql":
        raise ResultsError(f"root element is {root.tag}, not sparql")
    boolean = root.find(f"{_NS}boolean")
    if boolean is not None:
        return Answer(boolean=_boolean((boolean.text or "").strip()))
    variables = [v.attrib["name"] for v in root.iterfind(f"{_NS}head/{_NS}variable")]
    rows: list[Row] = []
    for result in root.iterfind(f"{_NS}results/{_NS}result"):
        row: Row = {}
        for binding in result.iterfind(f"{_NS}binding"):
            row[binding.attrib["name"]] = _xml_term(binding)
        rows.append(row)
    return Answer(variables=variables, rows=rows)


def _xml_term(binding: ElementTree.Element) -> Term:
    node = next(iter(binding), None)
    if node is None:
        raise ResultsError(f"empty binding {binding.attrib.get('name')}")
    tag = node.tag.removeprefix(_NS)
    text = node.text or ""
    if tag == "uri":
        return ("iri", text.strip())
    if tag == "bnode":
        return ("bnode", text.strip())
    if tag == "literal":
        lang = node.attrib.get("{http://www.w3.org/XML/1998/namespace}lang")
        return literal(text, node.attrib.get("datatype"), lang)
    raise ResultsError(f"unknown term element {tag}")


def _boolean(text: str) -> bool:
    if text not in ("true", "false"):
        raise ResultsError(f"boolean is {text!r}")
    return text == "true"


def parse_json(text: str) -> Answer:
    """SPARQL 1.1 Query Results JSON Format."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or "head" not in doc:
        raise ResultsError("JSON results without a head")
    if "boolean" in doc:
        if not isinstance(doc["boolean"], bool):
            raise ResultsError(f"boolean is {doc['boolean']!r}")
        return Answer(boolean=doc["boolean"])
    variables = list(doc["head"].get("vars", []))
    rows: list[Row] = []
    for b in doc.get("results", {}).get("bindings", []):
        row: Row = {}
        for var, t in b.items():
            kind = t.get("type")
            if kind == "uri":
                row[var] = ("iri", t["value"])
            elif kind == "bnode":
                row[var] = ("bnode", t["value"])
            elif kind in ("literal", "typed-literal"):
                row[var] = literal(t["value"], t.get("datatype"), t.get("xml:lang"))
            else:
                raise ResultsError(f"unknown term type {kind!r}")
        rows.append(row)
    return Answer(variables=variables, rows=rows)


_TSV_TERM = re.compile(
    r'^(?:<(?P<iri>[^>]*)>|_:(?P<bnode>\S+)|"(?P<lex>(?:[^"\\]|\\.)*)"'
    r"(?:@(?P<lang>[A-Za-z0-9-]+)|\^\^<(?P<dt>[^>]*)>)?"
    r"|(?P<num>[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?))"
    r"|(?P<bool>true|false))$"
)
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def _unescape(s: str) -> str:
    def sub(m: re.Match[str]) -> str:
        e = m.group(1)
        if e[0] in "uU":
            return chr(int(e[1:], 16))
        return _ESCAPES.get(e, "\\" + e)

    return re.sub(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)", sub, s)


def _tsv_number(text: str) -> Term:
    """A bare TSV number; its value, not its spelling, is compared (the TSV note abbreviates)."""
    if "e" in text.lower():
        return literal(repr(float(text)), XSD + "double")
    if "." in text:
        try:
            d = Decimal(text).normalize()
        except InvalidOperation as exc:
            raise ResultsError(f"bad decimal {text!r}") from exc
        return literal(format(d, "f"), XSD + "decimal")
    return literal(str(int(text)), XSD + "integer")


def _tsv_term(field: str) -> Term:
    m = _TSV_TERM.match(field)
    if m is None:
        raise ResultsError(f"not a TSV RDF term: {field!r}")
    if m.group("iri") is not None:
        return ("iri", m.group("iri"))
    if m.group("bnode") is not None:
        return ("bnode", m.group("bnode"))
    if m.group("lex") is not None:
        lex = _unescape(m.group("lex"))
        dt = m.group("dt")
        if dt in (XSD + "integer", XSD + "decimal", XSD + "double"):
            try:
                return _tsv_number(lex)
            except ValueError:
                pass  # ill-typed: compare as written
        return literal(lex, dt, m.group("lang"))
    if m.group("num") is not None:
        return _tsv_number(m.group("num"))
    return literal(m.group("bool"), XSD + "boolean")


def parse_tsv(text: str) -> Answer:
    """SPARQL 1.1 Query Results TSV Format.

    Numbers (bare or typed xsd:integer/decimal/double) are compared by value: the TSV note lets
    a writer abbreviate them, so ``1.0e6`` and ``"1.0E6"^^xsd:double`` are the same answer.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [ln.removesuffix("\r") for ln in lines]
    if not lines:
        raise ResultsError("empty TSV document")
    header = lines[0].split("\t") if lines[0] else []
    variables = []
    for h in header:
        if not h.startswith("?"):
            raise ResultsError(f"TSV header field {h!r} does not start with ?")
        variables.append(h[1:])
    rows: list[Row] = []
    for n, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(variables):
            raise ResultsError(f"TSV line {n}: {len(fields)} fields for {len(variables)} vars")
        rows.append({v: _tsv_term(f) for v, f in zip(variables, fields, strict=True) if f})
    return Answer(variables=variables, rows=rows)


def csv_rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    """SPARQL 1.1 Query Results CSV Format: header and rows of plain strings ("" = unbound)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    records = list(reader)
    if not records:
        raise ResultsError("empty CSV document")
    header = records[0]
    rows = []
    for n, rec in enumerate(records[1:], start=2):
        if len(rec) != len(header):
            raise ResultsError(f"CSV line {n}: {len(rec)} fields for {len(header)} columns")
        rows.append(dict(zip(header, rec, strict=True)))
    return header, rows


def parse_rs_graph(g: rdflib.Graph) -> Answer | None:
    """A result set written in RDF (the DAWG ``rs:`` vocabulary), or None if ``g`` is not one."""
    rs = next(iter(g.subjects(rdflib.RDF.type, RS.ResultSet)), None)
    if rs is None:
        return None
    boolean = g.value(rs, RS.boolean)
    if boolean is not None:
        return Answer(boolean=str(boolean) == "true")
    variables = sorted(str(v) for v in g.objects(rs, RS.resultVariable))
    indexed: list[tuple[int, Row]] = []
    for sol in g.objects(rs, RS.solution):
        index = g.value(sol, RS["index"])  # present when the order matters
        row: Row = {}
        for b in g.objects(sol, RS.binding):
            value = g.value(b, RS.value)
            var = g.value(b, RS.variable)
            if value is None or var is None:
                raise ResultsError("rs:binding without rs:value or rs:variable")
            row[str(var)] = from_rdflib(value)
        indexed.append((0 if index is None else int(str(index)), row))
    indexed.sort(key=lambda pair: pair[0])
    return Answer(variables=variables, rows=[row for _, row in indexed])
