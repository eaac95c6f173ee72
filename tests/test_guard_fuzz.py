"""The guard agrees with the engine: property-based texts built from grammar pieces and glue.

Every generated text has one *slot*: a spelling of SERVICE (or LOAD) in some case, with some
letters written as ``\\u`` escapes, glued to what comes before it or not, placed where the
grammar wants a keyword or inside a string, comment, IRI, name or variable. The engine (an
empty in-memory pyoxigraph store) is the judge of what the slot is: if the engine accepts the
text and refuses it once the slot is replaced by a neutral word of the same length, the engine
read the slot as its keyword, and the guard must refuse the text. pyoxigraph exposes no parsed
form of a query, so this replacement test is how its view is read without running anything.

Every IRI points at 127.0.0.1 port 1, where nothing listens: an ASK the engine evaluates (ASK
is eager) fails at once, on loopback. Examples are derandomised so CI sees the same texts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyoxigraph
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kg.config import Settings
from kg.errors import KgError
from kg.sparql import tokens
from kg.sparql.guard import check, inspect

ROOT = Path(__file__).resolve().parents[1]
HOST = "http://127.0.0.1:1/"
NEUTRAL = "Z"  # repeated to the slot's length: never a keyword, never part of one

GUARD_SETTINGS = Settings(
    max_query_depth=64,
    max_request_bytes=1_000_000,
    allow_service=False,
    allow_remote_from=False,
)

_FUZZ = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _engine_accepts(text: str, *, update: bool = False) -> bool:
    """True when pyoxigraph parses ``text`` (evaluation errors still mean it was parsed)."""
    store = pyoxigraph.Store()
    try:
        if update:
            store.update(text)
        else:
            store.query(text)
    except SyntaxError:
        return False
    except Exception:  # e.g. SERVICE/LOAD on a closed loopback port: it was parsed
        return True
    return True


def _refused(text: str) -> bool:
    try:
        check(text, GUARD_SETTINGS, (), refuse_unknown_graphs=True)
    except KgError:
        return True
    return False


@st.composite
def spelling(draw: st.DrawFn, word: str) -> str:
    """``word`` in mixed case, some letters as ``\\u`` / ``\\U`` escapes (in a few texts)."""
    escapes = ["", "", "u", "U"] if draw(st.integers(0, 5)) == 0 else [""]
    letters = []
    for original in word:
        letter = draw(st.sampled_from([original.upper(), original.lower()]))
        escape = draw(st.sampled_from(escapes))
        if escape == "u":
            letter = f"\\u{ord(letter):04X}"
        elif escape == "U":
            letter = f"\\U{ord(letter):08X}"
        letters.append(letter)
    return "".join(letters)


#: What may stand just before the slot (a term ending a triple, a group, a keyword).
_BEFORE = [
    "?s ?p 1",
    "?s ?p 12",
    "?s ?p 1.5",
    "?s ?p 1e5",
    "?s ?p 1.e1",
    "?s ?p .5",
    "?s ?p 1.",
    "?s ?p true",
    "?s ?p false",
    "?s ?p ?o",
    "?s ?p ?o .",
    "?s a ?o",
    '?s ?p "a"',
    "?s ?p 'a'",
    '?s ?p """a"""',
    "?s ?p '''a'''",
    '?s ?p "a"@en',
    "?s ?p 'a'^^<" + HOST + "t>",
    "?s ?p <" + HOST + "o>",
    "?s ?p ex:o",
    "?s ?p :o",
    "?s ?p _:b",
    "?s ?p '\\u0027'",
    '?s ?p "\\u0022"',
    "?s ?p 'x\\u0027y'",
    "OPTIONAL { }",
    "FILTER(1)",
    "BIND(1 AS ?z)",
    "{ }",
    "MINUS { }",
    "",
]
#: Comparisons whose "<" a reader could take for the start of an IRI.
_COMPARISON = [
    "?s ?p ?o FILTER(?o<?b)",
    "?s ?p ?o FILTER(?o<1)",
    "?s ?p ?o FILTER((?o<?b))",
    "?s ?p ?o FILTER(?o<?b&&true)",
    "?s ?p ?o FILTER(?o<=?b)",
    "BIND(1<2 AS ?c)",
]
#: Between what is before and the slot.
_GLUE = ["", "", "", " ", "\n", "\t", " . ", ".", "#c\n", " # x\n", "\r\n", "\\u0020"]
#: What the slot applies to, when it is SERVICE.
_TARGET = [
    " <" + HOST + "s> { }",
    "<" + HOST + "s>{}",
    " SILENT <" + HOST + "s> { }",
    "SILENT<" + HOST + "s>{}",
    " ?e { } VALUES ?e { <" + HOST + "s> }",
    " ex:s { }",
    "ex:s { }",
    " :s { }",
    ":s{}",
    " <s> { }",
    # After "FILTER(?o<?b)": to a reader that takes "<" for an IRI, the slot would be inside
    # an IRI ending at the ">" of the comment.
    "?e#>\n{ } VALUES ?e { <" + HOST + "s> }",
    ":s#>\n{ }",
]
#: Where the slot stands when it is not meant as a keyword.
_DISGUISE = [
    ("?s ?p '", "' ."),
    ('?s ?p "', '" .'),
    ("?s ?p '''", "''' ."),
    ("?s ?p ?o # ", "\n"),
    ("?s <" + HOST, "> ?o ."),
    ("?s ex:", " ?o ."),
    ("?s ?", " ?o ."),
    ("?s ?p 'a'@", " ."),
    ("?s ?p _:", " ."),
    ("?s ex:a\\.", " ?o ."),
]


@st.composite
def service_query(draw: st.DrawFn) -> tuple[str, int, int]:
    """A query text and the span of its SERVICE slot."""
    prologue = draw(
        st.lists(
            st.sampled_from(
                [
                    "PREFIX ex: <" + HOST + ">\n",
                    "prefix : <" + HOST + "> ",
                    "PREFIXex:<" + HOST + ">",
                    "BASE <" + HOST + ">\n",
                    "base<" + HOST + ">",
                    "# SERVICE <" + HOST + "> { }\n",
                ]
            ),
            max_size=3,
        )
    )
    if not any("ex:" in line for line in prologue):
        prologue.append("PREFIX ex: <" + HOST + ">\n")
    head = draw(
        st.sampled_from(
            [
                "SELECT * WHERE { ",
                "select*{",
                "ASK { ",
                "CONSTRUCT { ?s ?p ?o } WHERE { ",
                "SELECT ?s WHERE { { SELECT * { ",
                "SELECT * { OPTIONAL { ",
                "ASK { FILTER EXISTS { ",
                "DESCRIBE ?s { ",
            ]
        )
    )
    tail = "}" * (head.count("{") - head.count("}"))
    before = draw(st.sampled_from(_BEFORE))
    glue = draw(st.sampled_from(_GLUE))
    slot = draw(spelling("SERVICE"))
    placement = draw(st.integers(0, 4))
    if placement == 0:
        # Right after a comparison: "<" may start an IRI or be less-than.
        before = draw(st.sampled_from(_COMPARISON))
        target = draw(st.sampled_from(_TARGET[-2:] + _TARGET[:2]))
        start = "".join(prologue) + head + before + draw(st.sampled_from(["", "", " "]))
        text = start + slot + target + " " + tail
    elif placement <= 2:
        target = draw(st.sampled_from(_TARGET))
        start = "".join(prologue) + head + before + glue
        text = start + slot + target + " " + tail
    else:
        left, right = draw(st.sampled_from(_DISGUISE))
        start = "".join(prologue) + head + before + glue + left
        text = start + slot + right + " " + tail
    return text, len(start), len(start) + len(slot)


@st.composite
def load_update(draw: st.DrawFn) -> tuple[str, int, int]:
    """An update text and the span of its LOAD slot."""
    before = draw(
        st.sampled_from(
            [
                "",
                "INSERT DATA { <" + HOST + "a> <" + HOST + "b> 1 } ;",
                "INSERT DATA { <" + HOST + "a> <" + HOST + "b> 1 };",
                "CLEAR ALL ;",
                "CLEAR ALL;",
                "PREFIX ex: <" + HOST + ">",
                "PREFIX ex: <" + HOST + "> INSERT DATA { ex:a ex:b 1 } ;",
                "# LOAD\n",
                "DROP SILENT ALL ;",
            ]
        )
    )
    glue = draw(st.sampled_from(_GLUE))
    slot = draw(spelling("LOAD"))
    target = draw(
        st.sampled_from(
            [
                " <" + HOST + "d.ttl>",
                "<" + HOST + "d.ttl>",
                " SILENT <" + HOST + "d.ttl>",
                "SILENT<" + HOST + "d.ttl>",
                " <" + HOST + "d.ttl> INTO GRAPH <" + HOST + "g>",
                "<" + HOST + "d.ttl>INTO GRAPH<" + HOST + "g>",
            ]
        )
    )
    start = before + glue
    return start + slot + target, len(start), len(start) + len(slot)


@st.composite
def from_query(draw: st.DrawFn) -> tuple[str, int, int]:
    """A query text and the span of its FROM slot (remote engines may fetch FROM graphs)."""
    prologue = draw(
        st.sampled_from(
            [
                "PREFIX ex: <" + HOST + ">\n",
                "PREFIXex:<" + HOST + ">",
                "prefix ex: <" + HOST + "> BASE <" + HOST + ">",
            ]
        )
    )
    head = draw(
        st.sampled_from(
            [
                "SELECT *",
                "SELECT*",
                "select ?s",
                "SELECT (1 AS ?x)",
                "ASK",
                "CONSTRUCT",
                "DESCRIBE ?s",
            ]
        )
    )
    glue = draw(st.sampled_from(["", " ", "\n", "#c\n", "\t"]))
    slot = draw(spelling("FROM"))
    target = draw(
        st.sampled_from(
            [
                " <" + HOST + "g>",
                "<" + HOST + "g>",
                " ex:g",
                "ex:g",
                " NAMED <" + HOST + "g>",
                "NAMED<" + HOST + "g>",
                " named ex:g",
                "NAMEDex:g",
                " <g>",
            ]
        )
    )
    where = " WHERE { ?s ?p ?o }"
    start = prologue + head + glue
    return start + slot + target + where, len(start), len(start) + len(slot)


def _read_as_keyword(text: str, start: int, end: int, *, update: bool = False) -> bool:
    """The engine accepts ``text`` and refuses it with the slot neutralised."""
    if not _engine_accepts(text, update=update):
        return False
    neutral = text[:start] + NEUTRAL * (end - start) + text[end:]
    return not _engine_accepts(neutral, update=update)


@_FUZZ
@given(service_query())
def test_every_service_the_engine_reads_is_refused(case: tuple[str, int, int]) -> None:
    text, start, end = case
    if _read_as_keyword(text, start, end):
        assert _refused(text), text


@_FUZZ
@given(load_update())
def test_every_load_the_engine_reads_is_refused(case: tuple[str, int, int]) -> None:
    text, start, end = case
    if _read_as_keyword(text, start, end, update=True):
        assert _refused(text), text


@_FUZZ
@given(from_query())
def test_every_from_the_engine_reads_is_seen(case: tuple[str, int, int]) -> None:
    """Where the engine may fetch graph names (store=remote), each FROM graph is known."""
    text, start, end = case
    if _read_as_keyword(text, start, end):
        assert inspect(text).has_dataset, text
        assert _refused(text), text


@pytest.mark.parametrize(
    "text",
    [
        # Found by the engine's own reading; each passed the former guard.
        "SELECT * { ?s ?p 1SERVICE <" + HOST + "> { } }",
        "SELECT * { ?s ?p 1.5SERVICE <" + HOST + "> { } }",
        "SELECT * { ?s ?p trueSERVICE <" + HOST + "> { } }",
        "PREFIX : <" + HOST + "> SELECT * { ?s a ?o SERVICE:x { } }",
        "SELECT * { ?s ?p '\\u0027' . SERVICE <" + HOST + "> { } . ?s ?p '\\u0027' }",
    ],
)
def test_known_disagreements_are_refused(text: str) -> None:
    assert _engine_accepts(text)
    assert _refused(text)


#: A SERVICE call as ordinary queries write it (not "service" in a comment or an IRI).
_SERVICE_CALL = re.compile(r"(?i)(?<![-\w/#:])service\s*(silent\s*)?[<?$]")


def _syntax_queries() -> list[Path]:
    suite = ROOT / "tests" / "w3c" / "suite"
    return sorted(suite.rglob("*.rq")) + sorted((ROOT / "ontology" / "queries").rglob("*.rq"))


def test_ordinary_queries_pass_the_guard() -> None:
    """The project's queries and the W3C suite's, where the engine accepts them and they hold
    no SERVICE, pass the guard unchanged."""
    checked = 0
    refused = []
    for path in _syntax_queries():
        text = path.read_text(encoding="utf-8")
        if _SERVICE_CALL.search(text) or not _engine_accepts(text):
            continue
        checked += 1
        try:
            check(text, GUARD_SETTINGS, (), refuse_unknown_graphs=False)
        except KgError as exc:
            refused.append(f"{path.relative_to(ROOT)}: {exc}")
    assert checked > 200
    assert refused == []


#: The former reading of the notable keywords: a lookahead regex, tried at every position.
_NOTABLE = re.compile(
    "(?=s(?:ervice|elect)|load|from|using|named|prefix|base"
    "|a(?:sk|dd)|c(?:onstruct|lear|reate|opy)|d(?:escribe|elete|rop)|insert|move|with|\x00)"
)
_FOLD_TRAPS = "\u017f\u0131\u0130\u212a\u212b\ufb00\ufb05ÄÉß中"


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from([*tokens._NOTABLE_WORDS, "SERVICE", "sElEcT", "LoAd", "namedrop",
                             "fromove", "droprefix", "loadd", "addd", "x", " ", "\n", ":"]),
            st.text(alphabet=_FOLD_TRAPS + "abcdeflmnoprstuvwxyABC", max_size=6),
        ),
        max_size=30,
    ).map("".join)
)  # fmt: skip
def test_notable_hits_are_the_regex_s_hits(text: str) -> None:
    """The find loop finds every position the lookahead regex finds, overlaps included."""
    expected = [hit.start() for hit in _NOTABLE.finditer(text.translate(tokens._FOLD))]
    assert tokens.notable_hits(text) == expected
