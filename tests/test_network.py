"""The network: projection, filters, analysis, maps (as HTML), exports, over the real build and a
hostile fixture. Expected values come from the data itself (direct SPARQL), not from the code."""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from api.app import create_app
from fastapi.testclient import TestClient

from kg.errors import BadParameter, NotFound
from kg.network.analysis import (
    bipartite,
    centrality,
    compare_periods,
    components,
    shortest_paths,
)
from kg.network.export import export_network
from kg.network.outlines import containing_codes, outline
from kg.network.project import Filters, active_in, filter_network, year_of
from kg.network.render import MapOptions, render_map
from kg.network.service import MapRequest, build_map, find_node, parse_period
from tests.conftest import mini_settings
from tests.fixtures.memory_store import MemoryStore
from tests.network_support import ID, build_real, hostile_dataset, load, map_data, truth

HUANGPU = f"{ID}division/440112"
SANDU = f"{ID}division/522732"
BASE_IRI = "https://w3id.org/gq-kg/"
GQ = "PREFIX gq: <https://w3id.org/gq-kg/ontology#>\n"


@pytest.fixture(scope="session")
def real_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_real(tmp_path_factory.mktemp("network-build") / "var")


@pytest.fixture(scope="session")
def real(real_dataset: Path) -> nx.MultiDiGraph:
    return load(real_dataset)


@pytest.fixture(scope="session")
def hostile_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hostile_dataset(tmp_path_factory.mktemp("network-hostile"))


@pytest.fixture(scope="session")
def hostile(hostile_file: Path) -> nx.MultiDiGraph:
    return load(hostile_file)


