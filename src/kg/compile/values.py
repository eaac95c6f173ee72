"""Parsing cell values: numbers written the Chinese way, dates and periods (with precision)."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from rdflib import Literal, URIRef
from rdflib.namespace import XSD

from kg.compile.vocab import GQ

__all__ = ["decimal_literal", "parse_date", "parse_number", "parse_period"]

#: Chinese magnitude words: 3.45万 is 34,500; 1.85亿 is 185,000,000.
MULTIPLIERS: dict[str, int] = {"万": 10_000, "亿": 100_000_000}

_NUMBER = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(万|亿)?$")
_YEAR = re.compile(r"^[0-9]{4}$")
_YEAR_MONTH = re.compile(r"^[0-9]{4}-[0-9]{2}$")


def parse_number(text: str) -> Decimal:
    """``"3.45万"`` → ``Decimal(34500)``; commas are ignored. Raises ValueError."""
    cleaned = text.replace(",", "").replace(" ", "")
    match = _NUMBER.match(cleaned)
    if not match:
        raise ValueError(f"{text!r} is not a number (write e.g. 1279, 3.45万 or 1.85亿)")
    try:
        value = Decimal(match.group(1))
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only digits
        raise ValueError(f"{text!r} is not a number") from exc
    if match.group(2):
        value *= MULTIPLIERS[match.group(2)]
    return value


def decimal_literal(value: Decimal) -> Literal:
    """An ``xsd:decimal`` literal without exponent or trailing zeros (34500, 3.5)."""
    text = format(value.normalize(), "f")
    return Literal(text, datatype=XSD.decimal)


def parse_date(text: str) -> Literal:
    """``YYYY-MM-DD`` → an ``xsd:date`` literal. Raises ValueError."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a date (write YYYY-MM-DD)") from exc
    if len(text) != 10:
        raise ValueError(f"{text!r} is not a date (write YYYY-MM-DD)")
    return Literal(day.isoformat(), datatype=XSD.date)


def parse_period(text: str, *, end: bool = False) -> tuple[Literal, URIRef]:
    """A period bound as an ``xsd:date`` and its precision.

    ``YYYY`` is year precision, ``YYYY-MM`` month precision, ``YYYY-MM-DD`` day precision. A
    start is the first day of its year or month, an end the last one (bounds are inclusive),
    so "active in 2021" is one date comparison whatever the precision. Raises ValueError.
    """
    if _YEAR.match(text):
        year = int(text)
        day = dt.date(year, 12, 31) if end else dt.date(year, 1, 1)
        return Literal(day.isoformat(), datatype=XSD.date), GQ.YearPrecision
    if _YEAR_MONTH.match(text):
        year, month = int(text[:4]), int(text[5:])
        if not 1 <= month <= 12:
            raise ValueError(f"{text!r} has no month {text[5:]}")
        last = calendar.monthrange(year, month)[1]
        day = dt.date(year, month, last if end else 1)
        return Literal(day.isoformat(), datatype=XSD.date), GQ.MonthPrecision
    try:
        return parse_date(text), GQ.DayPrecision
    except ValueError as exc:
        raise ValueError(
            f"{text!r} is not a year, year-month or date (YYYY, YYYY-MM, YYYY-MM-DD)"
        ) from exc
