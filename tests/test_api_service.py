"""Bare GET /sparql: the W3C service description with VoID counts; pages, dumps, health."""

from __future__ import annotations

import re
from collections.abc import Callable

import pyoxigraph as ox
import pytest
from fastapi.testclient import TestClient

from tests.conftest import BASE

SD = "http://www.w3.org/ns/sparql-service-description#"
VOID = "http://rdfs.org/ns/void#"
RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")

Term = ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple
Subject = ox.NamedNode | ox.BlankNode | ox.Triple


def parse(response_body: bytes, media_type: str) -> ox.Store:
    fmt = ox.RdfFormat.from_media_type(media_type)
    assert fmt is not None
    store = ox.Store()
    store.extend(ox.parse(response_body, format=fmt))
    return store


def as_subject(term: Term) -> Subject:
    assert not isinstance(term, ox.Literal), term
    return term


def one(data: ox.Store, subject: Term, predicate: str) -> ox.NamedNode | ox.BlankNode | ox.Literal:
    pattern = data.quads_for_pattern(as_subject(subject), ox.NamedNode(predicate), None)
    found = [q.object for q in pattern]
    assert len(found) == 1, (subject, predicate, found)
    obj = found[0]
    assert isinstance(obj, ox.NamedNode | ox.BlankNode | ox.Literal)
    return obj


def values(data: ox.Store, subject: Term, predicate: str) -> set[str]:
    found: set[str] = set()
    for q in data.quads_for_pattern(as_subject(subject), ox.NamedNode(predicate), None):
        assert not isinstance(q.object, ox.Triple), q.object
        found.add(q.object.value)
    return found


def service_node(data: ox.Store) -> Subject:
    nodes = [
        q.subject for q in data.quads_for_pattern(None, RDF_TYPE, ox.NamedNode(SD + "Service"))
    ]
    assert len(nodes) == 1
    return nodes[0]


@pytest.mark.parametrize(
    "media_type",
    ["text/turtle", "application/rdf+xml", "application/ld+json", "application/n-triples"],
)
def test_service_description_in_each_format(client: TestClient, media_type: str) -> None:
    response = client.get("/sparql", headers={"accept": media_type})
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    data = parse(response.content, media_type)
    service = service_node(data)
    assert one(data, service, SD + "endpoint") == ox.NamedNode("http://testserver/sparql")
    assert values(data, service, SD + "supportedLanguage") == {SD + "SPARQL11Query"}
    assert SD + "UnionDefaultGraph" in values(data, service, SD + "feature")
    assert SD + "BasicFederatedQuery" not in values(data, service, SD + "feature")


def test_default_description_is_turtle_and_endpoint_follows_the_url(client: TestClient) -> None:
    response = client.get("/sparql/")
    assert response.headers["content-type"].startswith("text/turtle")
    data = parse(response.content, "text/turtle")
    assert one(data, service_node(data), SD + "endpoint").value == "http://testserver/sparql/"


def test_void_counts_equal_the_real_counts(client: TestClient, mini_dataset: ox.Dataset) -> None:
    data = parse(client.get("/sparql").content, "text/turtle")
    dataset = one(data, service_node(data), SD + "defaultDataset")
    assert dataset == ox.NamedNode(BASE + "dataset")
    assert isinstance(dataset, ox.NamedNode)

    quads = list(mini_dataset)
    typed = {(q.subject, q.object) for q in quads if q.predicate == RDF_TYPE}
    classes: dict[str, set[object]] = {}
    for subject, cls in typed:
        classes.setdefault(cls.value, set()).add(subject)
    properties: dict[str, int] = {}
    for q in quads:
        properties[q.predicate.value] = properties.get(q.predicate.value, 0) + 1
    graphs: dict[str, int] = {}
    for q in quads:
        graphs[q.graph_name.value] = graphs.get(q.graph_name.value, 0) + 1

    def count(predicate: str, subject: Term = dataset) -> int:
        return int(one(data, subject, VOID + predicate).value)

    assert count("triples") == len(quads) == 45
    assert count("distinctSubjects") == len({q.subject for q in quads})
    assert count("distinctObjects") == len({q.object for q in quads})
    assert count("entities") == len({s for s, _ in typed})
    assert count("classes") == len(classes)
    assert count("properties") == len(properties)

    partitions = {}
    for q in data.quads_for_pattern(dataset, ox.NamedNode(VOID + "classPartition"), None):
        partitions[one(data, q.object, VOID + "class").value] = count("entities", q.object)
    assert partitions == {c: len(s) for c, s in classes.items()}

    by_property = {}
    for q in data.quads_for_pattern(dataset, ox.NamedNode(VOID + "propertyPartition"), None):
        by_property[one(data, q.object, VOID + "property").value] = count("triples", q.object)
    assert by_property == properties

    named = {}
    for q in data.quads_for_pattern(dataset, ox.NamedNode(SD + "namedGraph"), None):
        graph = one(data, q.object, SD + "graph")
        named[one(data, q.object, SD + "name").value] = count("triples", graph)
    assert named == graphs
    assert set(named) == {
        f"{BASE}graph/{g}" for g in ("ontology", "sources", "reference", "article")
    }

    assert one(data, dataset, VOID + "uriSpace").value == BASE + "id/"
    assert one(data, dataset, VOID + "sparqlEndpoint").value == "http://testserver/sparql"
    assert one(data, dataset, VOID + "vocabulary").value == "https://w3id.org/gq-kg/ontology#"
    for term in ("title", "description", "license"):
        one(data, dataset, "http://purl.org/dc/terms/" + term)
    source = one(data, dataset, "http://purl.org/dc/terms/source")
    assert source.value == BASE + "id/document/gq2023"


