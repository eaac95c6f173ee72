"""The SPARQL 1.1 tokenizer of the guard: the grammar's terminals, in linear time.

Terminals follow https://www.w3.org/TR/sparql11-query/#terminals: IRIREF, PNAME_NS/PNAME_LN
(with PLX escapes), BLANK_NODE_LABEL, VAR1/VAR2, LANGTAG, INTEGER/DECIMAL/DOUBLE with
exponents, the four string forms with ECHAR, comments, whitespace, punctuation. IRIs and
strings also take UCHAR (``\\uXXXX``) as pyoxigraph does: it decodes escapes only there.

Why linear: every pattern below either always succeeds once started (a name run is the
maximal run of name characters, a prefixed name included; there is no second attempt at a
shorter one), or stops at a character that cannot occur inside it (an IRI at the next ``<``,
a string at its quote or end of line), or raises (a string that never ends: nothing after it
can be read safely, and the engine refuses it too). No nested quantifier runs over
overlapping classes, so no input makes the regex engine backtrack more than one token.
Whitespace and comments are swallowed by the token before them, a run of brackets is one
token, and a run of tokens the guard need not see (no notable keyword inside, found by one
pass over the lower-cased text) is one step: Python works per token only where the guard looks.
"""

from __future__ import annotations

import bisect
import enum
import itertools
import operator
import re
from collections.abc import Iterator
from typing import Final

from kg.errors import QuerySyntaxError

__all__ = [
    "Kind",
    "TokenStream",
    "as_code",
    "decode_escapes",
    "nesting",
    "notable_hits",
    "tokenize",
    "unescape_iri",
    "unescape_local",
]


class Kind(enum.Enum):
    """What the guard needs to tell apart."""

    #: A bare word: a keyword, a function name, ``a``, ``true``; keywords may be glued.
    WORD = "word"
    #: A prefixed name (PNAME_NS or PNAME_LN).
    PNAME = "pname"
    #: An IRIREF, with its angle brackets.
    IRI = "iri"
    #: Anything else that ends what a keyword expects: strings, variables, numbers,
    #: blank nodes, language tags, brackets, punctuation.
    OTHER = "other"


_BASE: Final = (
    "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c-\u200d"
    "\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff"
)
_U: Final = _BASE + "_"
_CHARS: Final = _U + "\\-0-9\u00b7\u0300-\u036f\u203f-\u2040"
_VARCHARS: Final = _U + "0-9\u00b7\u0300-\u036f\u203f-\u2040"
_UCHAR: Final = r"\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}"
_ECHAR: Final = r"\\[tbnrf\"'\\]|" + _UCHAR
_PLX: Final = r"%[0-9A-Fa-f]{2}|\\[_~.\-!$&'()*+,;=/?#@%]"
_EXPONENT: Final = r"[eE][+-]?[0-9]+"
_WS: Final = " \t\r\n"

_Q1 = "'"
_Q2 = '"'
_BS = "\\\\"  # a backslash, escaped for the regex
_IRI_CHAR: Final = "<>" + _Q2 + "{}|^`" + _BS + "\\x00-\\x20"
_IRIREF: Final = f"<(?:[^{_IRI_CHAR}]|{_UCHAR})*>"
#: IRIs that cannot be code to a reader taking "<" for less-than (see the guard): without
#: ")" (no way out of the expression), or without "(", "[" and "'" (nothing to nest or hide).
_PLAIN_IRI: Final = f"<(?:[^{_IRI_CHAR})]|{_UCHAR})*>|<(?:[^{_IRI_CHAR}(\\[{_Q1}]|{_UCHAR})*>"
_PNAME: Final = f"(?:[{_U}][{_CHARS}.]*)?:(?:(?:[{_U}:0-9]|{_PLX})(?:[{_CHARS}.:]|{_PLX})*)?"
_WORD: Final = f"[{_U}][{_CHARS}.]*"


def _long_string(q: str) -> str:
    return f"{q * 3}(?:(?:{q}|{q * 2})?(?:[^{q}{_BS}]|{_ECHAR}))*{q * 3}"


def _short_string(q: str) -> str:
    return f"{q}(?:[^{q}{_BS}\\n\\r]|{_ECHAR})*{q}"


_STRING: Final = "|".join(
    (_long_string(_Q1), _long_string(_Q2), _short_string(_Q1), _short_string(_Q2))
)
_VAR: Final = f"[?$][{_VARCHARS}]+"
_BNODE: Final = f"_:[{_U}0-9](?:[{_CHARS}.]*[{_CHARS}])?"
_LANGTAG: Final = "@[a-zA-Z]+(?:-[a-zA-Z0-9]+)*"
_NUMBER: Final = f"[0-9]+(?:\\.[0-9]*{_EXPONENT}|\\.[0-9]+|{_EXPONENT})?|\\.[0-9]+(?:{_EXPONENT})?"
#: Whitespace and comments after a token belong to it.
_TRAIL: Final = f"(?:[{_WS}]|#[^\\r\\n]*)*"

