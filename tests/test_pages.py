"""Pages at every IRI, the home page, the competency questions, search, query and API docs.

Over the fixture data (tests/fixtures/mini.trig) and a hostile dataset (hostile.trig: markup,
script, quotes, template syntax and ``javascript:`` IRIs in labels, sentences and values),
through the real app and an in-process store. The browser tests (tests/browser) check the
same pages in Chromium.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pyoxigraph as ox
import pytest
from api.routers.query import VENDOR, YASGUI_BUILD
from fastapi.testclient import TestClient

from tests.conftest import FIXTURES, MINI
from tests.fixtures.memory_store import MemoryStore

HOSTILE = FIXTURES / "hostile.trig"
BASE = "https://w3id.org/gq-kg/"
HAIZHU = BASE + "id/division/440105"
SANDU = BASE + "id/division/522732"
SENTENCE = "/id/document/gq2023/s/13-1"
GQ = BASE + "ontology#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


@pytest.fixture
def mini(web_app: Callable[..., TestClient]) -> TestClient:
    return web_app()


@pytest.fixture
def hostile(web_app: Callable[..., TestClient]) -> TestClient:
    return web_app(MemoryStore(HOSTILE), dataset_file=HOSTILE)


def triples(body: bytes, fmt: ox.RdfFormat) -> set[tuple[str, str, str]]:
    return {(str(t.subject), str(t.predicate), str(t.object)) for t in ox.parse(body, format=fmt)}


# --- a page at every IRI --------------------------------------------------------------------


def test_entity_page_shows_labels_types_and_facts(mini: TestClient) -> None:
    response = mini.get("/id/division/440105", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "海珠区" in page
    assert "Haizhu District" in page
    assert "440105" in page
    assert 'href="/ontology#Division"' in page


def test_pairings_show_both_ways_with_their_sentences(hostile: TestClient) -> None:
    """A pairing (a gq:Claim by the ontology's hierarchy) is shown whole on both parties."""
    helper = hostile.get("/id/division/440105").text
    assert 'id="pairings"' in helper
    assert 'href="/id/division/522732"' in helper
    assert 'href="/id/document/evil/s/1-1"' in helper
    assert 'href="/id/pairing/evil"' in helper
    recipient = hostile.get("/id/division/522732").text
    assert 'id="pairings"' in recipient
    assert 'href="/id/division/440105"' in recipient
    assert 'href="/id/document/evil/s/1-1"' in recipient
    unknown = hostile.get("/id/division/522729").text
    assert 'id="unknown"' in unknown
    assert 'href="/id/unknown/changshun"' in unknown


def test_sentence_page_lists_the_plain_relations_it_states(hostile: TestClient) -> None:
    page = hostile.get("/id/document/evil/s/1-2").text
    section = page.split('id="stated-here"', 1)[1].split("</section>", 1)[0]
    assert 'href="/id/division/522732"' in section
    assert 'href="/id/division/522700"' in section
    # The statement node itself is not a "linked from" row on the county's page.
    county = hostile.get("/id/division/522732").text
    incoming = county.split('id="incoming"', 1)[1]
    assert "/id/statement/" not in incoming
    assert "/id/document/evil/s/1-2" in county.split('id="facts"', 1)[1].split("</section>")[0]


def test_sentence_page_shows_its_text_and_the_claims_stated_in_it(mini: TestClient) -> None:
    page = mini.get(SENTENCE).text
    assert "广州市海珠区、荔湾区、白云区和黄埔区与黔南州10个县开展结对帮扶工作" in page
    assert 'href="/id/document/gq2023"' in page
    assert re.search(r'href="/id/pairing/[^"]+"', page)


def test_unknown_id_is_a_404_page_for_browsers_and_json_for_clients(mini: TestClient) -> None:
    page = mini.get("/id/division/999999", headers={"accept": "text/html"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Not found" in page.text
    data = mini.get("/id/division/999999", headers={"accept": "application/json"})
    assert data.status_code == 404
    assert data.json()["error"]["code"] == "not_found"
    turtle = mini.get("/id/division/999999.ttl")
    assert turtle.status_code == 404
    assert turtle.json()["error"]["status"] == 404
    odd = mini.get("/id/division/a%20b%3Cc%3E")
    assert odd.status_code == 404


@pytest.mark.parametrize(
    ("suffix", "accept", "media_type", "fmt"),
    [
        (".ttl", None, "text/turtle", ox.RdfFormat.TURTLE),
        (".nt", None, "application/n-triples", ox.RdfFormat.N_TRIPLES),
        (".jsonld", None, "application/ld+json", ox.RdfFormat.JSON_LD),
        (".rdf", None, "application/rdf+xml", ox.RdfFormat.RDF_XML),
        ("", "text/turtle", "text/turtle", ox.RdfFormat.TURTLE),
        ("", "application/n-triples", "application/n-triples", ox.RdfFormat.N_TRIPLES),
        ("", "application/ld+json", "application/ld+json", ox.RdfFormat.JSON_LD),
        ("", "application/json", "application/ld+json", ox.RdfFormat.JSON_LD),
        ("", "application/rdf+xml", "application/rdf+xml", ox.RdfFormat.RDF_XML),
        # rdflib's Graph().parse(url, format="xml"): RDF/XML, not the HTML page.
        ("", "application/rdf+xml, */*;q=0.1", "application/rdf+xml", ox.RdfFormat.RDF_XML),
    ],
)
def test_rdf_formats_by_extension_or_accept_say_the_same(
    mini: TestClient, suffix: str, accept: str | None, media_type: str, fmt: ox.RdfFormat
) -> None:
    headers = {"accept": accept} if accept else {}
    response = mini.get(f"/id/division/440105{suffix}", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert "Accept" in response.headers["vary"]
    got = triples(response.content, fmt)
    reference = triples(mini.get("/id/division/440105.nt").content, ox.RdfFormat.N_TRIPLES)
    assert got == reference
    label = (f"<{HAIZHU}>", "<http://www.w3.org/2000/01/rdf-schema#label>", '"海珠区"@zh')
    assert label in got
    # Incoming statements are part of the description: the pairing names Haizhu as helper.
    assert any(p.endswith("#helper>") and o == f"<{HAIZHU}>" for _, p, o in got)


def test_jsonld_has_a_context_and_compact_iris(mini: TestClient) -> None:
    document = mini.get("/id/division/440105.jsonld").json()
    context = document["@context"]
    assert context["gq"] == "https://w3id.org/gq-kg/ontology#"
    assert context["id"] == BASE + "id/"
    ids = {node["@id"] for node in document["@graph"]}
    assert "id:division/440105" in ids


def test_browsers_and_star_get_html_and_unacceptable_is_406(mini: TestClient) -> None:
    chrome = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    for accept in (chrome, "*/*", None):
        headers = {"accept": accept} if accept else {}
        response = mini.get("/id/division/440105", headers=headers)
        assert response.headers["content-type"].startswith("text/html"), accept
    assert mini.get("/id/division/440105", headers={"accept": "image/png"}).status_code == 406
    link = mini.get("/id/division/440105").headers["link"]
    assert '</id/division/440105.ttl>; rel="alternate"; type="text/turtle"' in link
    assert '</id/division/440105.rdf>; rel="alternate"; type="application/rdf+xml"' in link


def test_rdf_xml_refuses_a_value_xml_cannot_carry(
    web_app: Callable[..., TestClient], tmp_path: Path
) -> None:
    # U+0007 is legal in RDF and Turtle, impossible in XML 1.0 (not even as &#7;).
    data = tmp_path / "bell.trig"
    data.write_text(
        MINI.read_text(encoding="utf-8")
        + '<https://w3id.org/gq-kg/graph/reference> { div:440105 rdfs:comment "bell\\u0007" . }\n',
        encoding="utf-8",
    )
    client = web_app(MemoryStore(data))
    refused = client.get("/id/division/440105.rdf")
    assert refused.status_code == 406
    error = refused.json()["error"]
    assert error["code"] == "xml_unsafe_result"
    assert "U+0007" in error["message"]
    assert "text/turtle" in error["message"]
    turtle = client.get("/id/division/440105.ttl")
    assert turtle.status_code == 200
    comments = {
        t.object.value
        for t in ox.parse(turtle.content, format=ox.RdfFormat.TURTLE)
        if t.predicate.value.endswith("#comment")
    }
    assert comments == {"bell\u0007"}
    # Another resource, without the character, is still served as RDF/XML.
    assert client.get("/id/division/522732.rdf").status_code == 200


@pytest.mark.parametrize(
    ("accept", "media_type", "fmt"),
    [
        ("text/turtle", "text/turtle", ox.RdfFormat.TURTLE),
        ("application/ld+json", "application/ld+json", ox.RdfFormat.JSON_LD),
        ("application/n-triples", "application/n-triples", ox.RdfFormat.N_TRIPLES),
        ("application/rdf+xml", "application/rdf+xml", ox.RdfFormat.RDF_XML),
        # rdflib's Graph().parse(url, format="xml"); Protégé asks much the same.
        ("application/rdf+xml, */*;q=0.1", "application/rdf+xml", ox.RdfFormat.RDF_XML),
    ],
)
def test_ontology_iri_negotiates_every_rdf_format(
    mini: TestClient, accept: str, media_type: str, fmt: ox.RdfFormat
) -> None:
    # The ontology IRI answered Turtle or else its HTML page: RDF/XML, JSON-LD and N-Triples
    # clients got HTML (200) and failed to parse it.
    response = mini.get("/ontology", headers={"accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert "Accept" in response.headers["vary"]  # the Turtle answer lacked it
    reference = triples(mini.get("/ontology.ttl").content, ox.RdfFormat.TURTLE)
    assert len(reference) > 100
    # Blank nodes (OWL lists, restrictions) get new labels in each parse: compare the rest.
    assert {t for t in triples(response.content, fmt) if "_:" not in "".join(t)} == {
        t for t in reference if "_:" not in "".join(t)
    }
    ext = {"text/turtle": "ttl", "application/ld+json": "jsonld"}.get(media_type)
    ext = ext or {"application/n-triples": "nt", "application/rdf+xml": "rdf"}[media_type]
    assert mini.get(f"/ontology.{ext}").content == response.content
    assert f'</ontology.{ext}>; rel="alternate"; type="{media_type}"' in response.headers["link"]
    # Every format carries a validator, and revalidates to a 304 (the converted ones had none).
    tag = response.headers["etag"]
    again = mini.get("/ontology", headers={"accept": accept, "if-none-match": tag})
    assert again.status_code == 304
    assert again.headers["etag"] == tag
    assert mini.get(f"/ontology.{ext}", headers={"if-none-match": tag}).status_code == 304


@pytest.mark.parametrize("path", ["/dataset", "/graph/article", "/graph/reference"])
def test_dataset_and_graph_iris_dereference_to_their_description(
    mini: TestClient, path: str
) -> None:
    # The service description names <{base}dataset> (void:Dataset) and every graph by its
    # IRI (sd:name); a Linked Data client following them got a 404.
    rdf = mini.get(path, headers={"accept": "text/turtle"}, follow_redirects=False)
    assert rdf.status_code == 303
    assert rdf.headers["location"] == "/sparql"
    assert "Accept" in rdf.headers["vary"]
    description = mini.get(path, headers={"accept": "text/turtle"})
    assert description.headers["content-type"].startswith("text/turtle")
    iri = f"<{BASE}{path.lstrip('/')}>"
    described = triples(description.content, ox.RdfFormat.TURTLE)
    assert any(iri in (s, o) for s, _, o in described), iri
    browser = mini.get(path, headers={"accept": "text/html"}, follow_redirects=False)
    assert browser.status_code == 303
    assert browser.headers["location"] == "/"


def test_unknown_graph_iri_is_404(mini: TestClient) -> None:
    response = mini.get("/graph/nope", headers={"accept": "text/turtle"})
    assert response.status_code == 404
    assert "no named graph" in response.json()["error"]["message"]


def test_ontology_in_an_unoffered_format_is_406(mini: TestClient) -> None:
    refused = mini.get("/ontology", headers={"accept": "image/png"})
    assert refused.status_code == 406
    assert "application/rdf+xml" in refused.json()["error"]["message"]
    assert mini.get("/ontology.xyz").status_code == 404


def test_ontology_page_has_an_anchor_per_term_and_turtle(mini: TestClient) -> None:
    page = mini.get("/ontology").text
    assert 'id="Pairing"' in page
    assert "结对帮扶" in page
    turtle = mini.get("/ontology.ttl")
    assert turtle.status_code == 200
    assert turtle.headers["content-type"].startswith("text/turtle")
    assert triples(turtle.content, ox.RdfFormat.TURTLE)
    by_accept = mini.get("/ontology", headers={"accept": "text/turtle"})
    assert by_accept.headers["content-type"].startswith("text/turtle")
    # Term links on entity pages lead to these anchors.
    assert 'href="/ontology#Division"' in mini.get("/id/division/440105").text


# --- home, questions, search, query, API docs --------------------------------------------


def test_home_page_marks_counties_without_partner_unknown_with_the_source(
    hostile: TestClient,
) -> None:
    page = hostile.get("/").text
    table = page.split('id="county-table"', 1)[1].split("</table>", 1)[0]
    rows = table.split("<tr")
    changshun = next(r for r in rows if "长顺县" in r)
    assert "unknown" in changshun
    assert 'href="/id/unknown/changshun"' in changshun
    assert 'href="/id/document/evil/s/1-1"' in changshun
    sandu = next(r for r in rows if "/id/division/522732" in r)
    assert "unknown" not in sandu
    assert 'href="/id/division/440105"' in sandu
    for link in ('href="/query"', 'href="/api/docs"', 'href="/dataset.nq"', 'href="/cq/'):
        assert link in page


def test_competency_question_pages(mini: TestClient) -> None:
    listing = mini.get("/cq").text
    names = re.findall(r'href="/cq/([^"]+)"', listing)
    assert len(names) >= 30
    page = mini.get("/cq/cq01-district-county-pairings")
    assert page.status_code == 200
    assert 'id="answer"' in page.text
    assert "SELECT" in page.text
    assert "<th>?district</th>" in page.text
    ask = mini.get("/cq/cq33-ask-changshun-partner").text
    assert 'id="answer-boolean"' in ask
    assert mini.get("/cq/no-such-question").status_code == 404


def test_search_page_finds_names_without_javascript(mini: TestClient) -> None:
    page = mini.get("/search", params={"q": "haizhu"}).text
    assert 'href="/id/division/440105"' in page
    assert mini.get("/search", params={"q": "海珠"}).status_code == 200
    nothing = mini.get("/search", params={"q": "zzzz-not-a-name"}).text
    assert "Nothing found" in nothing
    assert mini.get("/search").status_code == 200
    long = mini.get("/search", params={"q": "惠" * 2_000})
    assert long.status_code == 200
    county = mini.get("/search", params={"q": "haizhu", "type": "Division"})
    assert 'href="/id/division/440105"' in county.text
    # A class that does not exist: said so (it found nothing, as if there were no such place).
    typo = mini.get("/search", params={"q": "haizhu", "type": "Divisionn<b>"})
    assert typo.status_code == 400
    assert "&#39;Divisionn&lt;b&gt;&#39; is not a class" in typo.text
    assert "is not a class of the ontology" in mini.get("/search?q=a&type=Divisionn").text
    assert 'href="/id/division/440105"' not in typo.text


def test_query_page_serves_yasgui_from_the_package_and_examples(mini: TestClient) -> None:
    page = mini.get("/query").text
    for asset in ("/static/vendor/yasgui/yasgui.min.js", "/static/vendor/yasgui/yasgui.min.css"):
        assert asset in page
        assert mini.get(asset).status_code == 200
    policy = mini.get("/query").headers["content-security-policy"]
    assert "script-src 'self';" in policy  # YASR's inline styles are allowed, scripts never
    assert "style-src 'self' 'unsafe-inline'" in policy
    examples = mini.get("/query/examples.json").json()
    assert len(examples["examples"]) >= 30
    assert all(e["query"].strip() for e in examples["examples"])
    assert "gq:Pairing" in mini.get("/query/terms.json").json()


def test_api_docs_are_swagger_ui_served_here(mini: TestClient) -> None:
    page = mini.get("/api/docs").text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page
    assert "<script>" not in page  # no inline script: the CSP is default-src 'self'
    assert mini.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert mini.get("/static/api-docs.js").status_code == 200
    schema = mini.get("/api/openapi.json").json()
    assert schema["openapi"].startswith("3.")


@pytest.mark.parametrize(
    "path",
    [
        "/static/vendor/swagger-ui/index.html",  # the Petstore demo: fetches petstore.swagger.io
        "/static/vendor/swagger-ui/swagger-initializer.js",
        "/static/vendor/swagger-ui/oauth2-redirect.html",
        "/static/vendor/swagger-ui/package.json",
        "/static/vendor/yasgui/yasgui.esm.js",
        "/static/vendor/yasgui/ts/src/Tab.d.ts",
    ],
)
def test_only_the_vendor_files_the_pages_load_are_served(mini: TestClient, path: str) -> None:
    """The npm packages' folders were served whole: swagger-ui-dist's stock index.html is a
    page of this origin whose script reaches https://petstore.swagger.io (only the CSP
    stopped it)."""
    package = (VENDOR / "swagger-ui-dist") if "swagger-ui" in path else YASGUI_BUILD
    local = path.rsplit("/vendor/", 1)[1].split("/", 1)[1]
    assert (package / local).is_file(), path  # the file is there
    assert mini.get(path).status_code == 404


# --- hostile data is text everywhere --------------------------------------------------------

_HOSTILE_PAGES = (
    "/",
    "/id/division/440105",
    "/id/division/522732",
    "/id/division/522729",
    "/id/document/evil/s/1-1",
    "/id/document/evil",
    "/id/pairing/evil",
    "/id/unknown/changshun",
    "/ontology",
)


class _Elements(HTMLParser):
    """Every start tag of a page with its attributes (what a browser would build)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def elements(page: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Elements()
    parser.feed(page)
    parser.close()
    return parser.tags


@pytest.mark.parametrize("path", _HOSTILE_PAGES)
def test_hostile_text_stays_text(hostile: TestClient, path: str) -> None:
    response = hostile.get(path, headers={"accept": "text/html"})
    assert response.status_code == 200, path
    # The one legitimate frame: the entity's own network map (kg's /maps/entity/ route).
    tags = [
        (tag, attrs)
        for tag, attrs in elements(response.text)
        if not (tag == "iframe" and attrs.get("src", "").startswith("/maps/entity/"))
    ]
    names = {tag for tag, _ in tags}
    assert not names & {"img", "svg", "iframe", "b", "title"} - {"title"}, (path, names)
    assert sum(1 for tag, _ in tags if tag == "title") == 1
    for tag, attrs in tags:
        assert not [a for a in attrs if a.startswith("on")], (path, tag, attrs)
        for name in ("href", "src"):
            assert not attrs.get(name, "").strip().lower().startswith("javascript:"), path
        # Our own scripts only, all from files (no inline script: CSP default-src 'self').
        if tag == "script":
            assert attrs.get("src", "").startswith("/static/"), (path, attrs)


def test_hostile_text_is_shown_escaped(hostile: TestClient) -> None:
    page = hostile.get("/id/division/440105").text
    assert "&lt;img src=x onerror=alert(&#39;label&#39;)&gt;" in page
    sandu = hostile.get("/id/division/522732").text
    assert "{{ 7*7 }} ${7*7} Sandu" in sandu  # not evaluated as a template
    sentence = hostile.get("/id/document/evil/s/1-1").text
    assert "&lt;/script&gt;&lt;script&gt;alert(&#39;sentence&#39;)" in sentence
    document = hostile.get("/id/document/evil").text
    assert "javascript:alert(&#39;url&#39;)" in document  # shown as text, not as a link


def test_hostile_rdf_round_trips(hostile: TestClient) -> None:
    for ext, fmt in (("ttl", ox.RdfFormat.TURTLE), ("jsonld", ox.RdfFormat.JSON_LD)):
        body = hostile.get(f"/id/division/440105.{ext}").content
        reference = hostile.get("/id/division/440105.nt").content
        assert triples(body, fmt) == triples(reference, ox.RdfFormat.N_TRIPLES)
    json.loads(hostile.get("/id/document/evil.jsonld").content)


def test_page_queries_are_named_files() -> None:
    from kg.config import project_root
    from kg.queries import load_queries

    queries = load_queries(project_root() / "ontology" / "queries" / "pages")
    assert {"page-facts", "page-claims", "page-incoming", "page-graph", "page-terms"} <= set(
        queries
    )
    for query in queries.values():
        assert "page" in query.tags


def test_period_bounds_are_shown_as_precise_as_the_source() -> None:
    from api.render import period_bound

    gq = "https://w3id.org/gq-kg/ontology#"
    assert period_bound("2021-01-01", gq + "YearPrecision") == "2021"
    assert period_bound("2021-03-01", gq + "MonthPrecision") == "2021-03"
    assert period_bound("2021-03-05", gq + "DayPrecision") == "2021-03-05"
    assert period_bound(None, gq + "Unknown") == "?"
    assert period_bound("2021", None) == "2021"


def test_pages_revalidate_with_etags(mini: TestClient) -> None:
    first = mini.get("/id/division/440105")
    tag = first.headers["etag"]
    assert tag.startswith('W/"')
    assert "max-age" in first.headers["cache-control"]
    again = mini.get("/id/division/440105", headers={"if-none-match": tag})
    assert again.status_code == 304
    assert again.content == b""
    # Another format is another representation: another tag.
    turtle = mini.get("/id/division/440105.ttl")
    assert turtle.headers["etag"] != tag
    assert mini.get("/id/division/440105.ttl", headers={"if-none-match": tag}).status_code == 200
    missing = mini.get("/id/division/999999")
    assert missing.status_code == 404
    assert "etag" not in missing.headers


def test_an_iri_with_chinese_letters_has_its_page_and_an_ascii_link_header(
    hostile: TestClient,
) -> None:
    """hostile.trig's ``id/document/三都``: the Link header (Latin-1 only) was built from the
    raw path, so the page of any IRI that is not ASCII was a 500 (UnicodeEncodeError)."""
    page = hostile.get("/id/document/三都")
    assert page.status_code == 200, page.text
    link = page.headers["link"]
    assert link.isascii()
    assert "</id/document/%E4%B8%89%E9%83%BD.ttl>" in link
    target = re.search(r"<([^>]+\.ttl)>", link)
    assert target is not None
    turtle = hostile.get(target.group(1))  # the link works as it is written
    assert turtle.status_code == 200
    assert (f"<{BASE}id/document/三都>", f"<{RDF_TYPE}>", f"<{GQ}Document>") in triples(
        turtle.content, ox.RdfFormat.TURTLE
    )
    tag = page.headers["etag"]
    assert hostile.get("/id/document/三都", headers={"if-none-match": tag}).status_code == 304


@pytest.mark.parametrize("suffix", ["", ".ttl"])
def test_if_none_match_star_is_a_304_only_where_a_representation_exists(
    hostile: TestClient, suffix: str
) -> None:
    """``If-None-Match: *`` matches a current representation (RFC 9110 §13.1.2): it was a 304
    for any path at all — an unknown id, an invalid one, and (with a CR or a Chinese letter in
    the path) a 500 or a dropped connection from the Link header of that 304."""
    star = {"if-none-match": "*"}
    assert hostile.get(f"/id/division/440105{suffix}", headers=star).status_code == 304
    assert hostile.get(f"/id/document/三都{suffix}", headers=star).status_code == 304
    for path in ("/id/division/999999", "/id/a%0Db", "/id/%E4%B8%8D%E5%9C%A8"):
        response = hostile.get(path + suffix, headers=star)
        assert response.status_code == 404, (path, response.status_code)
        assert "etag" not in response.headers
    # The endpoint: a 304 only for a query that has an answer.
    query = {"query": "ASK {}"}
    assert hostile.get("/sparql", params=query, headers=star).status_code == 304
    broken = hostile.get("/sparql", params={"query": "ASK {"}, headers=star)
    assert broken.status_code == 400


@pytest.mark.parametrize("path", ["/", "/ontology", "/cq", "/search?q=x"])
def test_head_answers_like_get_without_a_body(mini: TestClient, path: str) -> None:
    head, get = mini.head(path), mini.get(path)
    assert head.status_code == get.status_code == 200
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.content == b""


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    "path", ["/nope", "/maps/nope", "/ontologyy", "/nope/%3Cscript%3Ealert(1)"]
)
def test_an_unknown_url_is_an_error_page_for_a_browser_and_json_for_programs(
    mini: TestClient, path: str
) -> None:
    """A browser (text/html ranked first) gets the site's 404 page, with the path as text;
    curl, scripts and the API's clients keep the JSON error body."""
    page = mini.get(path, headers={"Accept": BROWSER_ACCEPT})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "404" in page.text
    assert "<script>" not in page.text
    assert "content-security-policy" in page.headers
    for accept in ("*/*", "application/json", "application/json, text/html;q=0.5"):
        answer = mini.get(path, headers={"Accept": accept})
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"
    assert mini.get(path).json()["error"]["status"] == 404  # no Accept at all
    # Programs' paths stay JSON whatever the browser asks for.
    api = mini.get("/api/nope", headers={"Accept": BROWSER_ACCEPT})
    assert api.headers["content-type"] == "application/json"