def test_a_description_does_not_wait_for_slow_statistics(
    web_app: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The VoID counts are whole-graph aggregates (20 s at 10M quads): past ServiceCache.wait
    the description is served without them while they keep counting, and carries them once
    they are in (served from cache then)."""
    import asyncio
    import threading
    import time

    from api import state

    from kg.sparql.service_description import collect_statistics as real

    release = threading.Event()
    calls: list[int] = []

    async def slow(*args: object, **kwargs: object) -> object:
        calls.append(1)
        # Counting, until the test lets it finish (5 s at most: a description that waited for
        # it then fails the test instead of hanging it).
        give_up = time.monotonic() + 5
        while not release.is_set() and time.monotonic() < give_up:
            await asyncio.sleep(0.01)
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("api.state.collect_statistics", slow)
    monkeypatch.setattr(state.ServiceCache, "wait", 0.05)
    client = web_app()
    accept = {"Accept": "text/turtle"}
    first = client.get("/sparql", headers=accept)  # answered while the counts are not in
    assert first.status_code == 200
    data = parse(first.content, "text/turtle")
    assert one(data, service_node(data), SD + "endpoint")
    assert not list(data.quads_for_pattern(None, ox.NamedNode(VOID + "triples"), None))
    assert client.get("/sparql", headers=accept).status_code == 200  # still counting: no rerun
    assert len(calls) == 1
    release.set()
    for _ in range(500):
        later = parse(client.get("/sparql", headers=accept).content, "text/turtle")
        if list(later.quads_for_pattern(None, ox.NamedNode(VOID + "triples"), None)):
            break
        time.sleep(0.01)
    else:
        pytest.fail("the counts never reached the description")
    assert len(calls) == 1


def test_description_honours_public_url_and_update_setting(
    web_app: Callable[..., TestClient],
) -> None:
    client = web_app(public_url="https://kg.example/api/", update_token="s3cret")
    data = parse(client.get("/sparql").content, "text/turtle")
    service = service_node(data)
    assert one(data, service, SD + "endpoint").value == "https://kg.example/api/sparql"
    assert SD + "SPARQL11Update" in values(data, service, SD + "supportedLanguage")
    dataset = one(data, service, SD + "defaultDataset")
    assert one(data, dataset, VOID + "dataDump").value == "https://kg.example/api/dataset.nq"


def test_description_features_follow_settings(web_app: Callable[..., TestClient]) -> None:
    client = web_app(allow_service=True, union_default_graph=False)
    data = parse(client.get("/sparql").content, "text/turtle")
    features = values(data, service_node(data), SD + "feature")
    assert features == {SD + "BasicFederatedQuery"}


def test_browser_gets_the_query_page(client: TestClient) -> None:
    chrome = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = client.get("/sparql", headers={"accept": chrome}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/query"
    page = client.get("/sparql", headers={"accept": chrome})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="yasgui"' in page.text
    assert "/static/query-page.js" in page.text
    script = client.get("/static/query-page.js")
    assert script.status_code == 200
    assert "fetch(" in script.text


def test_pages_load_nothing_remote(client: TestClient) -> None:
    # Loading means src= and <link href=>; a plain <a href="http..."> to a source is navigation.
    loads_remote = re.compile(r'src="(?:https?:)?//|<link[^>]*href="(?:https?:)?//')
    for path in ("/", "/query", "/api/docs", "/static/query-page.js", "/static/style.css"):
        body = client.get(path).text
        assert "//cdn" not in body
        assert not loads_remote.search(body), path
    chrome = "text/html,*/*;q=0.8"
    page = client.get("/sparql", headers={"accept": chrome}).text
    assert 'src="http' not in page
    assert 'href="http' not in page


def test_landing_page_links_endpoint_dump_and_docs(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    for link in ('href="/sparql"', 'href="/dataset.nq"', 'href="/docs/endpoint"'):
        assert link in response.text
    doc = client.get("/docs/endpoint")
    assert doc.status_code == 200
    assert "# " in doc.text


def test_health(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["version"]


def test_dump_nq_and_trig(web_app: Callable[..., TestClient], mini_dataset: ox.Dataset) -> None:
    client = web_app()
    for ext, media_type in (("nq", "application/n-quads"), ("trig", "application/trig")):
        response = client.get(f"/dataset.{ext}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(media_type)
        assert set(parse(response.content, media_type)) == set(mini_dataset)
        assert response.headers["etag"]
        again = client.get(f"/dataset.{ext}", headers={"if-none-match": response.headers["etag"]})
        assert again.status_code == 304
    missing = client.get("/dataset.xlsx")
    assert missing.status_code == 404
    assert "/dataset.nq" in missing.json()["error"]["message"]


def test_dump_is_404_with_a_clear_message_for_a_remote_store(
    web_app: Callable[..., TestClient],
) -> None:
    client = web_app(store="remote", remote_url="http://127.0.0.1:9/sparql", dataset_file=None)
    response = client.get("/dataset.nq")
    assert response.status_code == 404
    assert "remote SPARQL endpoint" in response.json()["error"]["message"]
