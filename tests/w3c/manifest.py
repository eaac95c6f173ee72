"""Read the W3C test manifests (rdflib) into plain, typed test records.

Manifests are parsed with the W3C base IRI of the suite
(``http://www.w3.org/2009/sparql/docs/tests/data-sparql11/<suite>/manifest.ttl``), so test IRIs,
data-file IRIs (which name the graphs the data is loaded into) and IRIs in expected results are
the same on every machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import rdflib
from rdflib.collection import Collection
from rdflib.namespace import RDF, RDFS
from rdflib.term import Node

__all__ = [
    "DEFAULT_SUITE_DIR",
    "SUITE_KINDS",
    "W3C_BASE",
    "DataFile",
    "ManifestError",
    "ProtocolRequest",
    "ProtocolTest",
    "QueryTest",
    "ServiceDescriptionTest",
    "SyntaxTest",
    "Test",
    "file_iri",
    "load_suite",
    "load_suites",
    "suite_names",
]

W3C_BASE = "http://www.w3.org/2009/sparql/docs/tests/data-sparql11/"
#: A copy of the W3C suite excerpt ships with the tests (W3C test-suite licence, suite/LICENSE.md).
DEFAULT_SUITE_DIR = Path(__file__).resolve().parent / "suite"

MF = rdflib.Namespace("http://www.w3.org/2001/sw/DataAccess/tests/test-manifest#")
QT = rdflib.Namespace("http://www.w3.org/2001/sw/DataAccess/tests/test-query#")
UT = rdflib.Namespace("http://www.w3.org/2009/sparql/tests/test-update#")
HT = rdflib.Namespace("http://www.w3.org/2011/http#")
CNT = rdflib.Namespace("http://www.w3.org/2011/content#")
HTS = rdflib.Namespace("http://www.w3.org/2011/http-statusCodes#")

#: Every suite folder the runner knows, and what kind of tests it holds.
SUITE_KINDS: dict[str, str] = {
    "aggregates": "query",
    "bind": "query",
    "bindings": "query",
    "cast": "query",
    "construct": "query",
    "exists": "query",
    "functions": "query",
    "grouping": "query",
    "negation": "query",
    "project-expression": "query",
    "property-path": "query",
    "subquery": "query",
    "syntax-query": "syntax",
    "csv-tsv-res": "results",
    "json-res": "results",
    "service-description": "service-description",
    # Last on purpose: if an endpoint wrongly executes the update tests (CLEAR ALL), the
    # other suites have already run on intact data.
    "protocol": "protocol",
}


class ManifestError(Exception):
    """A manifest says something the runner cannot read (names the file and the test)."""


@dataclass(frozen=True)
class DataFile:
    """One data file and the graph it is loaded into."""

    path: Path
    graph: str


@dataclass(frozen=True)
class QueryTest:
    """A query-evaluation or result-format test: run ``query`` on a dataset, compare."""

    iri: str
    suite: str
    name: str
    kind: str  # "QueryEvaluationTest" or "CSVResultFormatTest"
    query: Path
    query_iri: str
    default_graphs: tuple[DataFile, ...]
    named_graphs: tuple[DataFile, ...]
    result: Path
    result_iri: str


@dataclass(frozen=True)
class SyntaxTest:
    """A positive (must run, 2xx) or negative (must be answered 400) syntax test."""

    iri: str
    suite: str
    name: str
    query: Path
    query_iri: str
    positive: bool


@dataclass(frozen=True)
class ProtocolRequest:
    """One HTTP request of a protocol test and what its answer must look like."""

    method: str
    path: str  # still starting with /sparql/, as in the manifest
    headers: tuple[tuple[str, str], ...]
    body: str | None
    body_encoding: str
    expected_status: frozenset[int]  # status classes: 2, 3, 4, 5
    expected_format: str | None  # "boolean", "tabular", "RDF"
    expected_boolean: bool | None

    @property
    def is_update(self) -> bool:
        """Whether this request asks for a SPARQL Update (which a read-only endpoint refuses)."""
        ctype = dict(self.headers).get("content-type", "")
        if ctype.startswith("application/sparql-update"):
            return True
        body = self.body or ""
        return body.startswith("update=") or "?update=" in self.path or "&update=" in self.path


@dataclass(frozen=True)
class ProtocolTest:
    """A SPARQL Protocol test: requests sent in order, each with its expected answer."""

    iri: str
    suite: str
    name: str
    requests: tuple[ProtocolRequest, ...]
    graph_data: tuple[DataFile, ...]

    @property
    def updates_successfully(self) -> bool:
        """An update the manifest expects to succeed: a read-only endpoint must refuse it."""
        return any(r.is_update and 2 in r.expected_status for r in self.requests)


@dataclass(frozen=True)
class ServiceDescriptionTest:
    """A service-description test: a bare GET on the endpoint answers with an sd:Service."""

    iri: str
    suite: str
    name: str
    check: str = field(default="")  # local name: returns-rdf, has-endpoint-triple, ...


Test = QueryTest | SyntaxTest | ProtocolTest | ServiceDescriptionTest


def file_iri(suite: str, filename: str) -> str:
    """The W3C IRI of a file of the suite (also the name of the graph it is loaded into)."""
    return f"{W3C_BASE}{suite}/{filename}"


def suite_names(suite_dir: Path = DEFAULT_SUITE_DIR) -> list[str]:
    """Known suites present in ``suite_dir``, in running order."""
    return [s for s in SUITE_KINDS if (suite_dir / s / "manifest.ttl").is_file()]


def load_suites(names: list[str], suite_dir: Path = DEFAULT_SUITE_DIR) -> list[Test]:
    """All tests of the named suites, in manifest order."""
    tests: list[Test] = []
    for name in names:
        tests.extend(load_suite(name, suite_dir))
    return tests


def load_suite(suite: str, suite_dir: Path = DEFAULT_SUITE_DIR) -> list[Test]:
    """The tests of one suite folder, in the order of its ``mf:entries``."""
    if suite not in SUITE_KINDS:
        raise ManifestError(f"unknown suite {suite!r}; known: {', '.join(SUITE_KINDS)}")
    folder = suite_dir / suite
    path = folder / "manifest.ttl"
    if not path.is_file():
        raise ManifestError(f"{path}: no such manifest")
    g = rdflib.Graph()
    try:
        g.parse(path, format="turtle", publicID=file_iri(suite, "manifest.ttl"))
    except Exception as exc:  # rdflib raises many types for bad Turtle
        raise ManifestError(f"{path}: cannot parse manifest: {exc}") from exc
    reader = _Reader(g, suite, folder, path)
    return list(reader.tests())


@dataclass
class _Reader:
    g: rdflib.Graph
    suite: str
    folder: Path
    manifest: Path

    def tests(self) -> Iterator[Test]:
        for m in self.g.subjects(RDF.type, MF.Manifest):
            entries = self.g.value(m, MF.entries)
            if entries is None:
                continue
            for entry in Collection(self.g, entries):
                if (entry, RDF.type, None) not in self.g:
                    continue  # listed but not described: nothing to run
                yield self._test(entry)

    def _fail(self, entry: Node, what: str) -> ManifestError:
        return ManifestError(f"{self.manifest}: test <{entry}>: {what}")

    def _local(self, node: Node | None, entry: Node) -> Path:
        """The file in the suite folder that the manifest IRI ``node`` names."""
        prefix = f"{W3C_BASE}{self.suite}/"
        if not isinstance(node, rdflib.URIRef) or not str(node).startswith(prefix):
            raise self._fail(entry, f"expected a file of the suite, got {node!r}")
        path = self.folder / str(node)[len(prefix) :]
        if not path.is_file():
            raise self._fail(entry, f"file {path} is missing")
        return path

    def _data(self, node: Node | None, entry: Node, graph: str | None = None) -> DataFile:
        path = self._local(node, entry)
        return DataFile(path=path, graph=graph or str(node))

    def _test(self, entry: Node) -> Test:
        g = self.g
        kind = str(g.value(entry, RDF.type)).rsplit("#", 1)[-1]
        name = str(g.value(entry, MF.name) or entry)
        iri = str(entry)
        if kind in ("PositiveSyntaxTest11", "NegativeSyntaxTest11"):
            action = g.value(entry, MF.action)
            return SyntaxTest(
                iri=iri,
                suite=self.suite,
                name=name,
                query=self._local(action, entry),
                query_iri=str(action),
                positive=kind.startswith("Positive"),
            )
        if kind in ("QueryEvaluationTest", "CSVResultFormatTest"):
            action = g.value(entry, MF.action)
            if action is None:
                raise self._fail(entry, "no mf:action")
            query = g.value(action, QT.query)
            result = g.value(entry, MF.result)
            return QueryTest(
                iri=iri,
                suite=self.suite,
                name=name,
                kind=kind,
                query=self._local(query, entry),
                query_iri=str(query),
                default_graphs=tuple(
                    sorted((self._data(d, entry) for d in g.objects(action, QT.data)), key=str)
                ),
                named_graphs=tuple(
                    sorted((self._data(d, entry) for d in g.objects(action, QT.graphData)), key=str)
                ),
                result=self._local(result, entry),
                result_iri=str(result),
            )
        if kind == "ProtocolTest":
            return self._protocol(entry, iri, name)
        if kind == "ServiceDescriptionTest":
            return ServiceDescriptionTest(
                iri=iri, suite=self.suite, name=name, check=iri.rsplit("#", 1)[-1]
            )
        raise self._fail(entry, f"unsupported test type {kind}")

    def _protocol(self, entry: Node, iri: str, name: str) -> ProtocolTest:
        g = self.g
        graph_data = []
        for gd in g.objects(entry, UT.graphData):
            label = g.value(gd, RDFS.label)
            graph_data.append(self._data(g.value(gd, UT.graph), entry, str(label or "") or None))
        action = g.value(entry, MF.action)
        reqs = g.value(action, HT.requests)
        if reqs is None:
            raise self._fail(entry, "no ht:requests")
        requests = []
        for req in Collection(g, reqs):
            headers: list[tuple[str, str]] = []
            hlist = g.value(req, HT.headers)
            if hlist is not None:
                for h in Collection(g, hlist):
                    headers.append(
                        (str(g.value(h, HT.fieldName)).lower(), str(g.value(h, HT.fieldValue)))
                    )
            body_node = g.value(req, HT.body)
            body = None if body_node is None else str(g.value(body_node, CNT.chars))
            encoding = "UTF-8"
            if body_node is not None and g.value(body_node, CNT.characterEncoding) is not None:
                encoding = str(g.value(body_node, CNT.characterEncoding))
            resp = g.value(req, HT.resp)
            statuses = frozenset(
                int(str(s).rsplit("StatusCode", 1)[-1][0])
                for s in g.objects(resp, MF.expectedStatus)
            )
            fmt = g.value(resp, MF.expectedFormat)
            boolean = g.value(resp, MF.expectedBoolean)
            requests.append(
                ProtocolRequest(
                    method=str(g.value(req, HT.methodName)),
                    path=str(g.value(req, HT.absolutePath)),
                    headers=tuple(headers),
                    body=body,
                    body_encoding=encoding,
                    expected_status=statuses,
                    expected_format=None if fmt is None else str(fmt),
                    expected_boolean=None if boolean is None else str(boolean) == "true",
                )
            )
        return ProtocolTest(
            iri=iri,
            suite=self.suite,
            name=name,
            requests=tuple(requests),
            graph_data=tuple(sorted(graph_data, key=str)),
        )
