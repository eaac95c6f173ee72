"""Search by name: an in-memory index of every labelled entity, built once per store version.

Users ask in words — 惠水县, 惠水, 惠水縣, huishui, Huìshuǐ, Huishui County, 522731 — so every
entity gets *keys*: each label folded (traditional → simplified with OpenCC, accents, tone
marks and digits, case, spaces and punctuation removed), its pinyin generated from the Chinese
label by pypinyin (every reading of a polyphonic character, bounded), the initials of that
pinyin, and its GB/T 2260 code. A query is folded the same way and matched against the keys:

    exact  >  prefix  >  substring        (then: higher administrative level, shorter key)

Exact matches come from a dict, prefixes from a sorted list (bisect), and only when those do not
fill the limit is the key list scanned for substrings, so a lookup stays cheap at a million quads.
The rows come from the named query ``search-index`` (``ontology/queries/api/search-index.rq``);
the index is rebuilt when the store's version changes (a new build).
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import re
import unicodedata
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final, Literal

import pyoxigraph as ox

from kg.queries import Term, bind, get_query, parse_solutions, select
from kg.store.base import QueryRequest, Store

__all__ = [
    "MAX_LIMIT",
    "MAX_QUERY_CHARS",
    "Entry",
    "Hit",
    "MatchKind",
    "SearchIndex",
    "build_index",
    "fold",
    "index_for",
    "search",
]

log = logging.getLogger("kg.search")

GQ: Final = "https://w3id.org/gq-kg/ontology#"
#: Longest search text looked at (a name longer than this is no name: 422 upstream).
MAX_QUERY_CHARS: Final = 200
#: Most hits one search returns.
MAX_LIMIT: Final = 100
#: Seconds the index query may take (it runs once per store version).
INDEX_TIMEOUT: Final = 120.0
#: Readings combined per label at most (polyphonic characters multiply them).
_MAX_READINGS: Final = 8

MatchKind = Literal["exact", "prefix", "substring"]
_TIER: Final[dict[MatchKind, int]] = {"exact": 3, "prefix": 2, "substring": 1}

# Administrative level, highest first: a county outranks a town of the same name.
_LEVELS: Final = (
    ("Country",),
    ("Province",),
    ("Prefecture", "AutonomousPrefecture"),
    ("UrbanDistrict", "County", "AutonomousCounty", "CountyLevelCity"),
    ("Town", "Township", "Subdistrict"),
    ("Village", "Community"),
)
_NOT_A_DIVISION: Final = len(_LEVELS)
_DROP: Final = re.compile(r"[\s'’‘`\-_.,·・()()、,。:;\"“”/]+")
# 惠水县 is called 惠水, Huishui County Huishui: short forms of division names are names too.
_ZH_SUFFIX: Final = re.compile(r"^(.{2,}?)(?:县|区|市|州|省|镇|乡|街道|村|社区)$")
_EN_SUFFIX: Final = re.compile(
    r"^(.{2,}?)\s+(?:county|district|city|prefecture|province|town|township|subdistrict)$", re.I
)
_TONE_DIGITS: Final = re.compile(r"(?<=[a-z])[1-5]")
# 黔南布依族苗族自治州 is called 黔南州, 三都水族自治县 三都县: the ethnic names drop out.
_AUTONOMOUS: Final = re.compile(
    r"^(.+?)(?:布依族|苗族|水族|侗族|瑶族|壮族|土家族|彝族|仡佬族|毛南族|回族|白族|黎族|畲族)+自治(州|县)$"
)
_CJK: Final = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@lru_cache(maxsize=1)
def _converter() -> object:
    # Loaded on first use (reads OpenCC's dictionaries): nothing at import time.
    from opencc import OpenCC  # noqa: PLC0415

    return OpenCC("t2s")


def _to_simplified(text: str) -> str:
    if not _CJK.search(text):
        return text
    converted = _converter().convert(text)  # type: ignore[attr-defined]
    return str(converted)


def fold(text: str) -> str:
    """The form keys and queries are compared in.

    Simplified Chinese, no accents or tone marks (``Huìshuǐ`` → ``huishui``), ``ü`` as ``v``
    (pypinyin's spelling), lower case, tone digits after letters dropped (``hui4shui3``),
    spaces and punctuation dropped (``Weng'an`` → ``wengan``).
    """
    text = _to_simplified(unicodedata.normalize("NFKC", text)).lower().replace("u:", "v")
    decomposed = unicodedata.normalize("NFKD", text).replace("u\u0308", "v")
    text = "".join(c for c in decomposed if not unicodedata.combining(c))
    text = unicodedata.normalize("NFKC", text)
    text = _TONE_DIGITS.sub("", text)
    return _DROP.sub("", text)


def _readings(label: str) -> tuple[list[str], list[str]]:
    """Pinyin spellings (folded, joined) and initials of a Chinese label, bounded."""
    from pypinyin import Style, pinyin  # noqa: PLC0415 (loaded on first index build)

    if not _CJK.search(label):
        return [], []
    syllables = pinyin(label, style=Style.NORMAL, heteronym=True, errors="default")
    combos = list(itertools.islice(itertools.product(*syllables), _MAX_READINGS))
    spellings = sorted({fold("".join(c)) for c in combos})
    initials = sorted({fold("".join(s[:1] for s in c)) for c in combos})
    return spellings, initials


def _level(types: Iterable[str]) -> int:
    names = {t.removeprefix(GQ) for t in types if t.startswith(GQ)}
    for rank, level in enumerate(_LEVELS):
        if names.intersection(level):
            return rank
    return _NOT_A_DIVISION


@dataclass(frozen=True)
class Entry:
    """One searchable entity."""

    iri: str
    label_zh: str | None
    label_en: str | None
    alt_labels: tuple[str, ...]
    types: frozenset[str]
    code: str | None
    #: 0 (country) … 5 (village); 6 for anything that is not an administrative division.
    level: int

    @property
    def label(self) -> str:
        """The best display label: Chinese, else English, else the IRI."""
        return self.label_zh or self.label_en or self.iri


@dataclass(frozen=True)
class Hit:
    """One search result: the entity, how it matched and a score in 0..100."""

    entry: Entry
    match: MatchKind
    key: str
    score: float


@dataclass(frozen=True)
class _Label:
    value: str
    language: str
    kind: str  # "label", "alt" (skos:altLabel) or "pinyin" (gq:pinyin)


@dataclass
class _Builder:
    labels: dict[str, list[_Label]] = field(default_factory=dict)
    types: dict[str, set[str]] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)


class SearchIndex:
    """Keys → entries, with exact, prefix and substring lookup."""

    def __init__(
        self,
        entries: Sequence[Entry],
        keys: Iterable[tuple[str, int, bool]],
        terms: Sequence[Entry] = (),
    ) -> None:
        self.entries: tuple[Entry, ...] = tuple(entries)
        self.by_iri: dict[str, Entry] = {e.iri: e for e in self.entries}
        #: Labelled resources outside the data (ontology terms, concepts): for display only.
        self.terms: dict[str, Entry] = {e.iri: e for e in terms}
        self.by_code: dict[str, Entry] = {e.code: e for e in self.entries if e.code}
        # key -> [(entry position, weak)]; weak keys (initials) never count as exact names.
        postings: dict[str, set[tuple[int, bool]]] = {}
        for key, pos, weak in keys:
            if key:
                postings.setdefault(key, set()).add((pos, weak))
        self._postings = {k: tuple(sorted(v)) for k, v in postings.items()}
        self._sorted = sorted(self._postings)
        # Substrings through a gram index (each key's characters and character pairs → key
        # numbers): a lookup intersects the postings of the query's rarest pair instead of
        # scanning every key.
        grams: dict[str, list[int]] = {}
        for number, key in enumerate(self._sorted):
            for gram in {*key, *(key[i : i + 2] for i in range(len(key) - 1))}:
                grams.setdefault(gram, []).append(number)
        self._grams = grams

    def describe(self, iri: str) -> Entry | None:
        """The entry of a data entity or an ontology term, for its labels."""
        return self.by_iri.get(iri) or self.terms.get(iri)

    def __len__(self) -> int:
        return len(self.entries)

    def lookup(
        self, text: str, *, types: Sequence[str] = (), limit: int = 10, substring: bool = True
    ) -> list[Hit]:
        """Hits for ``text`` (already bounded by the caller), best first, at most ``limit``."""
        query = fold(text)
        if not query:
            return []
        wanted = frozenset(types)
        best: dict[int, tuple[int, str]] = {}  # entry position -> (tier, key)

        def offer(key: str, tier: int) -> None:
            for pos, weak in self._postings[key]:
                if wanted and not wanted.intersection(self.entries[pos].types):
                    continue
                # Initials (hsx → 惠水县) are weak: one tier down, never a substring match.
                if weak and tier == 1:
                    continue
                effective = tier - 1 if weak else tier
                old = best.get(pos)
                if old is None or (effective, -len(key)) > (old[0], -len(old[1])):
                    best[pos] = (effective, key)

        if query in self._postings:
            offer(query, 3)
        start = bisect.bisect_left(self._sorted, query)
        for key in itertools.islice(self._sorted, start, None):
            if not key.startswith(query):
                break
            if key != query:
                offer(key, 2)
        if substring and len(best) < limit and (len(query) >= 2 or _CJK.match(query)):
            for key in self._containing(query):
                if not key.startswith(query):
                    offer(key, 1)
        hits = [self._hit(pos, tier, key, query) for pos, (tier, key) in best.items()]
        hits.sort(key=lambda h: (-_TIER[h.match], h.entry.level, len(h.key), h.entry.iri))
        return hits[:limit]

    def _containing(self, query: str) -> Iterator[str]:
        """Keys that contain ``query``, from the postings of its rarest character pair."""
        grams = {query[i : i + 2] for i in range(len(query) - 1)} or {query}
        postings = [self._grams.get(g, []) for g in grams]
        rarest = min(postings, key=len)
        for number in rarest:
            key = self._sorted[number]
            if query in key:
                yield key

    def _hit(self, pos: int, tier: int, key: str, query: str) -> Hit:
        kind: MatchKind = "exact" if tier == 3 else "prefix" if tier == 2 else "substring"
        # 100 for an exact name; a partial match scores by how much of the key it covers.
        cover = len(query) / max(len(key), 1)
        score = 100.0 if tier == 3 else round((50.0 if tier == 2 else 25.0) + 45.0 * cover, 1)
        return Hit(self.entries[pos], kind, key, score)


def build_index(rows: Iterable[Mapping[str, Term]], base: str) -> SearchIndex:
    """The index over the rows of ``search-index.rq``; entities under ``{base}id/`` are searched,
    other labelled resources (ontology terms) only described."""
    prefix = base + "id/"
    b = _Builder()
    for row in rows:
        entity = row.get("entity")
        if not isinstance(entity, ox.NamedNode):
            continue
        iri = entity.value
        label, kind, cls, code = (
            row.get("label"),
            row.get("kind"),
            row.get("class"),
            row.get("code"),
        )
        if isinstance(label, ox.Literal) and isinstance(kind, ox.Literal):
            b.labels.setdefault(iri, []).append(
                _Label(label.value, label.language or "", kind.value)
            )
        if isinstance(cls, ox.NamedNode):
            b.types.setdefault(iri, set()).add(cls.value)
        if isinstance(code, ox.Literal):
            b.codes[iri] = code.value
    entries: list[Entry] = []
    terms: list[Entry] = []
    keys: list[tuple[str, int, bool]] = []
    for iri in sorted(b.labels):
        labels = b.labels[iri]
        zh = [x.value for x in labels if x.kind == "label" and x.language.startswith("zh")]
        en = [x.value for x in labels if x.kind == "label" and x.language.startswith("en")]
        alts = tuple(sorted({x.value for x in labels if x.kind != "label"}))
        types = frozenset(b.types.get(iri, ()))
        entry = Entry(
            iri=iri,
            label_zh=min(zh, key=lambda s: (len(s), s)) if zh else None,
            label_en=min(en, key=lambda s: (len(s), s)) if en else None,
            alt_labels=alts,
            types=types,
            code=b.codes.get(iri),
            level=_level(types),
        )
        if not iri.startswith(prefix):
            terms.append(entry)  # ontology terms: labels for display, not searched
            continue
        pos = len(entries)
        entries.append(entry)
        texts = {x.value for x in labels}
        texts.update(f"{m[1]}{m[2]}" for t in list(texts) if (m := _AUTONOMOUS.match(t)))
        if entry.level != _NOT_A_DIVISION:
            for pattern in (_ZH_SUFFIX, _EN_SUFFIX):
                texts.update(m[1] for t in list(texts) if (m := pattern.match(t)))
        for text in sorted(texts):
            keys.append((fold(text), pos, False))
            spellings, initials = _readings(text)
            keys.extend((s, pos, False) for s in spellings)
            keys.extend((i, pos, True) for i in initials if len(i) >= 2)
        if entry.code:
            keys.append((entry.code, pos, False))
    return SearchIndex(entries, keys, terms)


# One index per open store (dropped with it). Two requests racing on a new version may both
# build it: harmless, and no lock tied to one event loop is needed.
_indexes: weakref.WeakKeyDictionary[Store, tuple[tuple[str, str], SearchIndex]] = (
    weakref.WeakKeyDictionary()
)


async def index_for(store: Store, base: str) -> SearchIndex:
    """The index of ``store``'s current version (built on first use, then kept); ``base`` is
    the data's base IRI (its ``{base}id/`` resources are searched, the rest are terms)."""
    key = ((await store.info()).version, base)
    cached = _indexes.get(store)
    if cached is not None and cached[0] == key:
        return cached[1]
    # Built once per version, so it may take longer than a user's query, and it reads every
    # row: a million-quad build has more label/class rows than the cap on users' answers.
    result = await store.query(
        QueryRequest(
            query=bind(get_query("search-index"), {}),
            accept=("application/sparql-results+json",),
            timeout=INDEX_TIMEOUT,
            row_cap=False,
        )
    )
    if result.truncated:  # a value over max_value_bytes, say
        log.warning("search index: the index query's answer was cut short; names may be missing")
    solutions = parse_solutions(result.body)
    # pypinyin over every label takes a while on a big build: off the event loop.
    index = await asyncio.to_thread(build_index, solutions.rows, base)
    _indexes[store] = (key, index)
    return index


async def current_index(store: Store, base: str) -> SearchIndex | None:
    """The index of ``store``'s current version if it is built already, else None."""
    key = ((await store.info()).version, base)
    cached = _indexes.get(store)
    return cached[1] if cached is not None and cached[0] == key else None


async def entry_for(store: Store, iri: str, base: str) -> Entry | None:
    """The index entry of one resource (None: no label under ``{base}id/``), without building
    the whole index: on a build of millions of quads the index takes minutes to build, and an
    id, IRI or code in a request should not wait for it."""
    index = await current_index(store, base)
    if index is not None:
        return index.by_iri.get(iri)
    found = await select(store, bind(get_query("search-entry"), {"entity": iri}))
    return build_index(found.rows, base).by_iri.get(iri)


async def entry_for_code(store: Store, code: str, base: str) -> Entry | None:
    """The entry of the division with GB/T 2260 ``code``, like :func:`entry_for`."""
    index = await current_index(store, base)
    if index is not None:
        return index.by_code.get(code)
    found = await select(store, bind(get_query("search-code"), {"code": code}))
    for row in found.rows:
        entity = row.get("entity")
        if isinstance(entity, ox.NamedNode):
            entry = await entry_for(store, entity.value, base)
            if entry is not None:
                return entry
    return None


async def search(
    store: Store, text: str, *, base: str, types: Sequence[str] = (), limit: int = 10
) -> list[Hit]:
    """Entities whose name, pinyin, English name or code matches ``text``, best first."""
    index = await index_for(store, base)
    return index.lookup(text[:MAX_QUERY_CHARS], types=types, limit=max(1, min(limit, MAX_LIMIT)))
