"""The entity map's local projection draws what the whole projection draws.

``load_neighbourhood`` fetches one entity's neighbourhood hop by hop instead of projecting the
whole graph (which does not answer at 10M quads). Proof on the project's own data: for every
node of the whole projection, at 1, 2 and 3 hops, with and without filters, the map's subgraph
is the same: same nodes with the same attributes, same edges with the same keys and attributes.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import networkx as nx
import pyoxigraph as ox
import pytest
from api.app import create_app
from fastapi.testclient import TestClient

from kg.errors import ResultTooLarge
from kg.network.project import load_neighbourhood, load_network, mark_unknown_counties
from kg.network.service import MapRequest, build_map, select_subgraph
from kg.queries import bind_values, get_query
from tests.conftest import mini_settings
from tests.fixtures.memory_store import MemoryStore
from tests.network_support import QUERIES, hostile_dataset, map_data

BASE = "https://w3id.org/gq-kg/"
SANDU = f"{BASE}id/division/522732"
#: Filtered maps (beyond the plain one): a round, a level, a type, a relation, an evidence grade.
FILTERED: tuple[dict[str, Any], ...] = (
    {"year": "2016-2020"},
    {"year": "2021-"},
    {"levels": ("DistrictToCounty",)},
    {"types": ("County",)},
    {"types": ("Organization",), "year": "2019"},
    {"relations": ("Pairing",)},
    {"evidence": ("stated",)},
)
Snapshot = tuple[dict[str, dict[str, Any]], dict[tuple[str, str, str], dict[str, Any]]]


def _snapshot(graph: nx.MultiDiGraph) -> Snapshot:
    nodes = {str(n): dict(d) for n, d in graph.nodes(data=True)}
    edges = {(str(u), str(v), str(k)): dict(d) for u, v, k, d in graph.edges(keys=True, data=True)}
    return nodes, edges


@pytest.fixture(scope="module")
def whole(real_store: MemoryStore) -> nx.MultiDiGraph:
    """The whole projection, as the other maps use it."""
    graph = asyncio.run(load_network(real_store, QUERIES))
    mark_unknown_counties(graph)
    return graph


@pytest.mark.parametrize("hops", [1, 2, 3])
def test_local_projection_draws_what_the_whole_one_draws(
    real_store: MemoryStore, whole: nx.MultiDiGraph, hops: int
) -> None:
    assert whole.number_of_nodes() > 100

    async def locals_() -> dict[str, nx.MultiDiGraph]:
        return {
            str(node): await load_neighbourhood(real_store, QUERIES, str(node), hops=hops)
            for node in whole
        }

    differences: list[str] = []
    for node, local in asyncio.run(locals_()).items():
        assert local.graph["classes"] == whole.graph["classes"]
        for extra in ({}, *FILTERED):
            request = MapRequest(kind="entity", entity=node, hops=hops, **extra)
            mine = _snapshot(select_subgraph(local, request, BASE))
            theirs = _snapshot(select_subgraph(whole, request, BASE))
            if mine != theirs:
                differences.append(f"{node} hops={hops} {extra}")
    assert not differences, differences[:10]


def test_a_neighbourhood_costs_queries_by_hops_and_its_size_not_by_the_store(
    real_store: MemoryStore, whole: nx.MultiDiGraph
) -> None:
    # Per round: claims and relations of the frontier (4 and 8 IRIs a query: #+ batch), the
    # facts of what it reached; then the last ring, the far ends unknown counties need, the
    # sentences of the relations, unknowns, titles, classes and the centre's facts. So at most
    # a few queries per round plus one per few entities of the neighbourhood, whatever else
    # the store holds; and none of the whole projection's queries.
    for node in sorted(whole, key=whole.degree, reverse=True)[:5]:
        for hops in (1, 2, 3, 4):
            real_store.queries.clear()
            local = asyncio.run(load_neighbourhood(real_store, QUERIES, str(node), hops=hops))
            bound = 8 + 4 * (hops + 1) + local.number_of_nodes() // 2
            assert len(real_store.queries) <= bound, (node, hops, len(real_store.queries))
            texts = [q.query for q in real_store.queries]
            assert all("VALUES ?" in t or "owl:Class" in t for t in texts)


def test_too_many_nodes_is_result_too_large(real_store: MemoryStore) -> None:
    with pytest.raises(ResultTooLarge, match="fewer hops"):
        asyncio.run(load_neighbourhood(real_store, QUERIES, SANDU, hops=3, max_nodes=3))


def test_no_entity_of_the_network_gives_an_empty_graph(real_store: MemoryStore) -> None:
    sentence = f"{BASE}id/document/gq2023/s/13-1"
    assert (
        asyncio.run(load_neighbourhood(real_store, QUERIES, sentence, hops=2)).number_of_nodes()
        == 0
    )


def test_bind_values_binds_a_set_of_iris_inline() -> None:
    query = get_query("network-claims-of", QUERIES)
    text = bind_values(query, "node", ["https://example.org/a", "https://example.org/b"])
    head = text[text.index("WHERE {") :].splitlines()[1].strip()
    assert head == "VALUES ?node { <https://example.org/a> <https://example.org/b> }"
    from kg.errors import BadParameter

    with pytest.raises(BadParameter, match="node"):
        bind_values(query, "node", ["https://example.org/a> } ?x ?y ?z {"])
    with pytest.raises(BadParameter):
        bind_values(query, "node", [])


@contextmanager
def _client(tmp: Path, real_build: Path, **overrides: Any) -> Iterator[TestClient]:
    """The app over the project's data with some settings changed."""
    settings = mini_settings(tmp, dataset_file=real_build / "dataset.nq", **overrides)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def small_cap_api(
    real_build: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    with _client(tmp_path_factory.mktemp("local-map"), real_build, map_max_nodes=4) as client:
        yield client


@pytest.mark.parametrize("hops", [1, 2, 3])
@pytest.mark.parametrize("entity", ["division/522732", "id:division/440112", "三都水族自治县"])
def test_entity_map_route_draws_as_before(
    api: TestClient, whole: nx.MultiDiGraph, entity: str, hops: int
) -> None:
    response = api.get(f"/maps/entity/{entity}", params={"hops": hops})
    assert response.status_code == 200
    data = map_data(response.text)
    center = SANDU if "522732" in entity or "三都" in entity else f"{BASE}id/division/440112"
    before = build_map(whole, MapRequest(kind="entity", entity=center, hops=hops), BASE)
    assert int(response.headers["x-kg-nodes"]) == len(data["nodes"]) == before.nodes
    assert len(data["edges"]) == before.edges


def test_entity_map_route_errors(api: TestClient, small_cap_api: TestClient) -> None:
    missing = api.get("/maps/entity/division/999999")
    assert missing.status_code == 404
    assert "text/html" in missing.headers["content-type"]
    sentence = api.get("/maps/entity/document/gq2023/s/13-1")
    assert sentence.status_code == 200
    assert "Not part of the network" in html.unescape(sentence.text)
    too_many = small_cap_api.get("/maps/entity/division/522732", params={"hops": 3})
    assert too_many.status_code == 413
    assert too_many.json()["error"]["code"] == "result_too_large"
    assert "fewer hops" in too_many.json()["error"]["message"]


@pytest.fixture(scope="module")
def claim_cap_api(
    real_build: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    with _client(tmp_path_factory.mktemp("claim-cap"), real_build, network_max_claims=5) as client:
        yield client


@pytest.fixture(scope="module")
def level_cap_api(
    real_build: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """A claim cap between one level's pairings (13 district-county) and the whole network's
    claims (over 80)."""
    tmp = tmp_path_factory.mktemp("level-cap")
    with _client(tmp, real_build, network_max_claims=20) as client:
        yield client


def test_a_network_past_the_claim_cap_is_refused_before_it_is_projected(
    api: TestClient, claim_cap_api: TestClient
) -> None:
    """KG_NETWORK_MAX_CLAIMS: the whole-network maps and analysis answer 413 at once (one
    COUNT, `network-size`) instead of running the projection into the limits; an entity's
    map (a local projection) is not affected."""
    for path in ("/maps/pairings", "/maps/network", "/api/network/centrality"):
        assert api.get(path).status_code == 200, path  # default cap: far above the data
        refused = claim_cap_api.get(path)
        assert refused.status_code == 413, path
        error = refused.json()["error"]
        assert error["code"] == "result_too_large"
        assert "KG_NETWORK_MAX_CLAIMS" in error["message"]
        assert "/maps/entity/" in error["message"]
    assert claim_cap_api.get("/maps/entity/division/522731", params={"hops": 1}).status_code == 200


#: Relations cited every way network-relations reads: the triple's rdf:Statement (which wins
#: over the subject's sentence), the subject's gq:statedIn (two sentences, with its evidence),
#: the subject's prov:wasDerivedFrom; one relation cited not at all.
CITED = """
@prefix gq: <https://w3id.org/gq-kg/ontology#> .
@prefix id: <https://w3id.org/gq-kg/id/> .
@prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix dct: <http://purl.org/dc/terms/> .
@prefix prov: <http://www.w3.org/ns/prov#> .

<https://w3id.org/gq-kg/graph/article> {
  id:place\\/x a gq:Place ; rdfs:label "X"@zh .
  id:event\\/a a gq:Event ; rdfs:label "A"@zh ; gq:place id:place\\/x ;
      gq:statedIn id:doc\\/d\\/s\\/2 , id:doc\\/d\\/s\\/1 ; gq:evidence gq:Inferred .
  id:event\\/b a gq:Event ; rdfs:label "B"@zh ; gq:place id:place\\/x ;
      prov:wasDerivedFrom id:doc\\/d\\/s\\/3 .
  id:event\\/c a gq:Event ; rdfs:label "C"@zh ; gq:place id:place\\/x ;
      gq:statedIn id:doc\\/d\\/s\\/1 .
  id:event\\/e a gq:Event ; rdfs:label "E"@zh ; gq:place id:place\\/x .
  id:event\\/c gq:within id:event\\/a .
}
<https://w3id.org/gq-kg/graph/provenance> {
  id:statement\\/c a rdf:Statement ; rdf:subject id:event\\/c ; rdf:predicate gq:place ;
      rdf:object id:place\\/x ; gq:statedIn id:doc\\/d\\/s\\/4 ; gq:evidence gq:Stated .
}
<https://w3id.org/gq-kg/graph/sources> {
  id:doc\\/d dct:title "D" .
  id:doc\\/d\\/s\\/1 a gq:Sentence ; gq:text "one" ; dct:isPartOf id:doc\\/d .
  id:doc\\/d\\/s\\/2 a gq:Sentence ; gq:text "two" ; dct:isPartOf id:doc\\/d .
  id:doc\\/d\\/s\\/3 a gq:Sentence ; gq:text "three" ; dct:isPartOf id:doc\\/d .
  id:doc\\/d\\/s\\/4 a gq:Sentence ; gq:text "four" ; dct:isPartOf id:doc\\/d .
}
"""


def test_local_projection_cites_relations_as_the_whole_one(tmp_path: Path) -> None:
    source = tmp_path / "cited.trig"
    source.write_text(CITED, encoding="utf-8")
    dataset = tmp_path / "cited.nq"
    ox.serialize(ox.parse(path=str(source)), output=str(dataset), format=ox.RdfFormat.N_QUADS)

    async def both() -> tuple[nx.MultiDiGraph, nx.MultiDiGraph]:
        store = MemoryStore(dataset)
        await store.start()
        try:
            graph = await load_network(store, QUERIES)
            mark_unknown_counties(graph)
            local = await load_neighbourhood(store, QUERIES, f"{BASE}id/place/x", hops=2)
            return graph, local
        finally:
            await store.close()

    whole_graph, local = asyncio.run(both())
    request = MapRequest(kind="entity", entity=f"{BASE}id/place/x", hops=2)
    mine = _snapshot(select_subgraph(local, request, BASE))
    assert mine == _snapshot(select_subgraph(whole_graph, request, BASE))
    texts = {
        (u.rsplit("/", 1)[-1], d["relation"]): [c["text"] for c in d["citations"]]
        for (u, _, _), d in mine[1].items()
    }
    assert sorted(texts[("a", "place")]) == ["one", "two"]
    assert texts[("b", "place")] == ["three"]
    assert texts[("c", "place")] == ["four"]
    assert texts[("e", "place")] == []
    assert texts[("c", "within")] == ["one"]


def test_local_projection_of_the_hostile_graph(tmp_path: Path) -> None:
    # Odd data the real data lacks: relations cited only through their subject or its
    # derivation, roles filled by literals and sentences, self-loops, unlabelled nodes.
    async def compare() -> list[str]:
        store = MemoryStore(hostile_dataset(tmp_path))
        await store.start()
        try:
            graph = await load_network(store, QUERIES)
            mark_unknown_counties(graph)
            differences = []
            for node in graph:
                for hops in (1, 2, 3):
                    local = await load_neighbourhood(store, QUERIES, str(node), hops=hops)
                    for extra in ({}, *FILTERED):
                        request = MapRequest(kind="entity", entity=node, hops=hops, **extra)
                        mine = _snapshot(select_subgraph(local, request, BASE))
                        if mine != _snapshot(select_subgraph(graph, request, BASE)):
                            differences.append(f"{node} hops={hops} {extra}")
            return differences
        finally:
            await store.close()

    differences = asyncio.run(compare())
    assert not differences, differences[:10]


# --- maps of a query's answer ------------------------------------------------------------

_PREFIXES = (
    "PREFIX gq: <https://w3id.org/gq-kg/ontology#>\n"
    "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
    "PREFIX org: <http://www.w3.org/ns/org#>\n"
)
#: What visitors draw: pairings with labels, containment as a CONSTRUCT, a DESCRIBE, memberships,
#: rows whose ends are literals or sentences, a blank node, every relation of one county.
ANSWERS = (
    "SELECT ?source ?target ?label WHERE { ?p a gq:Pairing ; gq:helper ?source ; "
    "gq:recipient ?target . OPTIONAL { ?p gq:level ?label } }",
    "CONSTRUCT { ?a gq:partOf ?b . ?a rdfs:label ?l } WHERE { ?a gq:partOf ?b . "
    "OPTIONAL { ?a rdfs:label ?l } }",
    f"DESCRIBE <{SANDU}>",
    "SELECT ?source ?target (org:member AS ?relation) WHERE { ?m a gq:Membership ; "
    "org:member ?source ; org:organization ?target }",
    "SELECT ?source ?target WHERE { ?source gq:statedIn ?target } LIMIT 40",
    "SELECT ?source ?target WHERE { ?source rdfs:label ?target } LIMIT 40",
    "CONSTRUCT { _:b gq:partOf ?c } WHERE { ?c a gq:County }",
    f"SELECT ?source ?relation ?target WHERE {{ {{ <{SANDU}> ?relation ?target . "
    f"BIND(<{SANDU}> AS ?source) }} UNION {{ ?source ?relation <{SANDU}> . "
    f"BIND(<{SANDU}> AS ?target) }} }}",
)


@pytest.mark.parametrize("text", ANSWERS)
def test_a_query_map_knows_its_entities_as_the_whole_projection_does(
    real_store: MemoryStore, whole: nx.MultiDiGraph, text: str
) -> None:
    """/maps/query and `kg map query` fetch what the projection knows about the answer's
    entities only (load_among): the same map as with the whole projection."""
    from kg.network.project import answer_edges, graph_from_edges, load_among

    query = _PREFIXES + text
    # One answer drawn both ways (a CONSTRUCT's blank nodes are new at every run).
    edges, iris = asyncio.run(answer_edges(real_store, query))
    real_store.queries.clear()
    local = graph_from_edges(edges, asyncio.run(load_among(real_store, QUERIES, iris)))
    whole_queries = {get_query(n, QUERIES).text for n in ("network-claims", "network-nodes")}
    assert not whole_queries & {q.query for q in real_store.queries}
    before = graph_from_edges(edges, whole)
    assert local.number_of_edges() > 0
    assert _snapshot(local) == _snapshot(before)
    assert local.graph["classes"] == whole.graph["classes"]


def test_a_query_map_of_too_many_entities_is_result_too_large(real_store: MemoryStore) -> None:
    from kg.network.project import graph_from_query

    query = _PREFIXES + ANSWERS[0]
    with pytest.raises(ResultTooLarge, match="narrow the query"):
        asyncio.run(graph_from_query(real_store, query, QUERIES, max_nodes=3))


def test_a_query_map_reads_the_default_graph_it_is_given(real_store: MemoryStore) -> None:
    """A named query's ``#+ default-graph:`` reaches the store (the route and `kg map query`
    pass NamedQuery.default_graphs): over the ontology graph the class tree, over the
    article's graph nothing."""
    from kg.network.project import graph_from_query

    query = _PREFIXES + "SELECT ?source ?target WHERE { ?source rdfs:subClassOf ?target }"
    union = asyncio.run(graph_from_query(real_store, query, QUERIES))
    ontology = asyncio.run(
        graph_from_query(real_store, query, QUERIES, default_graphs=(f"{BASE}graph/ontology",))
    )
    article = asyncio.run(
        graph_from_query(real_store, query, QUERIES, default_graphs=(f"{BASE}graph/article",))
    )
    assert ontology.number_of_edges() > 10
    assert article.number_of_edges() == 0
    assert set(ontology.edges) <= set(union.edges)


def test_a_query_map_is_drawn_when_the_whole_network_is_over_its_cap(
    claim_cap_api: TestClient,
) -> None:
    """/maps/query no longer projects the whole network: with KG_NETWORK_MAX_CLAIMS far below
    the data the other whole-network maps answer 413, a query's map is drawn, with the
    sentences of its edges."""
    named = claim_cap_api.get("/maps/query", params={"name": "network-district-county"})
    assert named.status_code == 200, named.text[:300]
    edges = map_data(named.text)["edges"]
    assert len(edges) > 5
    assert all(e["kg"]["citations"] for e in edges)
    assert claim_cap_api.get("/maps/pairings").status_code == 413


def test_a_claims_page_frames_its_edge(api: TestClient, whole: nx.MultiDiGraph) -> None:
    """A claim (a pairing, participation, membership, issuance) is an edge of the network, not
    a node: its page's map draws its two ends and its edge, with the sentences the whole
    projection gives it (it said "not part of the network")."""
    claims: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for u, v, data in whole.edges(data=True):
        if data.get("claim"):
            claims.setdefault(data["claim"], []).append((u, v, data))
    assert len(claims) > 20
    for claim, drawn in claims.items():
        path = claim.removeprefix(f"{BASE}id/")
        response = api.get(f"/maps/entity/{path}")
        assert response.status_code == 200, claim
        data = map_data(response.text)
        ends = {n for u, v, _ in drawn for n in (u, v)}
        assert {n["id"] for n in data["nodes"]} == ends, claim
        assert len(data["edges"]) == len(drawn), claim
        for edge in data["edges"]:
            assert edge["kg"]["claim"] == claim
            (expected,) = [d for u, v, d in drawn if (u, v) == (edge["from"], edge["to"])]
            assert edge["kg"]["citations"] == expected["citations"], claim
    sentence = api.get("/maps/entity/document/gq2023/s/13-1")
    assert "Not part of the network" in html.unescape(sentence.text)


def test_the_periods_analysis_reads_the_pairings_of_its_level_only(
    real_store: MemoryStore,
    whole: nx.MultiDiGraph,
    api: TestClient,
    level_cap_api: TestClient,
) -> None:
    """/api/network/periods and `kg network periods` compare the pairings of one level from
    one query (load_pairings_at), not the whole projection: the same answer for every level
    and set of periods, and answered where the whole network is past its claim cap."""
    from kg.network.analysis import compare_periods
    from kg.network.project import load_pairings_at

    levels = {d["level"] for _, _, d in whole.edges(data=True) if d.get("relation") == "Pairing"}
    assert len(levels) > 5
    spans = (("2016-2020", 2016, 2020), ("2019", 2019, 2019), ("2021-", 2021, 9999))
    for level in levels:
        scoped = asyncio.run(load_pairings_at(real_store, QUERIES, level))
        assert compare_periods(scoped, level=level) == compare_periods(whole, level=level)
        assert compare_periods(scoped, spans, level) == compare_periods(whole, spans, level)
    with pytest.raises(ResultTooLarge, match="KG_NETWORK_MAX_CLAIMS"):
        asyncio.run(load_pairings_at(real_store, QUERIES, "DistrictToCounty", max_claims=3))
    answer = api.get("/api/network/periods").json()
    assert sum(p["pairings"] for p in answer["periods"]) > 0
    capped = level_cap_api
    assert capped.get("/api/network/centrality").status_code == 413
    assert capped.get("/api/network/periods").json() == answer
    assert capped.get("/api/network/periods", params={"level": "CityToPrefecture"}).json()


def test_analyses_of_some_levels_read_those_pairings_only(
    real_store: MemoryStore, whole: nx.MultiDiGraph, level_cap_api: TestClient
) -> None:
    """Hubs and components of some levels come from those levels' pairings and the facts of
    their ends (load_pairing_network), not the whole projection: the same answers, for every
    level alone, two together and a year; answered where the whole network is past its cap."""
    from kg.network.analysis import bipartite, centrality, components
    from kg.network.project import load_pairing_network

    levels = sorted(
        {d["level"] for _, _, d in whole.edges(data=True) if d.get("relation") == "Pairing"}
    )
    cases: list[tuple[list[str], str | None]] = [([level], None) for level in levels]
    cases += [(["DistrictToCounty", "SchoolToSchool"], None), (["DistrictToCounty"], "2021-")]
    for chosen, year in cases:
        request = MapRequest(kind="network", levels=chosen, year=year)
        scoped = asyncio.run(load_pairing_network(real_store, QUERIES, chosen))
        mine = select_subgraph(scoped, request, BASE)
        theirs = select_subgraph(whole, request, BASE)
        assert _snapshot(mine)[0] == _snapshot(theirs)[0], chosen  # the same nodes, facts
        assert set(mine.edges(keys=True)) == set(theirs.edges(keys=True)), chosen
        for measure in ("degree", "betweenness", "eigenvector"):
            assert centrality(mine, measure, 50) == centrality(theirs, measure, 50), chosen
        assert components(mine, 50) == components(theirs, 50), chosen
        if "DistrictToCounty" in chosen:  # the district-county network's two sides
            assert bipartite(mine) == bipartite(theirs), chosen
    capped = level_cap_api
    assert capped.get("/api/network/centrality").status_code == 413
    hubs = capped.get("/api/network/centrality", params={"level": "district-county"})
    assert hubs.status_code == 200
    assert hubs.json()["ranking"][0]["node"]["label_zh"]
    parts = capped.get("/api/network/components", params={"level": "DistrictToCounty"})
    assert parts.status_code == 200