@pytest.fixture(scope="session")
def api(real_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = mini_settings(tmp_path_factory.mktemp("network-api"), dataset_file=real_dataset)
    with TestClient(create_app(settings, store=MemoryStore(real_dataset))) as client:
        yield client


# --- projection ------------------------------------------------------------------------------


def test_every_pairing_between_entities_is_one_edge_with_its_level(
    real: nx.MultiDiGraph, real_dataset: Path
) -> None:
    rows = truth(
        real_dataset,
        GQ + "SELECT ?p ?h ?r ?l WHERE { ?p a gq:Pairing ; gq:helper ?h ;"
        " gq:recipient ?r ; gq:level ?l }",
    )
    assert rows, "the build has pairings"
    edges = {
        d["claim"]: (u, v, d["level"])
        for u, v, d in real.edges(data=True)
        if d["relation"] == "Pairing"
    }
    expected = {
        r["p"].value: (r["h"].value, r["r"].value, r["l"].value.split("#")[1]) for r in rows
    }
    assert edges == expected


def test_a_pairing_edge_carries_period_evidence_and_the_sentence(real: nx.MultiDiGraph) -> None:
    facts = list((real.get_edge_data(HUANGPU, SANDU) or {}).values())
    assert {year_of(d["start"]) for d in facts} == {2016, 2021}
    for fact in facts:
        assert fact["evidence"] in {"stated", "inferred"}
        assert fact["citations"], fact
        assert all(c["text"] and c["sentence"].startswith(ID) for c in fact["citations"])


def test_aggregate_pairings_are_one_weighted_edge_labelled_with_counts(
    real: nx.MultiDiGraph,
) -> None:
    schools = real.get_edge_data(f"{ID}group/gz-282-schools", f"{ID}group/qn-328-schools")
    assert schools is not None
    assert len(schools) == 1
    (edge,) = schools.values()
    assert edge["label"] == "282 ↔ 328"
    assert edge["weight"] == 328
    assert real.nodes[f"{ID}group/gz-282-schools"]["member_count"] == 282


def test_plain_relations_have_a_sentence(real: nx.MultiDiGraph) -> None:
    part_of = [d for _, _, d in real.edges(data=True) if d["relation"] == "partOf"]
    assert part_of
    assert all(d["citations"] for d in part_of)


def test_nodes_have_types_labels_and_coordinates(real: nx.MultiDiGraph) -> None:
    sandu = real.nodes[SANDU]
    assert sandu["kind"] == "AutonomousCounty"
    assert sandu["label_zh"] == "三都水族自治县"
    assert sandu["code"] == "522732"
    assert 25 < sandu["lat"] < 27
    assert 107 < sandu["long"] < 108
    # Sentences, claims and concepts are not nodes.
    kinds = {d["kind"] for _, d in real.nodes(data=True)}
    assert not kinds & {"Sentence", "Pairing", "Statistic", "PairingLevel", "Unit"}


def test_unknown_counties_are_those_the_named_query_calls_unknown(
    real: nx.MultiDiGraph, real_dataset: Path
) -> None:
    from kg.queries import get_query
    from tests.network_support import QUERIES

    query = get_query("county-partners", QUERIES).text.replace(
        "?prefecture gq:divisionCode ?prefectureCode .",
        '?prefecture gq:divisionCode "522700" .',
    )
    rows = truth(real_dataset, query)
    expected = {r["county"].value for r in rows if r["status"].value == "unknown"}
    unknown = {n for n, d in real.nodes(data=True) if d.get("unknown")}
    assert unknown == expected
    assert unknown, "Qiannan has counties without a known partner district"


def test_claims_keep_every_sentence_and_statement_provenance_wins(
    hostile: nx.MultiDiGraph,
) -> None:
    (pairing,) = hostile.get_edge_data(f"{ID}division/440199", f"{ID}division/522799").values()
    assert sorted(c["sentence"] for c in pairing["citations"]) == [
        f"{ID}document/h/s/1-1",
        f"{ID}document/h/s/2-1",
    ]
    (part_of,) = hostile.get_edge_data(f"{ID}division/522799", f"{ID}division/522700").values()
    assert [c["sentence"] for c in part_of["citations"]] == [f"{ID}document/h/s/2-1"]
    both = hostile.get_edge_data(f"{ID}division/440199", f"{ID}division/440100").values()
    grades = {d["relation"]: d["evidence"] for d in both}
    # Asserted without a sentence: no grade to show (drawn solid); only entailed: inferred.
    assert grades == {"partOf": "", "locatedIn": "inferred"}


def test_explicit_unknown_is_marked_with_its_citation(hostile: nx.MultiDiGraph) -> None:
    node = hostile.nodes[f"{ID}division/522798"]
    assert node["unknown"] is True
    assert [c["text"] for c in node["unknown_citations"]] == ["无资料记载其结对区"]


# --- filters ---------------------------------------------------------------------------------


def test_periods_and_years() -> None:
    assert parse_period("2019") == (2019, 2019)
    assert parse_period("2016-2020") == (2016, 2020)
    assert parse_period("2021-") == (2021, 9999)
    assert parse_period("") is None
    for bad in ("20", "2020-2016", "x", "2016--2020"):
        with pytest.raises(BadParameter):
            parse_period(bad)
    assert active_in("2016", "2020", 2020, 2020)
    assert not active_in("2016", "2020", 2021, 2030)
    assert active_in("2021-03-01", None, 2030, 2030)
    assert not active_in("2022", None, 2016, 2020)


def test_year_filter_keeps_edges_active_then(real: nx.MultiDiGraph) -> None:
    first_round = filter_network(real, Filters(years=(2016, 2020)))
    for _, _, d in first_round.edges(data=True):
        assert active_in(d["start"], d["end"], 2016, 2020)
    spans = {(d["start"], d["end"]) for d in first_round.get_edge_data(HUANGPU, SANDU).values()}
    assert all(year_of(s) == 2016 for s, _ in spans)


def test_neighbourhood_types_levels_and_evidence(real: nx.MultiDiGraph) -> None:
    near = filter_network(real, Filters(center=SANDU, hops=1))
    assert set(near) == {SANDU} | set(real.predecessors(SANDU)) | set(real.successors(SANDU))
    counties = filter_network(real, Filters(types=frozenset({"County"})))
    assert {d["kind"] for _, d in counties.nodes(data=True)} <= {"County", "AutonomousCounty"}
    levels = filter_network(real, Filters(levels=frozenset({"SchoolToSchool"})))
    assert {d["level"] for _, _, d in levels.edges(data=True)} == {"SchoolToSchool"}
    inferred = filter_network(real, Filters(evidence=frozenset({"inferred"})))
    assert inferred.number_of_edges() > 0
    assert {d["evidence"] for _, _, d in inferred.edges(data=True)} == {"inferred"}


def test_entities_are_found_by_iri_id_code_and_name(real: nx.MultiDiGraph) -> None:
    base = "https://w3id.org/gq-kg/"
    for text in (SANDU, "id:division/522732", "522732", "三都水族自治县"):
        assert find_node(real, text, base) == SANDU
    assert find_node(real, "huangpu district", base) == HUANGPU
    with pytest.raises(NotFound):
        find_node(real, "不存在", base)
    with pytest.raises(BadParameter):
        find_node(real, "  ", base)


# --- analysis --------------------------------------------------------------------------------


def test_path_from_huangpu_to_sandu_cites_each_hop(real: nx.MultiDiGraph) -> None:
    answer = shortest_paths(real, HUANGPU, SANDU)
    assert answer.length == 1
    (hop,) = answer.paths[0]
    assert {f.relation for f in hop.facts} == {"Pairing"}
    assert all(f.citations and f.citations[0].text for f in hop.facts)
    longer = shortest_paths(real, HUANGPU, f"{ID}division/522731")
    assert longer.length is not None
    assert longer.length >= 2
    for path in longer.paths:
        assert path[0].source.id == HUANGPU
        assert path[-1].target.id.endswith("522731")
        assert all(hop.facts for hop in path)


def test_centrality_ranks_the_prefectures_as_hubs(real: nx.MultiDiGraph) -> None:
    for measure in ("degree", "betweenness", "eigenvector"):
        answer = centrality(real, measure, top=5)
        assert len(answer.ranking) == 5
        scores = [r.score for r in answer.ranking]
        assert scores == sorted(scores, reverse=True)
    top = centrality(real, "degree", top=1).ranking[0]
    assert top.degree == max(d for _, d in nx.Graph(real.to_undirected()).degree())
    with pytest.raises(BadParameter):
        centrality(real, "pagerank")


def test_components_cover_every_node(real: nx.MultiDiGraph) -> None:
    answer = components(real, limit=10_000)
    assert sum(c.size for c in answer.components) == real.number_of_nodes()
    assert answer.count == nx.number_weakly_connected_components(real)


def test_bipartite_and_periods(real: nx.MultiDiGraph) -> None:
    answer = bipartite(real)
    pairs = {(p.district.id, p.county.id) for p in answer.pairs}
    expected = {
        (u, v)
        for u, v, d in real.edges(data=True)
        if d["relation"] == "Pairing" and d["level"] == "DistrictToCounty"
    }
    assert pairs == expected
    periods = compare_periods(real)
    first, second = periods.periods
    active = {
        name: {
            (u, v)
            for u, v, d in real.edges(data=True)
            if d["level"] == "DistrictToCounty" and active_in(d["start"], d["end"], a, b)
        }
        for name, a, b in (("first", 2016, 2020), ("second", 2021, 2100))
    }
    assert set(first.pairs) == active["first"]
    assert set(second.pairs) == active["second"]
    assert set(second.added) == active["second"] - active["first"]
    assert set(second.ended) == active["first"] - active["second"]


# --- maps and exports ------------------------------------------------------------------------


def test_hostile_text_reaches_the_map_only_as_escaped_json(hostile: nx.MultiDiGraph) -> None:
    for self_contained in (False, True):
        page = render_map(
            hostile, MapOptions(kind="network", title="<i>t</i>", self_contained=self_contained)
        ).html
        for markup in ("<img src=x", "<svg onload", "<b onmouseover", "<script>window"):
            assert markup not in page
        # The JSON block and two scripts: no label closes an element early.
        assert page.count("</script>") == 3
        assert "&lt;i&gt;t&lt;/i&gt;" in page
        data = map_data(page)
        labels = {n["kg"]["labelZh"] for n in data["nodes"]}
        assert "<img src=x onerror=window.__pwned=1>区" in labels


def test_served_maps_load_assets_from_kg_and_files_inline_them(real: nx.MultiDiGraph) -> None:
    served = render_map(real, MapOptions(kind="network", title="t")).html
    assert re.findall(r'src="([^"]+)"', served) == [
        "/maps/assets/vis-network.min.js",
        "/maps/assets/map.js",
    ]
    standalone = render_map(real, MapOptions(kind="network", title="t", self_contained=True)).html
    assert not re.search(r'(src|href)="', standalone)
    assert "vis-network" in standalone
    assert "kgMap" in standalone
    for remote in ("jsdelivr", "unpkg", "cdnjs", "googleapis"):
        assert remote not in standalone


def test_geo_map_fixes_nodes_at_their_coordinates(real: nx.MultiDiGraph) -> None:
    rendered = build_map(real, MapRequest(kind="geo"), "https://w3id.org/gq-kg/")
    nodes = {n["id"]: n for n in map_data(rendered.html)["nodes"]}
    guangzhou, qiannan = nodes[f"{ID}division/440100"], nodes[f"{ID}division/522700"]
    assert guangzhou["physics"] is False
    # Guangzhou lies east (x grows) and south (y grows downwards) of Qiannan.
    assert guangzhou["x"] > qiannan["x"]
    assert guangzhou["y"] > qiannan["y"]


def test_geo_map_draws_the_outlines_of_the_provinces_and_prefectures_in_the_nodes_frame(
    real: nx.MultiDiGraph,
) -> None:
    rendered = build_map(real, MapRequest(kind="geo"), BASE_IRI)
    block: Any = map_data(rendered.html)
    drawn = {o["code"]: o for o in block["config"]["outlines"]}
    # Guangdong and Guizhou, Guangzhou and Qiannan: the provinces/prefectures of the divisions.
    assert {"440000", "520000", "440100", "522700"} <= set(drawn)
    assert drawn["440000"]["level"] == "province"
    assert drawn["522700"]["level"] == "prefecture"
    nodes = {n["id"]: n for n in block["nodes"]}

    def inside(point: tuple[float, float], ring: list[list[float]]) -> bool:
        x, y, hit = point[0], point[1], False
        for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
                hit = not hit
        return hit

    # Same projection as the nodes: 惠水县 lies inside Qiannan's and Guizhou's outlines,
    # 黄埔区 inside Guangzhou's and Guangdong's, and not the other way round.
    huishui = nodes[f"{ID}division/522731"]
    huangpu = nodes[f"{ID}division/440112"]
    cases = ((huishui, ("522700", "520000"), "440000"), (huangpu, ("440100", "440000"), "520000"))
    for node, own, other in cases:
        point = (node["x"], node["y"])
        for code in own:
            assert any(inside(point, ring) for ring in drawn[code]["rings"]), code
        assert not any(inside(point, ring) for ring in drawn[other]["rings"])
    # Thinned to screen size, and only numbers: no text from the package reaches the page.
    assert sum(len(r) for o in drawn.values() for r in o["rings"]) < 20_000
    assert set(drawn["440000"]) == {"code", "level", "rings"}
    # Other maps carry none.
    pairings: Any = map_data(build_map(real, MapRequest(kind="pairings"), BASE_IRI).html)
    assert pairings["config"]["outlines"] == []


def test_outline_codes_and_missing_geometry() -> None:
    assert containing_codes(["522731", "440112", "110101", "bad", "520000"]) == [
        ("110000", "province"),
        ("440000", "province"),
        ("440100", "prefecture"),
        ("520000", "province"),
        ("522700", "prefecture"),
    ]
    assert outline("999999", "province") is None
    assert outline("../../x", "province") is None
    guizhou = outline("520000", "province")
    assert guizhou is not None
    assert guizhou.rings
    lons = [lon for ring in guizhou.rings for lon, _ in ring]
    lats = [lat for ring in guizhou.rings for _, lat in ring]
    assert 103 < min(lons) < max(lons) < 110
    assert 24 < min(lats) < max(lats) < 30


@pytest.mark.parametrize("fmt", ["gexf", "graphml", "json"])
def test_exports_read_back_with_networkx(real: nx.MultiDiGraph, fmt: str) -> None:
    body = export_network(real, fmt)
    if fmt == "gexf":
        again = nx.read_gexf(io.BytesIO(body))
        assert b'mode="dynamic"' in body
        dated = [d for _, _, d in again.edges(data=True) if d.get("period_start")]
        assert dated
        assert all("start" in d for d in dated)
    elif fmt == "graphml":
        again = nx.read_graphml(io.BytesIO(body))
    else:
        again = nx.node_link_graph(json.loads(body), edges="edges")
    assert again.number_of_nodes() == real.number_of_nodes()
    assert again.number_of_edges() == real.number_of_edges()


@pytest.mark.parametrize("fmt", ["gexf", "graphml"])
def test_exports_stay_xml_with_control_characters_in_the_data(
    hostile: nx.MultiDiGraph, fmt: str
) -> None:
    """Nothing in the build refuses a control character in a label or a sentence (a form feed
    pasted from a PDF): it made the whole GEXF/GraphML file unreadable. Each such character
    becomes U+FFFD; everything else, markup included, is the data's text."""
    graph = hostile.copy()
    district = f"{ID}division/440199"
    graph.nodes[district]["label_zh"] = "海\x0c珠\x00区\x1f<b>"
    source, target, key = next(iter(graph.out_edges(district, keys=True)))
    graph.edges[source, target, key]["citations"] = [
        {"text": "结对\x0b帮扶", "sentence": f"{ID}document/h/s/1-1"}
    ]
    body = export_network(graph, fmt)
    again = nx.read_gexf(io.BytesIO(body)) if fmt == "gexf" else nx.read_graphml(io.BytesIO(body))
    assert again.nodes[district]["label"] == "海\ufffd珠\ufffd区\ufffd<b>"
    citations = [d.get("citation") for _, _, d in again.out_edges(district, data=True)]
    assert "结对\ufffd帮扶" in citations
    assert again.number_of_nodes() == graph.number_of_nodes()


# --- HTTP ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("/maps/network?level=DistrictToCountyy", "DistrictToCounty"),  # a typo
        ("/maps/pairings?level=Bogus", "DistrictToCounty"),
        ("/maps/network?type=Countyy", "type 'Countyy'"),
        ("/maps/network?relation=pairing", "Pairing"),
        ("/maps/network?evidence=rumour", "stated"),
        ("/api/network/centrality?level=bogus", "DistrictToCounty"),
        ("/api/network/components?level=bogus", "DistrictToCounty"),
        ("/api/network/periods?level=bogus", "DistrictToCounty"),
    ],
)
def test_a_filter_value_nothing_has_is_a_clear_4xx(
    api: TestClient, real: nx.MultiDiGraph, path: str, needle: str
) -> None:
    """A typo in a filter kept nothing and answered 200: an empty map, an empty ranking."""
    response = api.get(path)
    # BadParameter: 422 under /api/ as every REST route, 400 for a page.
    assert response.status_code == (422 if path.startswith("/api/") else 400), path
    error = response.json()["error"]
    assert error["code"] == "bad_parameter"
    assert needle in error["message"]
    # What the message offers works.
    levels = {d["level"] for _, _, d in real.edges(data=True) if d.get("level")}
    assert "DistrictToCounty" in levels
    for good in ("level=DistrictToCounty&evidence=stated", "type=AdministrativeUnit"):
        answer = api.get(f"/maps/network?{good}")
        assert answer.status_code == 200, answer.text
        assert int(answer.headers["x-kg-nodes"]) > 0, good


