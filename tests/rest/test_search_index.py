"""The search index file (kg.search): written by `kg build`, read by every server process.

The lookups are compared with a reference: the in-memory algorithm kg used before the index
moved to SQLite (a dict of keys, a sorted key list for prefixes, a scan for substrings), over
every name, prefix, substring, pinyin and code of the project's data.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import sqlite3
from collections.abc import Iterable, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import pyoxigraph as ox
import pytest

from kg.queries import Term, parse_solutions
from kg.search import (
    _CJK,
    _TIER,
    Entry,
    SearchIndex,
    Stopped,
    _entry,
    _gather,
    _keys,
    _Resource,
    build_index,
    fold,
    index_file_version,
    index_for,
    index_query,
    nquads_rows,
    raw_rows,
    write_index,
)
from kg.store.base import QueryRequest
from tests.fixtures.memory_store import MemoryStore

BASE = "https://w3id.org/gq-kg/"
COUNTY = "https://w3id.org/gq-kg/ontology#County"

Row = tuple[str, str, str, float]  # iri, match, key, score


class Reference:
    """The lookup as kg did it in memory (2026-11): the behaviour the index file must keep."""

    def __init__(self, rows: Iterable[Mapping[str, Term]]) -> None:
        grouped: dict[str, _Resource] = {}
        for raw in raw_rows(rows):
            _gather([raw], grouped.setdefault(raw[0], _Resource()))
        self.entries: list[Entry] = []
        postings: dict[str, set[tuple[int, bool]]] = {}
        for iri in sorted(grouped):
            res = grouped[iri]
            if not res.labels or not iri.startswith(BASE + "id/"):
                continue
            entry = _entry(iri, res)
            for key, weak in _keys(entry, res):
                postings.setdefault(key, set()).add((len(self.entries), weak))
            self.entries.append(entry)
        self.postings = postings
        self.sorted = sorted(postings)

    def lookup(self, text: str, types: tuple[str, ...] = (), limit: int = 10) -> list[Row]:
        query = fold(text)
        if not query:
            return []
        best: dict[int, tuple[int, str]] = {}

        def offer(key: str, tier: int) -> None:
            for pos, weak in self.postings[key]:
                if types and not set(types) & self.entries[pos].types:
                    continue
                if weak and tier == 1:
                    continue
                effective = tier - 1 if weak else tier
                old = best.get(pos)
                if old is None or (effective, -len(key)) > (old[0], -len(old[1])):
                    best[pos] = (effective, key)

        if query in self.postings:
            offer(query, 3)
        for key in itertools.islice(self.sorted, bisect.bisect_left(self.sorted, query), None):
            if not key.startswith(query):
                break
            if key != query:
                offer(key, 2)
        if len(best) < limit and (len(query) >= 2 or _CJK.match(query)):
            for key in self.sorted:
                if query in key and not key.startswith(query):
                    offer(key, 1)
        out: list[Row] = []
        for pos, (tier, key) in best.items():
            cover = len(query) / max(len(key), 1)
            score = 100.0 if tier == 3 else round((50.0 if tier == 2 else 25.0) + 45.0 * cover, 1)
            kind = "exact" if tier == 3 else "prefix" if tier == 2 else "substring"
            out.append((self.entries[pos].iri, kind, key, score))
        level = {e.iri: e.level for e in self.entries}
        out.sort(key=lambda r: (-_TIER[r[1]], level[r[0]], len(r[2]), r[0]))  # type: ignore[index]
        return out[:limit]


@pytest.fixture(scope="module")
def rows(real_store: MemoryStore) -> list[Mapping[str, Term]]:
    result = asyncio.run(
        real_store.query(QueryRequest(index_query(), accept=("application/sparql-results+json",)))
    )
    return list(parse_solutions(result.body).rows)


def _texts(reference: Reference) -> list[str]:
    """Every name of the data, its prefixes and inner substrings, codes and pinyin keys."""
    texts: set[str] = {"县", "区", "hsx", "hui", "h", "水县", "镇", "广州", "xian", "cun"}
    for entry in reference.entries:
        for name in (entry.label_zh, entry.label_en, entry.code, *entry.alt_labels):
            if not name:
                continue
            texts.add(name)
            texts.update(name[:n] for n in range(1, min(len(name), 6)))
            texts.update(name[i : i + 3] for i in range(1, min(len(name) - 2, 6)))
    texts.update(k for k in reference.sorted if k.isascii())
    return sorted(texts)


def test_lookups_agree_with_the_in_memory_reference(
    rows: list[Mapping[str, Term]], real_build: Path
) -> None:
    reference = Reference(rows)
    built = build_index(rows, BASE)  # the fallback: from the store's answer
    prebuilt = SearchIndex(real_build / "search.sqlite")  # what `kg build` wrote
    texts = _texts(reference)
    assert len(texts) > 500
    for text in texts:
        want = reference.lookup(text)
        for index in (built, prebuilt):
            got = [(h.entry.iri, h.match, h.key, h.score) for h in index.lookup(text)]
            assert got == want, text
    for text in texts[::7]:
        want = reference.lookup(text, (COUNTY,), limit=3)
        got = [
            (h.entry.iri, h.match, h.key, h.score)
            for h in built.lookup(text, types=[COUNTY], limit=3)
        ]
        assert got == want, text


def _tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table of an index file, rows sorted."""
    with closing(sqlite3.connect(path)) as db:
        return {
            table: sorted(db.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in ("meta", "entries", "types", "postings", "keys")
        }


def _answer_rows(dataset: Path) -> list[Mapping[str, Term]]:
    """The rows of search-index.rq over ``dataset``, as a server reads a store's answer."""
    store = ox.Store()
    store.bulk_load(path=str(dataset), format=ox.RdfFormat.N_QUADS)
    solutions = store.query(index_query(), use_default_graph_as_union=True)
    assert isinstance(solutions, ox.QuerySolutions)
    names = solutions.variables
    return [{v.value: s[v] for v in names if s[v] is not None} for s in solutions]


_EDGES = f"""
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix gq: <https://w3id.org/gq-kg/ontology#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix id: <{BASE}id/> .
id:a rdfs:label "甲县"@zh ; a gq:County .
<https://example.org/g1> {{ id:a rdfs:label "甲县"@zh ; skos:altLabel "甲" ; a gq:County . }}
<https://example.org/g2> {{ id:a a gq:Place ; gq:pinyin "jia" . }}
id:b skos:altLabel "乙" ; a gq:County ; gq:divisionCode "520000" .
id:c a gq:County ; gq:divisionCode "520001" .
_:x rdfs:label "空白"@zh ; a gq:County .
id:d rdfs:label <https://example.org/not-a-literal> , "丁村"@zh ; gq:pinyin "dingcun" ;
     a "not a class" , gq:Village ; gq:divisionCode <https://example.org/not-a-code> .
id:e rdfs:label "E Town"@en , "Ｅ镇" ; a gq:Town ; gq:divisionCode "522701001"^^xsd:string .
<https://w3id.org/gq-kg/ontology#Town> rdfs:label "镇"@zh , "town"@en .
"""


def _nquads(tmp_path: Path, name: str, trig: str | Path) -> Path:
    text = trig.read_text(encoding="utf-8") if isinstance(trig, Path) else trig
    dataset = ox.Dataset(ox.parse(text, format=ox.RdfFormat.TRIG))
    path = tmp_path / f"{name}.nq"
    path.write_bytes(ox.serialize(dataset, format=ox.RdfFormat.N_QUADS) or b"")
    return path


@pytest.mark.parametrize("data", ["edges", "mini", "hostile", "network-hostile", "generated"])
def test_the_index_from_the_file_equals_the_index_from_the_store(tmp_path: Path, data: str) -> None:
    """`kg build` reads the dataset file (nquads_rows, beside the engine's load); a server
    without the file reads the store's answer to search-index.rq: the same index, table by
    table (repeated quads, classes without rdfs:label, blank nodes, non-literal labels)."""
    fixtures = Path(__file__).resolve().parent.parent / "fixtures"
    if data == "edges":
        dataset = _nquads(tmp_path, data, _EDGES)
    elif data == "generated":
        from bench.generate import generate

        dataset = tmp_path / "generated.nq"
        generate(dataset, 20_000, 7, BASE)
    else:
        dataset = _nquads(tmp_path, data, fixtures / f"{data}.trig")
    from_file, from_store = tmp_path / "file.sqlite", tmp_path / "store.sqlite"
    write_index(from_file, nquads_rows(dataset), base=BASE, version="v")
    write_index(from_store, raw_rows(_answer_rows(dataset)), base=BASE, version="v")
    tables = _tables(from_file)
    assert tables == _tables(from_store)
    assert tables["entries"]
    if data == "edges":
        index = SearchIndex(from_file)
        assert index.entry(BASE + "id/a") is not None
        assert index.entry(BASE + "id/a").types == {  # type: ignore[union-attr]
            "https://w3id.org/gq-kg/ontology#County",
            "https://w3id.org/gq-kg/ontology#Place",
        }
        assert index.entry(BASE + "id/b").types == frozenset()  # type: ignore[union-attr]
        assert index.entry(BASE + "id/c") is None  # no label
        assert index.entry_for_code("522701001").iri == BASE + "id/e"  # type: ignore[union-attr]
        assert [h.entry.iri for h in index.lookup("dingcun")] == [BASE + "id/d"]


def test_the_build_index_equals_the_index_from_its_store(
    rows: list[Mapping[str, Term]], real_build: Path, tmp_path: Path
) -> None:
    """What `kg build` wrote (from the file, on its own thread) is what the project's store
    answers, read as a server without the file reads it."""
    expected = tmp_path / "search.sqlite"
    write_index(expected, raw_rows(rows), base=BASE, version=real_build.name)
    assert _tables(real_build / "search.sqlite") == _tables(expected)


def test_a_stopped_or_broken_read_leaves_no_file(tmp_path: Path) -> None:
    """The build stops the index when its load fails (a set event); a malformed file fails
    the read as it fails the loader."""
    import threading

    dataset = _nquads(tmp_path, "edges", _EDGES)
    stop = threading.Event()
    stop.set()
    target = tmp_path / "out" / "search.sqlite"
    target.parent.mkdir()
    with pytest.raises(Stopped):
        write_index(target, nquads_rows(dataset, stop=stop), base=BASE, version="v")
    many = [(f"{BASE}id/e{i}", f"名{i}", "zh", "label", "", "") for i in range(50_000)]
    with pytest.raises(sqlite3.OperationalError, match="interrupted"):
        write_index(target, iter(many), base=BASE, version="v", stop=stop)  # SQLite's work
    write_index(target, iter(many[:3]), base=BASE, version="v")  # not stopped: written
    assert len(SearchIndex(target)) == 3
    target.unlink()
    broken = tmp_path / "broken.nq"
    broken.write_text('<https://a> <https://b> "open .\n', encoding="utf-8")
    with pytest.raises(SyntaxError):
        write_index(target, nquads_rows(broken), base=BASE, version="v")
    assert list(target.parent.iterdir()) == []


def test_entries_codes_pages_and_terms(rows: list[Mapping[str, Term]], real_build: Path) -> None:
    reference = Reference(rows)
    index = SearchIndex(real_build / "search.sqlite")
    assert len(index) == len(reference.entries) > 200
    total, page = index.page([], 0, 10_000)
    assert total == len(reference.entries)
    assert page == reference.entries  # IRI order, every field
    counties = [e for e in reference.entries if COUNTY in e.types]
    assert index.page([COUNTY], 2, 3) == (len(counties), counties[2:5])
    for entry in reference.entries:
        assert index.entry(entry.iri) == entry
        if entry.code:
            assert index.entry_for_code(entry.code) == entry
    # Ontology terms are described (labels for display) but never searched nor listed.
    term = index.terms[COUNTY]
    assert term.label_zh
    assert index.describe(COUNTY) == term
    assert index.entry(COUNTY) is None
    assert all(h.entry.iri.startswith(BASE + "id/") for h in index.lookup("县", limit=100))
    assert index_file_version(real_build / "search.sqlite") == (real_build.name, BASE)


def test_build_writes_the_index_and_names_it_in_the_manifest(real_build: Path) -> None:
    import json

    manifest = json.loads((real_build / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["search_index"] == "search.sqlite"
    assert manifest["search_entries"] == len(SearchIndex(real_build / "search.sqlite")) > 200


def test_the_server_reads_the_build_index_not_the_store(real_build: Path, tmp_path: Path) -> None:
    """With the build's file at hand, no process asks the store for every label row; a file of
    another version (an update changed the store) or another base is not used."""
    from api.app import create_app
    from fastapi.testclient import TestClient

    from tests.conftest import mini_settings

    settings = mini_settings(tmp_path, dataset_file=real_build / "dataset.nq")
    with TestClient(create_app(settings)) as client:
        store = client.app.state.ctx.served.store  # type: ignore[attr-defined]
        info = asyncio.run(store.info())
        assert info.search_index == str(real_build / "search.sqlite")
        index = asyncio.run(index_for(store, settings.base_iri))
        assert index.path == real_build / "search.sqlite"
        body = client.get("/api/search", params={"q": "惠水"}).json()
        assert body["hits"][0]["entity"]["code"] == "522731"


def test_a_stale_or_foreign_index_file_is_not_used(
    rows: list[Mapping[str, Term]], tmp_path: Path
) -> None:
    from kg.search import _prebuilt
    from kg.sparql.types import StoreInfo

    path = tmp_path / "search.sqlite"
    write_index(path, raw_rows(rows), base=BASE, version="v1")
    assert _prebuilt(StoreInfo("v1", "x", search_index=str(path)), BASE) is not None
    assert _prebuilt(StoreInfo("v2", "x", search_index=str(path)), BASE) is None  # updated
    assert _prebuilt(StoreInfo("v1", "x", search_index=str(path)), "https://example.org/") is None
    path.write_bytes(b"not a database")
    assert _prebuilt(StoreInfo("v1", "x", search_index=str(path)), BASE) is None
    assert index_file_version(tmp_path / "missing.sqlite") is None


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    def broken() -> Iterable[tuple[str, str, str, str, str, str]]:
        yield (BASE + "id/x", "x", "zh", "label", "", "")
        raise sqlite3.OperationalError("disk full")

    with pytest.raises(sqlite3.OperationalError):
        write_index(tmp_path / "search.sqlite", broken(), base=BASE, version="v")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text", ["*", "[a", "?", "a*b", "'; DROP TABLE entries; --", "%", "_"])
def test_pattern_characters_are_plain_text(rows: list[Mapping[str, Term]], text: str) -> None:
    reference = Reference(rows)
    index = build_index(rows, BASE)
    got = [(h.entry.iri, h.match, h.key, h.score) for h in index.lookup(text + "惠水")]
    assert got == reference.lookup(text + "惠水")
    assert len(index) == len(reference.entries)  # nothing dropped


@pytest.mark.parametrize(
    "text",
    [
        "\x00惠水",
        "惠\x00水",
        "惠水\x00\x00\x00",
        "\u202e惠水\u202c",
        "\ufeff惠\u200b水",
        "惠\ue000水",
    ],
)
def test_control_and_format_characters_are_not_searched_for(
    rows: list[Mapping[str, Term]], text: str
) -> None:
    """A NUL reached SQLite, whose ``||`` ends a string there: 200 NULs were a prefix of every
    key, each hit scored thousands (a 500 from /api/search). They are dropped like spaces."""
    index = build_index(rows, BASE)
    plain = [(h.entry.iri, h.match, h.score) for h in index.lookup("惠水")]
    assert plain
    assert [(h.entry.iri, h.match, h.score) for h in index.lookup(text)] == plain
    assert index.lookup("\x00" * 200) == []
    assert index.lookup("\x00\u200b\ufeff\uffff") == []
    # A letter this Python's Unicode does not know yet (CJK extension H) stays a letter.
    assert fold("惠\U00031350") == "惠\U00031350"


def test_a_substring_search_has_a_step_budget(
    rows: list[Mapping[str, Term]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rare short substring scans every key: past the budget, the hits found so far."""
    from kg import search

    index = build_index(rows, BASE)
    full = index.lookup("水县", limit=50)
    assert any(h.match == "substring" for h in full)
    monkeypatch.setattr(search, "_STEPS", 1)
    cut = index.lookup("水县", limit=50)
    assert [h for h in cut if h.match == "substring"] == []
    assert [h for h in full if h.match != "substring"] == cut


@pytest.mark.parametrize("pinned", [True, False])
def test_a_remote_store_uses_the_build_index_of_its_dump(
    real_build: Path, tmp_path: Path, pinned: bool
) -> None:
    """KG_STORE=remote over the build's dump: with KG_REMOTE_VERSION = the build id and
    KG_SEARCH_INDEX = its search.sqlite the file is used; otherwise the index is built from the
    endpoint, with the same hits."""
    from kg.store.remote import RemoteStore
    from tests.conftest import mini_settings
    from tests.support.servers import oxigraph_server

    index_file = real_build / "search.sqlite"
    with oxigraph_server(real_build / "dataset.nq", tmp_path / "db") as url:
        settings = mini_settings(
            tmp_path,
            store="remote",
            remote_url=url,
            remote_version=real_build.name if pinned else None,
            search_index=index_file,
        )

        async def main() -> tuple[SearchIndex, list[str]]:
            store = RemoteStore(settings)
            await store.start()
            try:
                index = await index_for(store, BASE)
                return index, [h.entry.iri for h in index.lookup("惠水")]
            finally:
                await store.close()

        index, hits = asyncio.run(main())
    assert (index.path == index_file) is pinned
    assert hits[0] == BASE + "id/division/522731"
    assert hits == [h.entry.iri for h in SearchIndex(index_file).lookup("惠水")]


def test_private_index_files_of_dead_processes_are_swept(tmp_path: Path) -> None:
    """A server without the build's file writes a private index in the temporary folder and
    removes it when done; one killed with SIGKILL cannot, so the next private index sweeps
    the files of processes that are gone (and only those)."""
    import os
    import subprocess
    import sys

    from kg.search import _sweep_private_files

    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = int(child.stdout)
    gone = tmp_path / f"kg-search-{dead}-abc123.sqlite"
    half = tmp_path / f"kg-search-{dead}-def456.sqlite.partial"
    mine = tmp_path / f"kg-search-{os.getpid()}-xyz.sqlite"
    other = tmp_path / "kg-search-notes.txt"
    for path in (gone, half, mine, other):
        path.write_bytes(b"x")
    assert sorted(_sweep_private_files(tmp_path)) == sorted([gone, half])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, other.name])


def test_the_build_keeps_the_class_counts_the_home_page_shows(
    real_build: Path,
    real_store: MemoryStore,
    web_app: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`kg build` answers stats-entities-by-class once and keeps the answer in its index file
    (a whole-graph aggregate: 4 s at 10M quads, on every home page the cache had not kept);
    the home page shows the same counts from the file as from the store, and with the file
    does not ask the store."""
    import re

    from api import app as app_module
    from api.routers import home
    from fastapi.testclient import TestClient

    from kg.answers import answer
    from kg.queries import get_query
    from tests.conftest import mini_settings

    kept = SearchIndex(real_build / "search.sqlite").class_counts
    found = asyncio.run(answer(real_store, get_query("stats-entities-by-class")))
    assert kept == [(r["class"].value, int(r["count"].value)) for r in found.rows]
    assert kept
    assert kept[0][1] >= kept[-1][1]
    assert build_index([], BASE).class_counts is None  # built from a store: asks the store

    def counts(page: str) -> list[tuple[str, str]]:
        section = page[page.index('id="counts"') :]
        section = section[: section.index("</section>")]
        return re.findall(r"<td>(?:(?!</td>).)*?(\w+)</a></td><td>(\d+)</td>", section)

    asked: list[str] = []

    async def recording(store: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(query.name)
        return await answer(store, query, *args, **kwargs)

    monkeypatch.setattr(home, "answer", recording)
    settings = mini_settings(tmp_path, dataset_file=real_build / "dataset.nq")
    with TestClient(app_module.create_app(settings)) as client:  # the build's file
        from_file = client.get("/").text
    assert "stats-entities-by-class" not in asked
    from_store = web_app(MemoryStore(real_build / "dataset.nq")).get("/").text
    assert "stats-entities-by-class" in asked
    assert counts(from_file) == counts(from_store)
    assert len(counts(from_file)) > 10


def test_folding_ascii_takes_a_short_path_with_the_same_result() -> None:
    """fold() skips the Unicode work for ASCII text (pinyin spellings, codes, English: most
    keys a build folds); the result is what the full path gives, for any ASCII text."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from kg import search

    @settings(max_examples=2000, derandomize=True, database=None, deadline=None)
    @given(st.text(alphabet=st.characters(max_codepoint=127), max_size=40))
    def agrees(text: str) -> None:
        assert search.fold.__wrapped__(text) == search._fold_unicode(text)

    agrees()
    for text in ("Huishui County", "hui4shui3", "Weng'an", "nu:", "lu:shan", "a\x00b\tc", "522731"):
        assert search.fold(text) == search._fold_unicode(text)


def test_the_index_knows_which_classes_have_entities(real_build: Path, tmp_path: Path) -> None:
    """`/api/pairings?party=` asks for a party's groups only when the store has groups."""
    index = SearchIndex(real_build / "search.sqlite")
    assert index.has_type("https://w3id.org/gq-kg/ontology#Group")
    assert index.has_type(COUNTY)
    assert not index.has_type("https://w3id.org/gq-kg/ontology#NoSuchClass")
    path = tmp_path / "search.sqlite"
    rows = [(f"{BASE}id/a", "甲", "zh", "label", "", ""), (f"{BASE}id/a", "", "", "", COUNTY, "")]
    write_index(path, iter(rows), base=BASE, version="v")
    small = SearchIndex(path)
    assert small.has_type(COUNTY)
    assert not small.has_type("https://w3id.org/gq-kg/ontology#Group")
