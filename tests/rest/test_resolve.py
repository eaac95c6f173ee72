"""Search and entity resolution over the real data: every way a user names a place."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kg.errors import BadParameter, NotFound
from kg.queries import bind, get_query
from kg.resolve import compact, expand, expand_type, resolve
from kg.search import SearchIndex, current_index, fold, index_for, search
from kg.store.base import QueryRequest, QueryResult
from tests.fixtures.memory_store import MemoryStore

BASE = "https://w3id.org/gq-kg/"
HUISHUI = BASE + "id/division/522731"


@pytest.mark.parametrize(
    "text",
    [
        "惠水县",
        "惠水",
        "惠水縣",  # traditional
        "huishui",
        "Huishui",
        "hui shui",
        "Huìshuǐ",  # tone marks
        "hui4shui3xian4",  # tone numbers
        "Huishui County",
        "huishui county",
        "522731",
        "id:division/522731",
        HUISHUI,
    ],
)
def test_every_way_of_naming_huishui(real_store: MemoryStore, text: str) -> None:
    resolved = asyncio.run(resolve(real_store, text, base=BASE))
    assert resolved.iri == HUISHUI
    assert resolved.label == "惠水县"
    assert resolved.label_en == "Huishui County"
    assert resolved.code == "522731"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("海珠", "440105"),
        ("luodian", "522728"),
        ("白云区", "440111"),
        ("Baiyun District", "440111"),
        ("wengan", "522725"),
        ("Weng'an", "522725"),
        ("changshun", "522729"),
        ("黔南", "522700"),
        ("黔南州", "522700"),  # the usual short form of 黔南布依族苗族自治州
        ("三都县", "522732"),  # the prefecture outranks groups named 黔南…
        # … and in English (Qiannan Buyei and Miao Autonomous Prefecture): not the delegation
        # "Qiannan Prefecture party and government delegation", whose name it begins.
        ("Qiannan Prefecture", "522700"),
        ("Sandu County", "522732"),  # Sandu Shui Autonomous County
        ("Sandu Autonomous County", "522732"),
        ("Qiannan Autonomous Prefecture", "522700"),
        ("Duyun City", "522701"),  # 都匀市, Duyun: the 市 in English
        ("Guangzhou City", "440100"),
        ("广州", "440100"),
    ],
)
def test_partial_names_prefer_the_division(real_store: MemoryStore, text: str, code: str) -> None:
    assert asyncio.run(resolve(real_store, text, base=BASE)).code == code


def test_search_ranks_exact_before_prefix_before_substring(real_store: MemoryStore) -> None:
    hits = asyncio.run(search(real_store, "惠水县", base=BASE, limit=20))
    kinds = [h.match for h in hits]
    assert kinds[0] == "exact"
    assert hits[0].entry.iri == HUISHUI
    assert hits[0].score == 100.0
    order = {"exact": 0, "prefix": 1, "substring": 2}
    assert [order[k] for k in kinds] == sorted(order[k] for k in kinds)
    assert "substring" in kinds  # pairings named 荔湾区—惠水县 … contain it
    assert all(h.score < 100.0 for h in hits[1:])


def test_search_limit_and_type_filter(real_store: MemoryStore) -> None:
    assert len(asyncio.run(search(real_store, "县", base=BASE, limit=3))) == 3
    assert (
        asyncio.run(search(real_store, "县", base=BASE, types=[BASE + "ontology#NoSuchClass"]))
        == []
    )
    typed = asyncio.run(
        search(
            real_store,
            "惠水",
            base=BASE,
            types=["https://w3id.org/gq-kg/ontology#County"],
            limit=50,
        )
    )
    assert [h.entry.iri for h in typed] == [HUISHUI]


def test_type_filter_in_resolve(real_store: MemoryStore) -> None:
    assert asyncio.run(resolve(real_store, "惠水", base=BASE, types=["gq:County"])).iri == HUISHUI
    with pytest.raises(NotFound, match="UrbanDistrict"):
        asyncio.run(resolve(real_store, "522731", base=BASE, types=["gq:UrbanDistrict"]))


@pytest.mark.parametrize(
    "text", ["no such place", "zzzzqqq", "999999", "id:division/999999", BASE + "id/x/nothing"]
)
def test_unknown_is_not_found(real_store: MemoryStore, text: str) -> None:
    with pytest.raises(NotFound):
        asyncio.run(resolve(real_store, text, base=BASE))


@pytest.mark.parametrize(
    "text",
    ["", "   ", "x" * 10_000, "a\x00b", "...", 'https://x/"}', "id:division/<x>"],
)
def test_malformed_is_bad_parameter(real_store: MemoryStore, text: str) -> None:
    with pytest.raises(BadParameter):
        asyncio.run(resolve(real_store, text, base=BASE))


def test_ambiguous_names_are_refused_with_candidates(real_store: MemoryStore) -> None:
    # 广州282所学校 and 黔南328所学校 tie: the message lists both and asks for an id.
    with pytest.raises(BadParameter, match="ambiguous") as caught:
        asyncio.run(resolve(real_store, "学校", base=BASE))
    assert "id:group/gz-282-schools" in caught.value.message
    assert "id:group/qn-328-schools" in caught.value.message


def test_resources_without_labels_resolve_by_iri(real_store: MemoryStore) -> None:
    sentence = BASE + "id/document/gq2023/s/13-1"
    resolved = asyncio.run(resolve(real_store, sentence, base=BASE))
    assert resolved.iri == sentence
    assert resolved.label is None


def test_fold_and_forms() -> None:
    assert fold("Huìshuǐ Xiàn") == "huishuixian"
    assert fold("惠水縣") == "惠水县"
    assert fold("Lǚ") == fold("lv")
    assert expand("id:division/522731", BASE) == HUISHUI
    assert expand("gq:County", BASE) == "https://w3id.org/gq-kg/ontology#County"
    assert expand("惠水", BASE) is None
    assert compact(HUISHUI, BASE) == "id:division/522731"
    assert expand_type("County") == "https://w3id.org/gq-kg/ontology#County"
    with pytest.raises(BadParameter):
        expand_type("not a class }")


def test_the_search_index_is_complete_under_a_small_row_cap() -> None:
    """The index query reads every row: the cap on users' answers (KG_MAX_RESULT_ROWS) is far
    below the label/class rows of a big build, and would silently drop names."""
    from tests.conftest import MINI

    async def main() -> tuple[QueryResult, SearchIndex, SearchIndex]:
        capped, free = MemoryStore(MINI, max_rows=2), MemoryStore(MINI)
        await capped.start()
        await free.start()
        user = await capped.query(QueryRequest("SELECT * { ?s ?p ?o }"))
        return user, await index_for(capped, BASE), await index_for(free, BASE)

    user, index, reference = asyncio.run(main())
    assert (user.rows, user.truncated) == (2, True)  # the cap still holds for other queries
    assert len(index) == len(reference) == 5  # the five divisions of mini.trig
    assert index.page([], 0, 10) == reference.page([], 0, 10)
    assert [h.entry.code for h in index.lookup("长顺")] == ["522729"]


@pytest.mark.parametrize("text", ["id:division/522731", HUISHUI, "522731", "id:division/440111"])
def test_ids_and_codes_resolve_without_the_whole_index(real_build: Path, text: str) -> None:
    """On a build of millions of quads the index takes minutes: an id, IRI or code in a
    request is looked up on its own, with the same entry as the index would give."""
    store = MemoryStore(real_build / "dataset.nq")
    asyncio.run(store.start())
    whole_index = bind(get_query("search-index"), {})
    alone = asyncio.run(resolve(store, text, base=BASE))
    assert whole_index not in [q.query for q in store.queries]
    assert asyncio.run(current_index(store, BASE)) is None
    asyncio.run(index_for(store, BASE))
    assert whole_index in [q.query for q in store.queries]
    assert asyncio.run(resolve(store, text, base=BASE)) == alone
    asyncio.run(store.close())