#: A run of brackets, whitespace between them included: one step for the depth count.
_BRACKETS: Final = f"[{{}}()\\[\\]](?:[{_WS}]*[{{}}()\\[\\]])*"

#: Whitespace and comments before the first token.
_LEADING: Final = re.compile(_TRAIL)

#: One token per match; every alternative is tried in the same order as in a dull run.
_FINE: Final = re.compile(
    f"(?:(?P<iri>{_IRIREF})|(?P<bnode>{_BNODE})|(?P<name>{_PNAME}|{_WORD})"
    f"|(?P<brackets>{_BRACKETS})|(?P<string>{_STRING})|(?P<unterminated>[{_Q1}{_Q2}])"
    f"|(?P<other>{_VAR}|{_LANGTAG}|{_NUMBER}|[^{_WS}])|[{_WS}]){_TRAIL}",
    re.DOTALL,
)
#: A run of tokens without brackets (nor a string that never ends): what the guard skips in
#: one step unless a notable word lies inside it.
_COARSE: Final = re.compile(
    f"(?P<dull>(?:(?:{_PLAIN_IRI}|<(?!{_IRIREF[1:]})|{_BNODE}|{_PNAME}|{_WORD}|{_STRING}|{_VAR}"
    f"|{_LANGTAG}|{_NUMBER}|[^<{_Q1}{_Q2}{{}}()\\[\\]{_WS}]){_TRAIL})+)|{_FINE.pattern}",
    re.DOTALL,
)

#: The keywords the guard acts on, found anywhere in the text by :func:`notable_hits` (lower
#: case, so also inside glued words; overlapping ones count too). A hit inside a name makes the
#: reader look at that name.
_NOTABLE_WORDS: Final = (
    "service", "select", "load", "from", "using", "named", "prefix", "base", "ask", "add",
    "construct", "clear", "create", "copy", "describe", "delete", "drop", "insert", "move",
    "with", "\x00",
)  # fmt: skip
#: The longest notable keyword: a hit this far before a name may still reach into it.
_REACH: Final = 9
#: ASCII lower case, one character for one; letters that some engines fold to ASCII letters
#: (long s, dotless i, Kelvin sign, ligatures) become NUL, which is always notable.
_FOLD: Final = str.maketrans(
    {chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)}
    | dict.fromkeys(
        "\u017f\u0131\u0130\u212a\u212b" + "".join(map(chr, range(0xFB00, 0xFB07))), "\x00"
    )
)

_ESCAPE: Final = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_NOT_BRACKET: Final = re.compile(r"[^{}()\[\]]+")
_LOCAL_ESCAPE: Final = re.compile(r"\\([_~.\-!$&'()*+,;=/?#@%])")
#: Brackets to steps (see :func:`nesting`).
_BRACKET_STEP: Final = str.maketrans(dict.fromkeys("{([", "\x02") | dict.fromkeys("})]", "\x00"))


def notable_hits(text: str) -> list[int]:
    """Where a notable keyword starts in ``text`` (folded by ``_FOLD``), in order, overlapping
    ones included: one C-level ``find`` loop per keyword, 3× faster on a typical query than a
    lookahead regex tried at every position (tests/test_guard_fuzz.py compares the two)."""
    # For ASCII text, str.lower() is exactly the _FOLD table (it only maps A-Z), and cheaper.
    folded = text.lower() if text.isascii() else text.translate(_FOLD)
    hits: list[int] = []
    for word in _NOTABLE_WORDS:
        index = folded.find(word)
        while index >= 0:
            hits.append(index)
            index = folded.find(word, index + 1)
    hits.sort()
    return hits


def decode_escapes(text: str) -> str:
    """The SPARQL spec's escape pre-pass: every ``\\uXXXX`` / ``\\UXXXXXXXX`` decoded, once."""
    if "\\u" not in text and "\\U" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        code = int(match.group(1) or match.group(2), 16)
        if code > 0x10FFFF:
            raise QuerySyntaxError(f"invalid escape {match.group(0)!r}: no such code point")
        return chr(code)

    return _ESCAPE.sub(replace, text)


def unescape_iri(iri: str) -> str:
    """An IRIREF's text with its UCHAR escapes decoded."""
    return decode_escapes(iri)


def unescape_local(local: str) -> str:
    """A prefixed name's local part without its backslash escapes (``a\\-b`` is ``a-b``)."""
    return _LOCAL_ESCAPE.sub(r"\1", local)


