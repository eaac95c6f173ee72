"""api.protocol.parse_form: the fast query-string/form decoder reads exactly as urllib does."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, quote_plus

import pytest
from api.protocol import parse_form, unquote_plus_bytes
from hypothesis import given, settings
from hypothesis import strategies as st

#: Bytes that stress the fast path: escapes valid and broken, the characters quoted-printable
#: gives a meaning (=, CR, LF), plus, separators, non-ASCII.
_PIECES = st.sampled_from(
    [b"%", b"%2", b"%41", b"%3D", b"%3d", b"%0A", b"%0D", b"%%", b"%zz", b"=", b"==", b"\r",
     b"\n", b"\r\n", b"+", b"&", b"&&", b"a", b"Z", b"0", b"f", b"?", b" ", b"%E4%B8%AD",
     b"%e4", b"%C3%28", "中".encode(), b"\xff", b"_", b";"]
)  # fmt: skip
_RAW = st.lists(st.one_of(_PIECES, st.binary(max_size=4)), max_size=24).map(b"".join)


def _reference(raw: bytes) -> list[tuple[str, str]] | type[UnicodeDecodeError]:
    try:
        text = raw.decode("utf-8")
        return parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return UnicodeDecodeError


def _ours(raw: bytes) -> list[tuple[str, str]] | type[UnicodeDecodeError]:
    try:
        return parse_form(raw)
    except UnicodeDecodeError:
        return UnicodeDecodeError


@settings(max_examples=3000, deadline=None)
@given(_RAW)
def test_parse_form_reads_any_bytes_as_parse_qsl_does(raw: bytes) -> None:
    assert _ours(raw) == _reference(raw)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200), st.text(max_size=40))
def test_parse_form_round_trips_what_clients_encode(query: str, graph: str) -> None:
    for encode in (quote, quote_plus):
        raw = f"query={encode(query, safe='')}&default-graph-uri={encode(graph, safe='')}"
        assert parse_form(raw.encode()) == [("query", query), ("default-graph-uri", graph)]


def test_raw_bytes_must_be_utf8_before_the_escapes_are_decoded() -> None:
    # Found by the property test below: "%e4" + raw "\x80\x80" is valid UTF-8 only once the
    # escape is decoded; parse_qsl refuses the raw text first, and so does parse_form.
    assert _reference(b"q=%e4\x80\x80") is UnicodeDecodeError
    assert _ours(b"q=%e4\x80\x80") is UnicodeDecodeError
    assert parse_form("q=中%E6%96%87".encode()) == [("q", "中文")]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"%41%3D%0A", b"A=\n"),  # escapes of =, LF: decoded on the fast path
        (b"a%zz%4", b"a%zz%4"),  # broken escapes stay as they are (urllib's rule)
        (b"a=b%41", b"a=bA"),  # a literal '=': the slow path, same answer
        (b"x%\n41", b"x%\n41"),  # LF after '%': quoted-printable would drop it
        (b"1+1%2B1", b"1 1+1"),
    ],
)
def test_unquote_plus_bytes_edge_cases(raw: bytes, expected: bytes) -> None:
    assert unquote_plus_bytes(raw) == expected