@pytest.mark.parametrize(
    "path", ["/maps/pairings", "/maps/network", "/maps/geo", "/maps/entity/id:division/522732"]
)
def test_map_routes_answer_html_with_a_csp(api: TestClient, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    nodes = map_data(response.text)["nodes"]
    assert int(response.headers["x-kg-nodes"]) == len(nodes) > 0
    assert f'data-node-count="{len(nodes)}"' in response.text


def test_map_assets_come_from_the_packages(api: TestClient) -> None:
    script = api.get("/maps/assets/vis-network.min.js")
    assert script.status_code == 200
    assert b"vis-network" in script.content[:300]
    assert api.get("/maps/assets/../../etc/passwd").status_code == 404
    assert api.get("/maps/assets/nope.js").status_code == 404


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/maps/pairings?year=twenty", 400),
        ("/maps/network?lang=fr", 400),
        ("/maps/entity/522732?hops=9", 400),
        # Under /api/ the REST convention: a refused value is 422 (api/errors.py).
        ("/api/network/centrality?measure=pagerank", 422),
        ("/api/network/path?from=黄埔区&to=nowhere", 404),
        ("/api/network/periods?period=2020-2016", 422),
        ("/export/network.xls", 404),
    ],
)
def test_bad_input_gets_a_clear_4xx(api: TestClient, path: str, status: int) -> None:
    response = api.get(path)
    assert response.status_code == status
    assert response.json()["error"]["message"]


