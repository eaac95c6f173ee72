"""Who pairs with whom, beyond the party's own pairings: the article's pairing of groups the
party is a member of, the partners a source counts but does not name, and the grade the
reference table gave each row beside kg's own (REST JSON, CSV and the pages)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

BASE = "https://w3id.org/gq-kg/"
GROUP_PAIRING = "id:pairing/gz-districts-qn-counties"
ARTICLE_L13 = BASE + "id/document/gq2023/s/13-1"
NOTES_L3 = BASE + "id/document/refnotes/s/3-1"
NOTES_L4 = BASE + "id/document/refnotes/s/4-1"


def _pairings(api: TestClient, **params: Any) -> dict[str, Any]:
    response = api.get("/api/pairings", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _section(page: str, section_id: str) -> str:
    """The HTML of one section of a page, by its id."""
    return page.split(f'id="{section_id}"', 1)[1].split("</section>", 1)[0]


def _via(body: dict[str, Any]) -> dict[str, Any]:
    found: list[dict[str, Any]] = [p for p in body["group_pairings"] if p["id"] == GROUP_PAIRING]
    assert len(found) == 1, body["group_pairings"]
    return found[0]


@pytest.mark.parametrize("district", ["黄埔区", "海珠区", "荔湾区", "白云区"])
def test_each_named_district_sees_its_groups_pairing(api: TestClient, district: str) -> None:
    # gq2023:L13.1 广州市海珠区、荔湾区、白云区和黄埔区与黔南州10个县开展结对帮扶工作: the four
    # districts are named members of group:gz-four-districts, which pairs as a whole.
    body = _pairings(api, party=district)
    pairing = _via(body)
    via = pairing["via"]
    assert via["group"]["id"] == "id:group/gz-four-districts"
    assert via["side"] == "helper"
    assert via["member"]["label"] == district
    assert via["evidence"] == "stated"
    assert [c["sentence"] for c in via["citations"]] == [ARTICLE_L13]
    assert "as a whole" in via["note"]
    assert "which member pairs with which" in via["note"]
    assert pairing["evidence"] == "stated"
    assert [c["sentence"] for c in pairing["citations"]] == [ARTICLE_L13]
    # The other side: ten counties, none named by a source; the notes' reading of them is
    # inferred, and said so.
    other = pairing["recipient_group"]
    assert other["group"]["id"] == "id:group/qn-ten-counties"
    assert other["member_count"] == 10
    assert other["named_members"] == []
    assert other["unnamed_count"] == 10
    assert len(other["inferred_members"]) == 10
    assert "none named by a source" in other["note"]
    own = pairing["helper_group"]
    assert own["member_count"] == 4
    assert district in {m["label"] for m in own["named_members"]}
    # Not turned into member-to-member pairings: the party's own list has no group in it.
    assert all(p["via"] is None for p in body["pairings"])
    assert all(
        district in (p["helper"]["label"], p["recipient"]["label"]) for p in body["pairings"]
    )


def test_huangpu_keeps_its_own_pairings_and_count(api: TestClient) -> None:
    body = _pairings(api, party="黄埔区")
    assert body["status"] == "known"
    assert body["count"] == len(body["pairings"]) == 5
    assert [p["id"] for p in body["group_pairings"]] == [GROUP_PAIRING]


def test_a_county_is_a_member_by_the_notes_inference_only(api: TestClient) -> None:
    # The article does not name the ten counties; the reference notes (L4.1) read them as the
    # ten 县/自治县, "an inference from the count": the membership is inferred, never stronger.
    body = _pairings(api, party="惠水县")
    pairing = _via(body)
    via = pairing["via"]
    assert via["group"]["id"] == "id:group/qn-ten-counties"
    assert via["side"] == "recipient"
    assert via["evidence"] == "inferred"
    assert "inference from the count" in via["rule"]
    assert [c["sentence"] for c in via["citations"]] == [NOTES_L4]
    assert "an inferred member" in via["note"]
    # Asked for stated evidence only, the party's part in it is no stronger than inferred.
    stated = _pairings(api, party="惠水县", evidence="stated")
    assert stated["group_pairings"] == []
    inferred = _pairings(api, party="惠水县", evidence="inferred")
    assert [p["id"] for p in inferred["group_pairings"]] == [GROUP_PAIRING]


def test_a_county_without_a_known_partner_stays_unknown(api: TestClient) -> None:
    # 长顺县: its partner district is unknown (refnotes L3.1), whatever the group pairing says.
    body = _pairings(api, party="长顺县")
    assert body["status"] == "unknown"
    assert body["count"] == 0
    assert body["pairings"] == []
    assert [p["id"] for p in body["group_pairings"]] == [GROUP_PAIRING]
    assert len(body["unknown"]) == 2


@pytest.mark.parametrize("county", ["都匀市", "福泉市"])
def test_the_two_cities_are_not_in_the_ten_counties(api: TestClient, county: str) -> None:
    assert _pairings(api, party=county)["group_pairings"] == []


def test_filters_apply_to_group_pairings(api: TestClient) -> None:
    # The aggregate pairings hold in the year of the article (2023), not in 2019.
    assert [p["id"] for p in _pairings(api, party="黄埔区", year=2023)["group_pairings"]] == [
        GROUP_PAIRING
    ]
    assert _pairings(api, party="黄埔区", year=2019)["group_pairings"] == []
    level = _pairings(api, party="黄埔区", level="DistrictToCounty")
    assert [p["id"] for p in level["group_pairings"]] == [GROUP_PAIRING]
    assert _pairings(api, party="黄埔区", level="SchoolToSchool")["group_pairings"] == []
    # A side given alone is the member's side: 黄埔区's group helps.
    assert [p["id"] for p in _pairings(api, helper="黄埔区")["group_pairings"]] == [GROUP_PAIRING]
    assert _pairings(api, recipient="黄埔区")["group_pairings"] == []
    # Both sides given: the groups' pairing says nothing about 黄埔区 and 惠水县.
    both = _pairings(api, helper="黄埔区", recipient="惠水县")
    assert both["group_pairings"] == []
    assert both["status"] == "unknown"


def test_nansha_had_two_more_partners_whose_identity_is_unknown(api: TestClient) -> None:
    # refnotes L3.1: "the 2016–2020 partners of two more counties paired with 南沙区 are unknown".
    body = _pairings(api, party="南沙区")
    assert body["status"] == "known"
    assert [p["recipient"]["label"] for p in body["pairings"]] == ["惠水县"]
    (unknown,) = body["unknown"]
    assert unknown["party"]["label"] == "南沙区"
    assert unknown["unknown_count"] == 2
    assert unknown["evidence"] == "stated"
    assert (unknown["period"]["start"], unknown["period"]["end"]) == ("2016-01-01", "2020-12-31")
    assert "2 more partners" in unknown["note"]
    (citation,) = unknown["citations"]
    assert citation["sentence"] == NOTES_L3
    assert "two more counties paired with 南沙区" in citation["text"]
    # For a year of that round too; not for 2022, which the record does not cover.
    assert _pairings(api, party="南沙区", year=2018)["unknown"][0]["unknown_count"] == 2
    later = _pairings(api, party="南沙区", year=2022)
    assert later["status"] == "unknown"
    assert [u["unknown_count"] for u in later["unknown"]] == [None]
    assert later["unknown"][0]["citations"] == []


def test_a_round_with_an_unknown_partner_is_listed_beside_the_known_one(api: TestClient) -> None:
    # 罗甸县: 白云区 from 2021; the 2016–2020 partner unknown (refnotes L3.1).
    body = _pairings(api, party="罗甸县")
    assert body["status"] == "known"
    (unknown,) = body["unknown"]
    assert unknown["period"]["start"] == "2016-01-01"
    assert unknown["unknown_count"] is None


def test_a_pairing_keeps_the_reference_tables_grade(api: TestClient) -> None:
    # The reference table grades 南沙区–惠水县 (2017–2020) stated; kg grades it inferred (the
    # start year is computed from 3年前). Both are in the answer: the claim's and the row's.
    body = _pairings(api, helper="南沙区", recipient="惠水县")
    (pairing,) = body["pairings"]
    assert pairing["evidence"] == "inferred"
    assert pairing["reference_evidence"] == "stated"
    (citation,) = pairing["citations"]
    assert (citation["evidence"], citation["reference_evidence"]) == ("inferred", "stated")
    # Two rows, both stated in both tables; the article's own pairings have no such grade.
    (liwan,) = _pairings(api, helper="荔湾区", recipient="惠水县")["pairings"]
    assert [c["reference_evidence"] for c in liwan["citations"]] == ["stated", "stated"]
    schools = _pairings(api, level="SchoolToSchool")["pairings"]
    assert [p["reference_evidence"] for p in schools] == [None]


def test_party_page_lists_its_groups_pairing(api: TestClient) -> None:
    section = _section(api.get("/id/division/440112").text, "group-pairings")
    assert 'href="/id/pairing/gz-districts-qn-counties"' in section
    assert 'href="/id/group/gz-four-districts"' in section
    assert "as a whole" in section
    assert "10 members, none named by a source" in section
    assert 'href="/id/document/gq2023/s/13-1"' in section
    section = _section(api.get("/id/division/522731").text, "group-pairings")
    assert 'href="/ontology#Inferred"' in section
    assert 'href="/id/document/refnotes/s/4-1"' in section
    assert 'id="group-pairings"' not in api.get("/id/division/522701").text  # 都匀市


def test_pages_show_the_count_of_unknown_partners_and_the_reference_grade(
    api: TestClient,
) -> None:
    section = _section(api.get("/id/division/440115").text, "unknown")
    assert 'href="/id/unknown/440115-district-county-2016-2020"' in section
    assert 'href="/ontology#unknownPartnerCount"' in section
    assert 'href="/id/document/refnotes/s/3-1"' in section
    pairing = api.get("/id/pairing/440115-522731-2017-2020").text
    row = pairing.split('href="/ontology#referenceEvidence"', 1)[1].split("</tr>", 1)[0]
    assert 'href="/ontology#Stated"' in row
    row = pairing.split('href="/ontology#evidence"', 1)[1].split("</tr>", 1)[0]
    assert 'href="/ontology#Inferred"' in row


def test_a_store_without_groups_is_not_asked_for_them(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The party's groups are asked only of a store with groups (the search index knows the
    classes of every entity); the answer is the same without the lookup."""
    import kg.rest
    from kg.search import SearchIndex

    asked: list[str] = []
    select = kg.rest.select  # type: ignore[attr-defined]

    async def recording(store: Any, text: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(text.split("\n", 1)[0])
        return await select(store, text, *args, **kwargs)

    monkeypatch.setattr(kg.rest, "select", recording)
    with_groups = _pairings(api, party="惠水县")
    assert any("groups a party is a member of" in q for q in asked)
    assert with_groups["group_pairings"]
    asked.clear()
    monkeypatch.setattr(SearchIndex, "has_type", lambda _self, iri: not iri.endswith("#Group"))
    without = _pairings(api, party="惠水县")
    assert not any("groups a party is a member of" in q for q in asked)
    assert without["group_pairings"] == []
    assert without["pairings"] == with_groups["pairings"]
