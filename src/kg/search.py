"""Search by name: an index of every labelled entity, in an SQLite file per store version.

Users ask in words — 惠水县, 惠水, 惠水縣, huishui, Huìshuǐ, Huishui County, 522731 — so every
entity gets *keys*: each label folded (traditional → simplified with OpenCC, accents, tone
marks and digits, case, spaces and punctuation removed), its pinyin generated from the Chinese
label by pypinyin (every reading of a polyphonic character, bounded), the initials of that
pinyin, and its GB/T 2260 code. A query is folded the same way and matched against the keys:

    exact  >  prefix  >  substring        (then: higher administrative level, shorter key)

Exact matches and prefixes come from the keys' B-tree; only when those do not fill the limit
are keys searched for substrings, through a trigram index (FTS5), so a lookup stays cheap at
ten million quads. The rows come from the named query ``search-index``
(``ontology/queries/api/search-index.rq``). ``kg build`` writes the index next to the store
(``search.sqlite``: built once, its pages shared by every server process); a store without
one (remote, in memory, changed by an update) gets one built from the store on first use, in
a private temporary file, rebuilt when the store's version changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import re
import sqlite3
import tempfile
import threading
import unicodedata
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Final, Literal

import pyoxigraph as ox

from kg.queries import Term, bind, get_query, parse_solutions, select
from kg.store.base import QueryRequest, Store, StoreInfo

__all__ = [
    "FORMAT",
    "MAX_LIMIT",
    "MAX_QUERY_CHARS",
    "OWL_CLASS",
    "Entry",
    "Hit",
    "MatchKind",
    "SearchIndex",
    "Stopped",
    "add_class_counts",
    "build_index",
    "current_index",
    "entry_for",
    "entry_for_code",
    "entry_of",
    "fold",
    "index_file_version",
    "index_for",
    "index_query",
    "lookup",
    "nquads_rows",
    "raw_rows",
    "search",
    "write_index",
]

log = logging.getLogger("kg.search")

GQ: Final = "https://w3id.org/gq-kg/ontology#"
#: The type of the ontology's classes among the index's terms (``SearchIndex.terms``).
OWL_CLASS: Final = "http://www.w3.org/2002/07/owl#Class"
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
# … and in English: Qiannan Buyei and Miao Autonomous Prefecture is Qiannan Prefecture, Sandu
# Shui Autonomous County Sandu County.
_EN_AUTONOMOUS: Final = re.compile(r"^(\S+)\s.*?\bautonomous\s+(county|prefecture)$", re.I)
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


#: Control, format, surrogate and private-use characters (not unassigned ones: this Python's
#: Unicode may predate a new CJK extension, whose letters are names).
_UNSEARCHED: Final = frozenset({"Cc", "Cf", "Cs", "Co"})
#: The ASCII characters of those categories (Cc), for fold's ASCII path.
_ASCII_UNSEARCHED: Final = re.compile(r"[\x00-\x1f\x7f]")


def _unsearched(c: str) -> bool:
    code = ord(c)
    noncharacter = 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE
    return noncharacter or unicodedata.category(c) in _UNSEARCHED


# Names repeat (thousands of villages share a name nationally): a build folds and spells each
# once. Bounded; the results are immutable.
@lru_cache(maxsize=1 << 16)
def fold(text: str) -> str:
    """The form keys and queries are compared in.

    Simplified Chinese, no accents or tone marks (``Huìshuǐ`` → ``huishui``), ``ü`` as ``v``
    (pypinyin's spelling), lower case, tone digits after letters dropped (``hui4shui3``),
    spaces and punctuation dropped (``Weng'an`` → ``wengan``), and so are control, format,
    surrogate and private-use characters: a NUL reached SQLite, whose ``||`` stops at it, so
    200 NULs were a prefix of every key (each a hit scored 4,525: a 500 from /api/search).
    """
    if text.isascii():  # most keys (pinyin spellings, codes, English): no Unicode work
        text = _ASCII_UNSEARCHED.sub("", text.lower().replace("u:", "v"))
        return _DROP.sub("", _TONE_DIGITS.sub("", text))
    return _fold_unicode(text)


def _fold_unicode(text: str) -> str:
    """:func:`fold` of any text (its ASCII path gives the same for ASCII, faster)."""
    text = _to_simplified(unicodedata.normalize("NFKC", text)).lower().replace("u:", "v")
    decomposed = unicodedata.normalize("NFKD", text).replace("u\u0308", "v")
    text = "".join(c for c in decomposed if not unicodedata.combining(c) and not _unsearched(c))
    text = unicodedata.normalize("NFKC", text)
    text = _TONE_DIGITS.sub("", text)
    return _DROP.sub("", text)


@lru_cache(maxsize=1 << 16)
def _readings(label: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Pinyin spellings (folded, joined) and initials of a Chinese label, bounded."""
    from pypinyin import Style, pinyin  # noqa: PLC0415 (loaded on first index build)

    if not _CJK.search(label):
        return (), ()
    syllables = pinyin(label, style=Style.NORMAL, heteronym=True, errors="default")
    combos = list(itertools.islice(itertools.product(*syllables), _MAX_READINGS))
    spellings = tuple(sorted({fold("".join(c)) for c in combos}))
    initials = tuple(sorted({fold("".join(s[:1] for s in c)) for c in combos}))
    return spellings, initials


@lru_cache(maxsize=1 << 12)  # a few hundred sets of classes in a national build
def _level(types: frozenset[str]) -> int:
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


#: One name of a resource: (kind, language, text); kind "label" (rdfs:label), "alt"
#: (skos:altLabel) or "pinyin" (gq:pinyin).
_Label = tuple[str, str, str]


@dataclass
class _Resource:
    """The rows of ``search-index.rq`` about one resource, gathered."""

    labels: list[_Label] = field(default_factory=list)
    types: set[str] = field(default_factory=set)
    code: str | None = None


Raw = tuple[str, str, str, str, str, str]


def _raw(
    entity: Term | None, label: Term | None, kind: Term | None, cls: Term | None, code: Term | None
) -> Raw | None:
    """(entity, label, language, kind, class, code) of one row of ``search-index.rq``, '' for
    what it does not bind; None for a row about a blank node."""
    if not isinstance(entity, ox.NamedNode):
        return None
    text = language = how = ""
    if isinstance(label, ox.Literal) and isinstance(kind, ox.Literal):
        text, language, how = label.value, label.language or "", kind.value
    return (
        entity.value,
        text,
        language,
        how,
        cls.value if isinstance(cls, ox.NamedNode) else "",
        code.value if isinstance(code, ox.Literal) else "",
    )


_COLUMNS: Final = ("entity", "label", "kind", "class", "code")


def raw_rows(rows: Iterable[Mapping[str, Term]]) -> Iterator[Raw]:
    """The rows of ``search-index.rq`` in an answer (:func:`kg.queries.parse_solutions`)."""
    for row in rows:
        raw = _raw(*(row.get(name) for name in _COLUMNS))
        if raw is not None:
            yield raw


_RDFS: Final = "http://www.w3.org/2000/01/rdf-schema#"
#: The predicates of ``search-index.rq``, and what each row of it says.
_PREDICATES: Final = {
    ox.NamedNode(f"{_RDFS}label"): "label",
    ox.NamedNode("http://www.w3.org/2004/02/skos/core#altLabel"): "alt",
    ox.NamedNode(f"{GQ}pinyin"): "pinyin",
    ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"): "class",
    ox.NamedNode(f"{GQ}divisionCode"): "code",
}


class Stopped(Exception):
    """Reading the N-Quads was stopped from outside (:func:`nquads_rows`)."""


def nquads_rows(
    path: Path, *, lenient: bool = False, stop: threading.Event | None = None
) -> Iterator[Raw]:
    """The rows of ``search-index.rq`` over the union of the graphs, read from an N-Quads
    file instead of asked of the engine: `kg build` writes the index from the dataset file
    while the engine bulk-loads the same file (on the other core; the loader releases the
    GIL), instead of after it. One row per quad: a quad repeated in several graphs gives
    its row more than once, and ``rdf:type`` rows come for resources without ``rdfs:label``
    too; :func:`_gather` reads both as the query's rows (labels and classes are sets, a
    class counts only beside an ``rdfs:label``). SyntaxError on a malformed file (as the
    loader); :class:`Stopped` once ``stop`` is set."""
    kinds = _PREDICATES.get
    quads = ox.parse(path=str(path), format=ox.RdfFormat.N_QUADS, lenient=lenient)
    for n, (subject, predicate, obj, _) in enumerate(quads):
        if stop is not None and not n & 0xFFFF and stop.is_set():
            raise Stopped
        kind = kinds(predicate)
        if kind is None or not isinstance(subject, ox.NamedNode):
            continue
        if kind == "class":
            if isinstance(obj, ox.NamedNode):
                yield subject.value, "", "", "", obj.value, ""
        elif isinstance(obj, ox.Literal):
            if kind == "code":
                yield subject.value, "", "", "", "", obj.value
            else:
                yield subject.value, obj.value, obj.language or "", kind, "", ""


def _gather(raw: Iterable[Raw], into: _Resource) -> _Resource:
    for _, label, language, kind, cls, code in raw:
        if kind:
            into.labels.append((kind, language, label))
        if cls:
            into.types.add(cls)
        if code and (into.code is None or code > into.code):
            into.code = code  # several codes (never in kg's data): the greatest, as the index
    return into


def _entry(iri: str, res: _Resource) -> Entry:
    zh, en, labelled = [], [], False
    for kind, language, text in res.labels:
        if kind == "label":
            labelled = True
            if language.startswith("zh"):
                zh.append(text)
            elif language.startswith("en"):
                en.append(text)
    # search-index.rq reads classes beside an rdfs:label only (nquads_rows reads them all).
    types = frozenset(res.types) if labelled else frozenset()
    return Entry(
        iri=iri,
        label_zh=_shortest(zh),
        label_en=_shortest(en),
        alt_labels=tuple(sorted({t for k, _, t in res.labels if k != "label"})),
        types=types,
        code=res.code,
        level=_level(types),
    )


def _shortest(texts: list[str]) -> str | None:
    if len(texts) < 2:
        return texts[0] if texts else None
    return min(texts, key=lambda s: (len(s), s))


_Keys = frozenset[tuple[str, bool]]


def _keys(entry: Entry, res: _Resource, memo: dict[object, _Keys] | None = None) -> _Keys:
    """(key, weak) of a searched entry: folded names, short forms, pinyin, initials, code.
    Thousands of villages share a name: ``memo`` keeps the keys of each set of names."""
    texts = frozenset(t for _, _, t in res.labels)
    english = frozenset(t for _, lang, t in res.labels if lang.startswith("en"))
    division = entry.level != _NOT_A_DIVISION
    signature = (texts, english, division)
    keys = memo.get(signature) if memo is not None else None
    if keys is None:
        keys = _name_keys(texts, english, division=division)
        if memo is not None:
            if len(memo) >= _MEMO:
                memo.clear()  # bounded: a national build has hundreds of thousands of names
            memo[signature] = keys
    return keys | {(entry.code, False)} if entry.code else keys


_MEMO: Final = 1 << 17


def _name_keys(names: frozenset[str], english: frozenset[str], *, division: bool) -> _Keys:
    texts = set(names)
    texts.update(f"{m[1]}{m[2]}" for t in list(texts) if (m := _AUTONOMOUS.match(t)))
    for m in filter(None, map(_EN_AUTONOMOUS.match, list(texts))):
        texts.update((f"{m[1]} {m[2]}", f"{m[1]} autonomous {m[2]}"))
    if division and any(t.endswith("市") for t in texts):
        # 都匀市 is Duyun City, 广州市 Guangzhou City: the 市 of the name, in English.
        texts.update(f"{t} city" for t in english if not t.lower().endswith(" city"))
    if division:
        for pattern in (_ZH_SUFFIX, _EN_SUFFIX):
            texts.update(m[1] for t in list(texts) if (m := pattern.match(t)))
    keys: set[tuple[str, bool]] = set()
    for text in texts:
        keys.add((fold(text), False))
        spellings, initials = _readings(text)
        keys.update((s, False) for s in spellings)
        keys.update((i, True) for i in initials if len(i) >= 2)
    return frozenset((key, weak) for key, weak in keys if key)


def entry_of(rows: Iterable[Mapping[str, Term]], iri: str, base: str) -> Entry | None:
    """The entry of ``iri`` from rows of ``search-index.rq`` about it (``search-entry.rq``),
    None unless it is a labelled resource under ``{base}id/``."""
    res = _gather((r for r in raw_rows(rows) if r[0] == iri), _Resource())
    if not res.labels or not iri.startswith(base + "id/"):
        return None
    return _entry(iri, res)


# The index file. Entries are numbered in IRI order (``pos``); ``searched`` is 0 for labelled
# resources outside ``{base}id/`` (ontology terms: described, never searched). Postings hold
# every key of every searched entry; ``keys`` the distinct keys, with a trigram index
# (``grams``) for substrings.
_SCHEMA: Final = """
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE meta(name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE entries(
    pos INTEGER PRIMARY KEY, iri TEXT NOT NULL, label_zh TEXT, label_en TEXT,
    alt_labels TEXT NOT NULL, types TEXT NOT NULL, code TEXT, level INTEGER NOT NULL,
    searched INTEGER NOT NULL);
CREATE TABLE types(pos INTEGER NOT NULL, type TEXT NOT NULL, PRIMARY KEY (pos, type))
    WITHOUT ROWID;
CREATE TABLE postings(key TEXT NOT NULL, pos INTEGER NOT NULL, weak INTEGER NOT NULL,
    level INTEGER NOT NULL, PRIMARY KEY (key, pos, weak)) WITHOUT ROWID;
CREATE TEMP TABLE raw(entity TEXT, label TEXT, language TEXT, kind TEXT, class TEXT, code TEXT);
CREATE TEMP TABLE keyed(key TEXT, pos INTEGER, weak INTEGER, level INTEGER);
"""
_INDEXES: Final = """
INSERT INTO postings SELECT * FROM keyed ORDER BY key, pos, weak;
DROP TABLE keyed;
CREATE UNIQUE INDEX entries_iri ON entries(iri);
CREATE INDEX entries_code ON entries(code) WHERE code IS NOT NULL AND searched;
CREATE INDEX types_type ON types(type, pos);
CREATE TABLE keys(id INTEGER PRIMARY KEY, key TEXT NOT NULL);
INSERT INTO keys(key) SELECT DISTINCT key FROM postings ORDER BY key;
CREATE VIRTUAL TABLE grams USING fts5(
    key, content='keys', content_rowid='id', tokenize='trigram case_sensitive 1', detail='none');
INSERT INTO grams(grams) VALUES ('rebuild');
"""
# The resources with a name (rdfs:label, skos:altLabel or gq:pinyin), one row each, in IRI
# order: their names, classes (IRIs hold no control character) and code (the greatest).
_GROUPED: Final = """
SELECT entity,
       json_group_array(json_array(kind, language, label)) FILTER (WHERE kind != ''),
       group_concat(class, char(31)) FILTER (WHERE class != ''),
       max(code) FILTER (WHERE code != '')
FROM raw GROUP BY entity HAVING count(*) FILTER (WHERE kind != '') > 0 ORDER BY entity
"""
_US: Final = "\x1f"
#: The index file's format: a file of another format is not read (it is rebuilt).
FORMAT: Final = "kg-search-1"
_SEP: Final = "\x1f"


def write_index(
    path: Path,
    rows: Iterable[Raw],
    *,
    base: str,
    version: str,
    stop: threading.Event | None = None,
) -> int:
    """Write the search index of ``rows`` (of ``search-index.rq``, from :func:`raw_rows` or
    :func:`nquads_rows`, streamed: any number) to ``path`` (atomically) for the store version
    ``version``; returns the searched entries. Once ``stop`` is set, SQLite's work is
    interrupted (sqlite3.OperationalError) and no file is left."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    prefix = base + "id/"
    db = sqlite3.connect(partial)
    if stop is not None:
        db.set_progress_handler(stop.is_set, 100_000)
    try:
        db.executescript(_SCHEMA)
        db.executemany("INSERT INTO raw VALUES (?, ?, ?, ?, ?, ?)", rows)
        searched = 0
        entries: list[tuple[object, ...]] = []
        types: list[tuple[int, str]] = []
        keyed: list[tuple[str, int, int, int]] = []
        memo: dict[object, _Keys] = {}
        # One row per named resource, in IRI order (entries are numbered so): SQLite groups
        # the rows (names as JSON, which keeps any character), Python sees each resource once.
        for pos, (iri, names, classes, code) in enumerate(db.execute(_GROUPED)):
            res = _Resource(
                [(k, lang, t) for k, lang, t in json.loads(names)],
                set(classes.split(_US)) if classes else set(),
                code,
            )
            entry = _entry(iri, res)
            own = iri.startswith(prefix)
            entries.append(
                (
                    pos,
                    iri,
                    entry.label_zh,
                    entry.label_en,
                    _SEP.join(entry.alt_labels),
                    _SEP.join(sorted(entry.types)),
                    entry.code,
                    entry.level,
                    int(own),
                )
            )
            if own:
                searched += 1
                types.extend((pos, t) for t in entry.types)
                keyed.extend(
                    (key, pos, int(weak), entry.level) for key, weak in _keys(entry, res, memo)
                )
            if len(keyed) > _BATCH or len(entries) > _BATCH:
                _insert(db, entries, types, keyed)
        _insert(db, entries, types, keyed)
        db.execute("DROP TABLE raw")
        db.executescript(_INDEXES)
        db.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            (("format", FORMAT), ("version", version), ("base", base), ("entries", str(searched))),
        )
        db.commit()
    except BaseException:
        db.close()
        partial.unlink(missing_ok=True)
        raise
    db.close()
    os.replace(partial, path)
    return searched


_BATCH: Final = 50_000


def add_class_counts(path: Path, counts: Sequence[tuple[str, int]]) -> None:
    """Add the answer of ``stats-entities-by-class`` (class IRI, resources; in its order) to
    the index file ``kg build`` is writing, so a page shows the counts without asking the
    store for a whole-graph aggregate (4 s at 10M quads)."""
    db = sqlite3.connect(path)
    try:
        db.execute(
            "CREATE TABLE class_counts(pos INTEGER PRIMARY KEY, class TEXT NOT NULL, "
            "count INTEGER NOT NULL)"
        )
        rows = [(pos, cls, count) for pos, (cls, count) in enumerate(counts)]
        db.executemany("INSERT INTO class_counts VALUES (?, ?, ?)", rows)
        db.commit()
    finally:
        db.close()


def _insert(
    db: sqlite3.Connection,
    entries: list[tuple[object, ...]],
    types: list[tuple[int, str]],
    keyed: list[tuple[str, int, int, int]],
) -> None:
    """Write the gathered rows in one statement per table, and empty the lists."""
    db.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", entries)
    db.executemany("INSERT INTO types VALUES (?, ?)", types)
    db.executemany("INSERT INTO keyed VALUES (?, ?, ?, ?)", keyed)
    entries.clear()
    types.clear()
    keyed.clear()


def index_file_version(path: Path) -> tuple[str, str] | None:
    """(version, base) recorded in an index file, None when it is missing or not readable."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        meta = dict(db.execute("SELECT name, value FROM meta").fetchall())
    except sqlite3.Error:
        return None
    finally:
        db.close()
    if meta.get("format") != FORMAT:
        return None
    return meta.get("version", ""), meta.get("base", "")


class _Budget:
    """A progress handler that stops a statement after a number of steps (a search must not
    keep a thread for seconds: a rare two-character substring is a scan of every key)."""

    def __init__(self, steps: int) -> None:
        self.left = steps

    def __call__(self) -> int:
        self.left -= 1
        return 1 if self.left < 0 else 0


class SearchIndex:
    """Keys → entries in an SQLite file, with exact, prefix and substring lookup.

    The file is read-only (``immutable``): every thread opens its own connection, and the
    pages are the operating system's, shared by every process serving the same build.
    """

    def __init__(self, path: Path, *, remove: bool = False) -> None:
        self.path = path
        self._uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
        self._local = threading.local()
        if remove:  # a private file: gone with the index
            self._finalizer = weakref.finalize(self, path.unlink, missing_ok=True)
        db = self._db()
        meta = dict(db.execute("SELECT name, value FROM meta").fetchall())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: not a kg search index of format {FORMAT}")
        self.version: str = meta.get("version", "")
        self._count = int(meta.get("entries", "0"))
        #: Labelled resources outside the data (ontology terms, concepts): for display only.
        self.terms: dict[str, Entry] = {e.iri: e for e in map(_from_row, db.execute(_TERMS))}
        self.describe = lru_cache(maxsize=16_384)(self._describe)
        self.class_counts = self._class_counts(db)
        self._has_type: dict[str, bool] = {}

    @staticmethod
    def _class_counts(db: sqlite3.Connection) -> list[tuple[str, int]] | None:
        """``stats-entities-by-class`` as `kg build` answered it for this version (class IRI,
        resources), most first; None for an index without it (built from a store)."""
        try:
            rows = db.execute("SELECT class, count FROM class_counts ORDER BY pos").fetchall()
        except sqlite3.OperationalError:  # no such table
            return None
        return [(str(c), int(n)) for c, n in rows]

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
            db.execute("PRAGMA mmap_size = 1073741824")
            self._local.db = db
        return db

    def __len__(self) -> int:
        return self._count

    def _describe(self, iri: str) -> Entry | None:
        """The entry of a data entity or an ontology term, for its labels."""
        row = self._db().execute(_BY_IRI, (iri,)).fetchone()
        return None if row is None else _from_row(row)

    def entry(self, iri: str) -> Entry | None:
        """The entry of a searched entity (under ``{base}id/``), None for anything else."""
        return None if iri in self.terms else self.describe(iri)

    def has_type(self, type_iri: str) -> bool:
        """Whether any searched entity is of ``type_iri`` (the file never changes: kept)."""
        known = self._has_type.get(type_iri)
        if known is None:
            row = self._db().execute(_HAS_TYPE, (type_iri,)).fetchone()
            known = self._has_type[type_iri] = row is not None
        return known

    def entry_for_code(self, code: str) -> Entry | None:
        """The searched entity with GB/T 2260 ``code``."""
        row = self._db().execute(_BY_CODE, (code,)).fetchone()
        return None if row is None else _from_row(row)

    def page(self, types: Sequence[str], offset: int, limit: int) -> tuple[int, list[Entry]]:
        """Searched entities (of any of ``types``), in IRI order: the total and one page."""
        db, wanted = self._db(), _types(types)
        count, page = (_COUNT_TYPED, _PAGE_TYPED) if wanted else (_COUNT, _PAGE)
        (total,) = db.execute(count, {"types": wanted}).fetchone()
        rows = db.execute(page, {"types": wanted, "limit": limit, "offset": offset})
        return int(total), [_from_row(r) for r in rows]

    def lookup(
        self, text: str, *, types: Sequence[str] = (), limit: int = 10, substring: bool = True
    ) -> list[Hit]:
        """Hits for ``text`` (already bounded by the caller), best first, at most ``limit``."""
        query = fold(text)
        if not query:
            return []
        db = self._db()
        params = {"q": query, "types": _types(types), "cap": _CANDIDATES}
        best: dict[int, tuple[int, str, int]] = {}  # entry position -> (tier, key, level)

        def offer(rows: Iterable[tuple[str, int, int, int]], tier: int) -> None:
            for key, pos, weak, level in rows:
                # Initials (hsx → 惠水县) are weak: one tier down, never a substring match.
                if weak and tier == 1:
                    continue
                effective = tier - 1 if weak else tier
                old = best.get(pos)
                if old is None or (effective, -len(key)) > (old[0], -len(old[1])):
                    best[pos] = (effective, key, level)

        offer(db.execute(_EXACT, params), 3)
        offer(db.execute(_PREFIX, params), 2)
        if substring and len(best) < limit and (len(query) >= 2 or _CJK.match(query)):
            offer(_containing(db, params), 1)
        # Best tier first, then the higher administrative level, the shorter key, the IRI.
        ranked = sorted(best.items(), key=lambda i: (-i[1][0], i[1][2], len(i[1][1]), i[0]))
        return [self._hit(pos, tier, key, query) for pos, (tier, key, _) in ranked[:limit]]

    def _hit(self, pos: int, tier: int, key: str, query: str) -> Hit:
        row = self._db().execute(_BY_POS, (pos,)).fetchone()
        kind: MatchKind = "exact" if tier == 3 else "prefix" if tier == 2 else "substring"
        # 100 for an exact name; a partial match scores by how much of the key it covers.
        cover = len(query) / max(len(key), 1)
        score = 100.0 if tier == 3 else round((50.0 if tier == 2 else 25.0) + 45.0 * cover, 1)
        return Hit(_from_row(row), kind, key, score)


#: Postings looked at per tier of a lookup at most (a one-letter prefix of a national build
#: matches hundreds of thousands of keys; they are ranked among the first this many in key
#: order).
_CANDIDATES: Final = 20_000
#: Engine steps (of 1,000 instructions) a substring search may take.
_STEPS: Final = 20_000
# The statements of a lookup. ``:types`` is a JSON list of classes (an entry has one of
# them) or NULL (any entry).
_TERMS: Final = "SELECT * FROM entries WHERE NOT searched"
_BY_IRI: Final = "SELECT * FROM entries WHERE iri = ?"
_BY_POS: Final = "SELECT * FROM entries WHERE pos = ?"
_BY_CODE: Final = "SELECT * FROM entries WHERE code = ? AND searched ORDER BY pos LIMIT 1"
_COUNT: Final = "SELECT count(*) FROM entries WHERE searched"
_PAGE: Final = "SELECT * FROM entries WHERE searched ORDER BY pos LIMIT :limit OFFSET :offset"
# Of one class: along the types index, in position order (no scan of every entry).
_HAS_TYPE: Final = "SELECT 1 FROM types WHERE type = ? LIMIT 1"
_COUNT_TYPED: Final = """SELECT count(DISTINCT pos) FROM types
    WHERE type IN (SELECT value FROM json_each(:types))"""
_PAGE_TYPED: Final = """SELECT * FROM entries WHERE pos IN (
    SELECT DISTINCT pos FROM types WHERE type IN (SELECT value FROM json_each(:types))
    ORDER BY pos LIMIT :limit OFFSET :offset)
    ORDER BY pos"""
_EXACT: Final = """SELECT key, pos, weak, level FROM postings p WHERE key = :q
    AND (:types IS NULL OR EXISTS (SELECT 1 FROM types t
        WHERE t.pos = p.pos AND t.type IN (SELECT value FROM json_each(:types))))"""
_PREFIX: Final = """SELECT key, pos, weak, level FROM postings p
    WHERE key > :q AND key < :q || char(1114111)
    AND (:types IS NULL OR EXISTS (SELECT 1 FROM types t
        WHERE t.pos = p.pos AND t.type IN (SELECT value FROM json_each(:types))))
    LIMIT :cap"""
_CONTAINING: Final = """SELECT key, pos, weak, level FROM postings p
    WHERE key IN (SELECT key FROM grams WHERE grams.key GLOB :pattern)
    AND substr(key, 1, length(:q)) != :q
    AND (:types IS NULL OR EXISTS (SELECT 1 FROM types t
        WHERE t.pos = p.pos AND t.type IN (SELECT value FROM json_each(:types))))
    LIMIT :cap"""
# SQLite 3.40's trigram index misses patterns shorter than three characters: a scan.
_CONTAINING_SHORT: Final = """SELECT key, pos, weak, level FROM postings p
    WHERE key IN (SELECT key FROM keys WHERE instr(key, :q) > 1)
    AND (:types IS NULL OR EXISTS (SELECT 1 FROM types t
        WHERE t.pos = p.pos AND t.type IN (SELECT value FROM json_each(:types))))
    LIMIT :cap"""


def _containing(
    db: sqlite3.Connection, params: Mapping[str, object]
) -> list[tuple[str, int, int, int]]:
    """Postings of keys that contain ``params["q"]`` but do not start with it, at most
    ``_CANDIDATES``, found within ``_STEPS`` steps of the engine (past them: those found)."""
    query = str(params["q"])
    if len(query) >= 3:
        statement = _CONTAINING
        params = {**params, "pattern": "*" + re.sub(r"([*?\[])", r"[\1]", query) + "*"}
    else:
        statement = _CONTAINING_SHORT
    found: list[tuple[str, int, int, int]] = []
    db.set_progress_handler(_Budget(_STEPS), 1000)
    try:
        cursor = db.execute(statement, params)
        while (row := cursor.fetchone()) is not None:
            found.append(row)
    except sqlite3.OperationalError:  # interrupted: out of budget
        log.info("search: substring candidates for %r cut at the step budget", query)
    finally:
        db.set_progress_handler(None, 0)
    return found


def _from_row(row: Sequence[object]) -> Entry:
    _, iri, label_zh, label_en, alts, types, code, level, _ = row
    return Entry(
        iri=str(iri),
        label_zh=None if label_zh is None else str(label_zh),
        label_en=None if label_en is None else str(label_en),
        alt_labels=tuple(str(alts).split(_SEP)) if alts else (),
        types=frozenset(str(types).split(_SEP)) if types else frozenset(),
        code=None if code is None else str(code),
        level=int(str(level)),
    )


def _types(types: Sequence[str]) -> str | None:
    """The ``:types`` parameter of a lookup statement."""
    return json.dumps(list(types)) if types else None


def build_index(rows: Iterable[Mapping[str, Term]], base: str, version: str = "") -> SearchIndex:
    """The index over rows of ``search-index.rq`` in a private temporary file; entities under
    ``{base}id/`` are searched, other labelled resources (ontology terms) only described."""
    _sweep_private_files()
    handle, name = tempfile.mkstemp(prefix=f"{_PRIVATE}{os.getpid()}-", suffix=".sqlite")
    os.close(handle)
    path = Path(name)
    try:
        write_index(path, raw_rows(rows), base=base, version=version)
        return SearchIndex(path, remove=True)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


#: Private index files: ``kg-search-<pid>-<random>.sqlite`` in the temporary folder.
_PRIVATE: Final = "kg-search-"
_PRIVATE_NAME: Final = re.compile(rf"^{_PRIVATE}(\d+)-\w+\.sqlite(?:\.partial)?$")


def _sweep_private_files(folder: Path | None = None) -> list[Path]:
    """Remove the private index files of processes that are gone (a server killed with
    SIGKILL cannot remove its own); returns them. A file of a living process stays."""
    removed: list[Path] = []
    folder = folder or Path(tempfile.gettempdir())
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = _PRIVATE_NAME.match(name)
        if match is None or _alive(int(match[1])):
            continue
        with contextlib.suppress(OSError):
            (folder / name).unlink()
            removed.append(folder / name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def index_query() -> str:
    """The text of ``search-index.rq``."""
    return bind(get_query("search-index"), {})


# One index per open store (dropped with it). Two requests racing on a new version may both
# build it: harmless, and no lock tied to one event loop is needed.
_indexes: weakref.WeakKeyDictionary[Store, tuple[tuple[str, str], SearchIndex]] = (
    weakref.WeakKeyDictionary()
)


def _prebuilt(info: StoreInfo, base: str) -> SearchIndex | None:
    """The index ``kg build`` wrote next to the store, when it is of this version and base."""
    if not info.search_index:
        return None
    path = Path(info.search_index)
    if index_file_version(path) != (info.version, base):
        return None
    try:
        return SearchIndex(path)
    except (sqlite3.Error, ValueError) as exc:
        log.warning("search index %s not readable (%s): building one from the store", path, exc)
        return None


async def index_for(store: Store, base: str) -> SearchIndex:
    """The index of ``store``'s current version: the one ``kg build`` wrote with the store when
    it matches, else built from the store on first use and kept; ``base`` is the data's base
    IRI (its ``{base}id/`` resources are searched, the rest are terms)."""
    index = await current_index(store, base)
    if index is not None:
        return index
    info = await store.info()
    # Once per version, so it may take longer than a user's query, and it reads every row: a
    # million-quad build has more label/class rows than the cap on users' answers.
    result = await store.query(
        QueryRequest(
            query=index_query(),
            accept=("application/sparql-results+json",),
            timeout=INDEX_TIMEOUT,
            row_cap=False,
        )
    )
    if result.truncated:  # a value over max_value_bytes, say
        log.warning("search index: the index query's answer was cut short; names may be missing")
    solutions = parse_solutions(result.body)
    # pypinyin over every label takes a while on a big build: off the event loop.
    index = await asyncio.to_thread(build_index, solutions.rows, base, info.version)
    _indexes[store] = ((info.version, base), index)
    return index


async def current_index(store: Store, base: str) -> SearchIndex | None:
    """The index of ``store``'s current version if it is open already or ``kg build`` wrote
    it (opening the file is cheap), else None (it would have to be built from the store)."""
    info = await store.info()
    key = (info.version, base)
    cached = _indexes.get(store)
    if cached is not None and cached[0] == key:
        return cached[1]
    index = await asyncio.to_thread(_prebuilt, info, base) if info.search_index else None
    if index is not None:
        _indexes[store] = (key, index)
    return index


async def entry_for(store: Store, iri: str, base: str) -> Entry | None:
    """The index entry of one resource (None: no label under ``{base}id/``), without building
    the whole index: on a store without a prebuilt index of millions of quads the index takes
    minutes to build, and an id, IRI or code in a request should not wait for it."""
    index = await current_index(store, base)
    if index is not None:
        return index.entry(iri)
    found = await select(store, bind(get_query("search-entry"), {"entity": iri}))
    return entry_of(found.rows, iri, base)


async def entry_for_code(store: Store, code: str, base: str) -> Entry | None:
    """The entry of the division with GB/T 2260 ``code``, like :func:`entry_for`."""
    index = await current_index(store, base)
    if index is not None:
        return index.entry_for_code(code)
    found = await select(store, bind(get_query("search-code"), {"code": code}))
    for row in found.rows:
        entity = row.get("entity")
        if isinstance(entity, ox.NamedNode):
            entry = await entry_for(store, entity.value, base)
            if entry is not None:
                return entry
    return None


async def lookup(
    index: SearchIndex,
    text: str,
    *,
    types: Sequence[str] = (),
    limit: int = 10,
    substring: bool = True,
) -> list[Hit]:
    """:meth:`SearchIndex.lookup` off the event loop (a lookup reads the index file)."""
    return await asyncio.to_thread(
        index.lookup, text, types=types, limit=limit, substring=substring
    )


async def search(
    store: Store, text: str, *, base: str, types: Sequence[str] = (), limit: int = 10
) -> list[Hit]:
    """Entities whose name, pinyin, English name or code matches ``text``, best first."""
    index = await index_for(store, base)
    return await lookup(
        index, text[:MAX_QUERY_CHARS], types=types, limit=max(1, min(limit, MAX_LIMIT))
    )