def test_maps_index_and_entity_pages_paths(api: TestClient) -> None:
    index = api.get("/maps/")
    assert index.status_code == 200
    assert 'href="/maps/pairings?year=2016-2020"' in index.text
    # Entity pages frame /maps/entity/<path after /id/>.
    framed = api.get("/maps/entity/division/522732")
    assert framed.status_code == 200
    assert "三都水族自治县" in html.unescape(framed.text)
    # A sentence has a page but is no node of the network: its frame says so, without error.
    sentence = api.get("/maps/entity/document/gq2023/s/13-1")
    assert sentence.status_code == 200
    assert "Not part of the network" in sentence.text
    missing = api.get("/maps/entity/<b>nothing-like-this</b>")
    assert missing.status_code == 404
    assert "<b>" not in missing.text
    assert "&lt;b&gt;nothing-like-this" in missing.text


def test_path_endpoint_answers_how_huangpu_reaches_sandu(api: TestClient) -> None:
    # Names as the REST API reads them: pinyin and traditional characters too.
    response = api.get("/api/network/path", params={"from": "huangpu", "to": "三都縣"})
    assert response.status_code == 200
    body = response.json()
    assert body["source"]["id"] == HUANGPU
    assert body["length"] == 1
    texts = [c["text"] for f in body["paths"][0][0]["facts"] for c in f["citations"]]
    assert texts
    assert all(texts)