class TokenStream:
    """Iterate over the tokens of a text as ``(Kind, text)``; :attr:`depth` is the bracket
    nesting before the current token, :attr:`max_depth` the deepest so far."""

    def __init__(self, text: str, depth: int = 0) -> None:
        self.text = text
        self.depth = depth
        self.max_depth = depth
        #: Set by the reader while a keyword waits for its operand: then every token is
        #: yielded; otherwise runs of tokens the guard need not see are skipped in one step.
        self.fine = False

    def __iter__(self) -> Iterator[tuple[Kind, str]]:
        text = self.text
        hits = notable_hits(text)
        # Leading whitespace and comments (the patterns swallow them only after a token).
        start = _LEADING.match(text)
        position = start.end() if start else 0
        end = len(text)
        while position < end:
            match = (_FINE if self.fine else _COARSE).match(text, position)
            if match is None:  # pragma: no cover - every character starts some token
                raise QuerySyntaxError(f"unreadable text at character {position}")
            position = match.end()
            if match.lastgroup != "dull":
                yield from self._token(match)
                continue
            first, last = match.span()
            index = bisect.bisect_left(hits, first - _REACH)
            if index < len(hits) and hits[index] < last:
                # A notable word may lie in this run: read it token by token (same patterns
                # and order, so the same tokens); show the reader the names a hit touches,
                # and every token while it waits for an operand.
                for token in _FINE.finditer(text, first, last):
                    group = token.lastgroup
                    if self.fine:
                        yield from self._token(token)
                    elif group == "name" or (group == "iri" and ")" in token.group("iri")):
                        # An IRI with ")" may be code to an engine that reads its "<" as
                        # less-than (the reader reads it both ways).
                        low, high = token.span(group)
                        index = bisect.bisect_left(hits, low - _REACH)
                        if index < len(hits) and hits[index] < high:
                            yield from self._token(token)

    def _token(self, match: re.Match[str]) -> Iterator[tuple[Kind, str]]:
        group = match.lastgroup
        if group == "name":
            value = match.group("name")
            yield (Kind.PNAME if ":" in value else Kind.WORD), value
        elif group == "iri":
            yield Kind.IRI, match.group("iri")
        elif group == "brackets":
            self._brackets(match.group("brackets"))
            yield Kind.OTHER, ""
        elif group == "unterminated":
            line = self.text.count("\n", 0, match.start()) + 1
            raise QuerySyntaxError(
                f"a string starting on line {line} never ends (or holds a bad escape)"
            )
        else:
            yield Kind.OTHER, ""

    def _brackets(self, run: str) -> None:
        self.depth, deepest = nesting(run, self.depth)
        self.max_depth = max(self.max_depth, deepest)


def nesting(run: str, depth: int) -> tuple[int, int]:
    """The nesting after a run of brackets (anything else in it is ignored) that starts
    ``depth`` deep, and the deepest it reaches; a closing bracket below zero counts as none."""
    if len(run) == 1:
        if run in "{([":
            return depth + 1, depth + 1
        return (max(depth - 1, 0) if run in "})]" else depth), depth
    # C-level passes: an opening bracket steps +1, a closing one -1 (bytes 2 and 0, minus one
    # per position), relative to the depth before the run.
    steps = _NOT_BRACKET.sub("", run).translate(_BRACKET_STEP).encode("latin-1")
    if not steps:
        return depth, depth
    levels = list(map(operator.sub, itertools.accumulate(steps), range(1, len(steps) + 1)))
    if depth + min(levels) >= 0:
        return depth + levels[-1], max(depth, depth + max(levels))
    # More closed than opened (the engine refuses it): clamp at zero, one by one.
    level = deepest = depth
    for step in steps:
        level = level + 1 if step == 2 else max(level - 1, 0)
        deepest = max(deepest, level)
    return level, deepest


_CODE_STRING: Final = re.compile("'''(?:(?:'|'')?[^'])*'''|'[^'\r\n]*'")


def as_code(iri_text: str) -> str:
    """What follows the ``<`` of an IRI, as code to a reader that takes that ``<`` for
    less-than: without its strings and its comment. An IRI holds no ``<``, ``"``, ``{``, ``}``,
    backslash (but in ``\\u`` escapes), space or line end, so strings in ``'`` and a comment
    to the end are all there is to remove; QuerySyntaxError if a string never ends."""
    if "'" in iri_text:
        iri_text = _CODE_STRING.sub(" ", iri_text)
        if "'" in iri_text:
            raise QuerySyntaxError("a string in an IRI-like comparison never ends")
    return iri_text.partition("#")[0]


def tokenize(text: str, depth: int = 0) -> TokenStream:
    """The tokens of ``text`` (iterate the result once), nested ``depth`` deep to begin with."""
    return TokenStream(text, depth)
