"""Every research client as it is, against the real server over real HTTP.

``kg serve`` as deployed: uvicorn in its own process on 127.0.0.1, the embedded store (worker
processes) over the project's own build. Clients: SPARQLWrapper with every return format it
offers × GET/POST, rdflib's SPARQLStore, pandas reading CSV from /api and /sparql, and curl.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from urllib.parse import quote
from xml.dom.minidom import Document, Element, Text

import pandas as pd
import pytest
import rdflib
from rdflib.plugins.stores.sparqlstore import SPARQLStore
from SPARQLWrapper import (
    CSV,
    GET,
    JSON,
    JSONLD,
    N3,
    POST,
    RDFXML,
    TSV,
    TURTLE,
    XML,
    SPARQLWrapper,
)

from tests.support.real_data import build_real_data
from tests.support.servers import api_server

PREFIXES = """PREFIX gq: <https://w3id.org/gq-kg/ontology#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
"""
SELECT = PREFIXES + 'SELECT ?d ?code WHERE { ?d rdfs:label "惠水县"@zh ; gq:divisionCode ?code }'
ASK = PREFIXES + 'ASK { ?d gq:divisionCode "522731" }'
CONSTRUCT = PREFIXES + (
    'CONSTRUCT { ?d rdfs:label ?l } WHERE { ?d gq:divisionCode "522731" ; rdfs:label ?l }'
)
HUISHUI = "https://w3id.org/gq-kg/id/division/522731"
LABELS = {"惠水县", "Huishui County"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    var = tmp_path_factory.mktemp("matrix") / "var"
    build_real_data(var)
    env = {
        "KG_VAR_DIR": str(var),
        "KG_STORE": "embedded",
        "KG_QUERY_WORKERS": "1",
        "KG_CACHE_ENTRIES": "0",
    }
    with api_server(env) as url:
        yield url


def _wrapper(server: str, method: str, fmt: str, query: str) -> SPARQLWrapper:
    sparql = SPARQLWrapper(f"{server}/sparql")
    sparql.setMethod(method)
    sparql.setReturnFormat(fmt)
    sparql.setQuery(query)
    return sparql


def _text(node: Element) -> str:
    return "".join(c.data for c in node.childNodes if isinstance(c, Text))


def _select_codes(fmt: str, converted: object) -> set[str]:
    if fmt == JSON:
        assert isinstance(converted, dict)
        return {b["code"]["value"] for b in converted["results"]["bindings"]}
    if fmt == XML:
        assert isinstance(converted, Document)
        return {_text(node) for node in converted.getElementsByTagName("literal")}
    assert isinstance(converted, bytes)
    delimiter = "," if fmt == CSV else "\t"
    rows = list(csv.DictReader(io.StringIO(converted.decode()), delimiter=delimiter))
    key = "code" if fmt == CSV else "?code"
    return {row[key].strip('"') for row in rows}


@pytest.mark.parametrize("method", [GET, POST])
@pytest.mark.parametrize("fmt", [JSON, XML, CSV, TSV])
def test_sparqlwrapper_select(server: str, method: str, fmt: str) -> None:
    result = _wrapper(server, method, fmt, SELECT).query()
    assert _select_codes(fmt, result.convert()) == {"522731"}


@pytest.mark.parametrize("method", [GET, POST])
@pytest.mark.parametrize("fmt", [JSON, XML])
def test_sparqlwrapper_ask(server: str, method: str, fmt: str) -> None:
    converted = _wrapper(server, method, fmt, ASK).query().convert()
    if fmt == JSON:
        assert isinstance(converted, dict)
        assert converted["boolean"] is True
    else:
        assert isinstance(converted, Document)
        assert _text(converted.getElementsByTagName("boolean")[0]) == "true"


@pytest.mark.parametrize("method", [GET, POST])
@pytest.mark.parametrize("fmt", [TURTLE, N3, RDFXML, JSONLD, XML, JSON])
def test_sparqlwrapper_construct(server: str, method: str, fmt: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # its own "Accept */*" notice for JSON
        result = _wrapper(server, method, fmt, CONSTRUCT).query()
    content_type = result.response.headers["Content-Type"]
    converted = result.convert()
    if isinstance(converted, rdflib.Graph):
        graph = converted
    elif isinstance(converted, bytes):
        rdf_format = {TURTLE: "turtle", N3: "n3"}[fmt]
        graph = rdflib.Graph().parse(data=converted.decode(), format=rdf_format)
    else:  # JSON-LD as parsed JSON
        graph = rdflib.Graph().parse(data=json.dumps(converted), format="json-ld")
    labels = {str(o) for s, _, o in graph if str(s) == HUISHUI}
    assert labels == LABELS, content_type
    if fmt == N3:
        assert content_type.startswith("text/n3")


def test_duplicate_formats_that_disagree_are_400(server: str) -> None:
    url = f"{server}/sparql?query={quote(SELECT)}&format=csv&format=json"
    done = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", url],
        capture_output=True,
        check=True,
    )
    assert done.stdout == b"400"


def test_rdflib_sparqlstore(server: str) -> None:
    graph = rdflib.Graph(store=SPARQLStore(f"{server}/sparql", returnFormat="json"))
    rows = list(graph.query(SELECT))
    assert [(str(d), str(code)) for d, code in rows] == [(HUISHUI, "522731")]  # type: ignore[misc]
    assert graph.query(ASK).askAnswer is True


def test_pandas_reads_csv_from_api_and_sparql(server: str) -> None:
    url = f"{server}/api/pairings?party={quote('惠水')}&format=csv"
    table = pd.read_csv(url, dtype=str)  # codes are text (and the unknown rows have none)
    # 惠水县's own pairings, then the article's pairing of 黔南州10个县 it is (inferred) in.
    pairings = table[table["record"] == "pairing"]
    assert set(pairings["recipient.code"].astype(str)) == {"522731"}
    assert {"荔湾区", "南沙区"} <= set(pairings["helper.label"])
    via = table[table["record"] == "group-pairing"]
    assert via["via.group.id"].tolist() == ["id:group/qn-ten-counties"]
    search = pd.read_csv(f"{server}/api/search?q=luodian&format=csv")
    assert search["entity.label"].iloc[0] == "罗甸县"
    table = pd.read_csv(f"{server}/sparql?query={quote(SELECT)}&format=csv")
    assert table["code"].astype(str).tolist() == ["522731"]


def test_curl(server: str) -> None:
    curl = shutil.which("curl")
    assert curl is not None, "curl is part of the client matrix: install it (apt-get install curl)"
    done = subprocess.run(
        [curl, "-sS", "-G", f"{server}/api/pairings", "--data-urlencode", "party=罗甸县"],
        capture_output=True,
        check=True,
    )
    body = json.loads(done.stdout)
    assert body["status"] == "known"
    assert {p["helper"]["label"] for p in body["pairings"]} >= {"白云区"}
    done = subprocess.run(
        [curl, "-sS", "-H", "Accept: text/csv", "--data-urlencode", f"query={SELECT}",
         f"{server}/sparql"],
        capture_output=True,
        check=True,
    )  # fmt: skip
    assert done.stdout.decode().splitlines()[1].endswith(",522731")


@pytest.mark.parametrize("fmt", [None, "turtle", "json-ld", "nt", "xml"])
def test_rdflib_dereferences_an_entity_iri(server: str, fmt: str | None) -> None:
    # rdflib asks for its format first and */*;q=0.1 after it ("xml": RDF/XML, which an entity
    # once did not offer, so the HTML page came back and the RDF/XML parser failed on it).
    graph = rdflib.Graph()
    graph.parse(f"{server}/id/division/522731", format=fmt)
    labels = {str(o) for o in graph.objects(rdflib.URIRef(HUISHUI), rdflib.RDFS.label)}
    assert labels == LABELS


def test_head_answers_like_get_for_monitors_and_downloads(server: str) -> None:
    curl = shutil.which("curl")
    assert curl is not None, "curl is part of the client matrix: install it (apt-get install curl)"
    for path in ("/health", "/dataset.nq", "/api/search?q=luodian", "/reconcile"):
        done = subprocess.run(
            [curl, "-sS", "-I", "-o", "/dev/null", "-w", "%{http_code}", f"{server}{path}"],
            capture_output=True,
            check=True,
        )
        assert done.stdout == b"200", path


@pytest.mark.parametrize("fmt", [None, "turtle", "json-ld", "nt", "xml"])
def test_rdflib_dereferences_the_ontology(server: str, fmt: str | None) -> None:
    graph = rdflib.Graph()
    graph.parse(f"{server}/ontology", format=fmt)
    county = rdflib.URIRef("https://w3id.org/gq-kg/ontology#County")
    assert (county, rdflib.RDF.type, rdflib.OWL.Class) in graph