def test_analysis_endpoints_are_documented_in_openapi(api: TestClient) -> None:
    spec = api.get("/api/openapi.json").json()
    for path in ("centrality", "components", "path", "bipartite", "periods"):
        assert f"/api/network/{path}" in spec["paths"]
    assert "PathAnswer" in spec["components"]["schemas"]
    first = api.get("/api/network/periods").json()["periods"][0]
    assert first["period"] == "2016-2020"


def test_export_route_reads_back(api: TestClient, real: nx.MultiDiGraph) -> None:
    response = api.get("/export/network.graphml")
    assert response.status_code == 200
    again = nx.read_graphml(io.BytesIO(response.content))
    assert again.number_of_nodes() == real.number_of_nodes()


# --- CLI -------------------------------------------------------------------------------------


def test_cli_map_network_and_export(
    real_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kg.cli import main

    var = ["--var-dir", str(real_dataset.parent.parent)]
    out = tmp_path / "sandu.html"
    assert main(["map", "entity", "三都水族自治县", "-o", str(out), *var]) == 0
    page = out.read_text(encoding="utf-8")
    assert "三都水族自治县" in html.unescape(page)
    assert "/maps/assets" not in page
    assert main(["network", "path", "黄埔区", "三都水族自治县", *var]) == 0
    printed = capsys.readouterr().out
    assert "Pairing DistrictToCounty" in printed
    assert "“" in printed
    gexf = tmp_path / "n.gexf"
    assert main(["export", "--network", "gexf", "-o", str(gexf), *var]) == 0
    assert nx.read_gexf(gexf).number_of_nodes() > 100
    assert main(["network", "path", "黄埔区", *var]) == 1
    # A claim is an edge: its map draws its two ends, as its page's map does.
    claim = tmp_path / "claim.html"
    assert main(["map", "entity", "pairing/440112-522732-2021", "-o", str(claim), *var]) == 0
    assert "2 nodes, 1 edges" in capsys.readouterr().err
    drawn = html.unescape(claim.read_text(encoding="utf-8"))
    assert "黄埔区 — 三都水族自治县" in drawn
    assert "/maps/assets" not in drawn
    assert main(["map", "entity", "document/gq2023/s/13-1", "-o", str(claim), *var]) == 1


def test_eigenvector_agrees_with_networkx_on_a_connected_graph() -> None:
    from kg.network.analysis import _eigenvector

    club = nx.karate_club_graph()
    ours = _eigenvector(club)
    theirs = nx.eigenvector_centrality(club, max_iter=1000, tol=1e-10)
    for node in club:
        assert abs(ours[node] - theirs[node]) < 1e-4


def test_a_named_or_user_query_becomes_a_map(api: TestClient, real: nx.MultiDiGraph) -> None:
    named = api.get("/maps/query", params={"name": "network-district-county"})
    assert named.status_code == 200
    edges = map_data(named.text)["edges"]
    # One edge per row: the query labels each with its start year.
    expected = {
        (u, v, str(year_of(d["start"]) or ""))
        for u, v, d in real.edges(data=True)
        if d.get("level") == "DistrictToCounty"
    }
    assert len(edges) == len(expected)
    # Edges the projection knows keep their sentences.
    assert all(e["kg"]["citations"] for e in edges)
    construct = "PREFIX gq: <https://w3id.org/gq-kg/ontology#>\n" + (
        "CONSTRUCT { ?a gq:partOf ?b } WHERE { ?a gq:partOf ?b }"
    )
    drawn = api.get("/maps/query", params={"query": construct})
    assert drawn.status_code == 200
    part_of = [d for _, _, d in real.edges(data=True) if d["relation"] == "partOf"]
    assert len(map_data(drawn.text)["edges"]) == len(part_of)
    for bad in (
        {"query": "SELECT ?x WHERE { ?x ?p ?o } LIMIT 1"},
        {"query": "ASK { ?s ?p ?o }"},
        {"query": "SELECT nonsense"},
        {},
    ):
        response = api.get("/maps/query", params=bad)
        assert response.status_code == 400, bad
    # iri parameters are resolved like the REST API's: an unknown name is not found.
    unknown = {"name": "network-district-county", "level": "no such level"}
    assert api.get("/maps/query", params=unknown).status_code == 404


@pytest.mark.parametrize(
    ("query", "param", "status"),
    [("from=黄埔区&to=", "to", 422), ("from=nowhere-xyz&to=黄埔区", "from", 404)],
)
def test_path_errors_name_the_parameter(
    api: TestClient, query: str, param: str, status: int
) -> None:
    response = api.get(f"/api/network/path?{query}")
    assert response.status_code == status
    assert f"parameter {param!r}" in response.json()["error"]["message"]


def test_analysis_and_drawing_run_off_the_event_loop(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Betweenness near the claim cap takes tens of seconds, drawing a big map seconds, parsing
    a query's answer of 100,000 rows one: in a thread, so the HTTP process keeps answering
    other requests meanwhile."""
    import threading

    from api.routers import maps

    loop_threads: set[int] = set()
    work_threads: dict[str, set[int]] = {}
    graph_of = maps._graph

    async def on_the_loop(*args: Any, **kwargs: Any) -> Any:
        loop_threads.add(threading.get_ident())
        return await graph_of(*args, **kwargs)

    monkeypatch.setattr(maps, "_graph", on_the_loop)
    for name in (
        "centrality",
        "components",
        "bipartite",
        "compare_periods",
        "build_map",
        "render_map",
        "export_network",
        "shortest_paths",
    ):
        original = getattr(maps, name)

        def recording(*args: Any, _name: str = name, _f: Any = original, **kwargs: Any) -> Any:
            work_threads.setdefault(_name, set()).add(threading.get_ident())
            return _f(*args, **kwargs)

        monkeypatch.setattr(maps, name, recording)
    from kg.network import project

    for name in ("_edges_of", "graph_from_edges", "network_from_rows"):
        original = getattr(project, name)

        def recording_(*args: Any, _name: str = name, _f: Any = original, **kwargs: Any) -> Any:
            work_threads.setdefault(_name, set()).add(threading.get_ident())
            return _f(*args, **kwargs)

        monkeypatch.setattr(project, name, recording_)
    for path in (
        "/api/network/centrality?measure=betweenness",
        "/api/network/components",
        "/api/network/bipartite",
        "/api/network/periods",
        "/api/network/path?from=黄埔区&to=三都水族自治县",
        "/maps/pairings",
        "/maps/query?name=network-district-county",
        "/export/network.gexf",
        "/maps/entity/division/522732",
    ):
        assert api.get(path).status_code == 200, path
    assert loop_threads
    assert len(work_threads) == 11, sorted(work_threads)
    for name, threads in work_threads.items():
        assert not threads & loop_threads, name
