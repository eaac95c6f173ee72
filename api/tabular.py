"""JSON or CSV for the REST API: the format negotiation and the flattening of answer models.

``?format=csv`` (or ``json``) wins; otherwise the Accept header chooses between
``application/json`` and ``text/csv``; anything else (a browser's ``text/html``) gets JSON.
A CSV row is one record of the answer's list, nested fields joined by dots
(``helper.label``), lists (citations) joined with `` | `` so one cell holds every sentence.

The CSV is meant to be opened in a spreadsheet, which runs a cell starting with ``=``, ``+``,
``-``, ``@``, tab or carriage return as a formula (``=HYPERLINK(…)`` in a label would become a
live link, ``@SUM(…)|cmd`` worse). Such a cell is written with a leading apostrophe (the
spreadsheets' own "this is text" mark, OWASP's advice), unless it is a plain number (``-3.5``).
"""

from __future__ import annotations

import csv
import io
import re
import types
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from kg.sparql.negotiation import rank

__all__ = [
    "CSV_RESPONSES",
    "Format",
    "flatten",
    "inert",
    "model_columns",
    "render",
    "to_csv",
    "wants_csv",
]

Format = Literal["json", "csv"]
_JSON: Final = "application/json"
_CSV: Final = "text/csv"
_JOIN: Final = " | "

#: OpenAPI: every tabular route also answers text/csv.
CSV_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "content": {_CSV: {"schema": {"type": "string"}}},
        "description": "JSON by default; CSV with ?format=csv or Accept: text/csv",
    }
}


def wants_csv(request: Request, fmt: Format | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    choices = rank(request.headers.get("accept"), (_JSON, _CSV))
    return bool(choices) and choices[0] == _CSV


def _cells(prefix: str, value: object, out: dict[str, list[str]]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _cells(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif isinstance(value, list | tuple):
        for item in value:
            _cells(prefix, item, out)
        if not value:
            out.setdefault(prefix, [])
    elif value is not None:
        out.setdefault(prefix, []).append(str(value))
    else:
        out.setdefault(prefix, [])


#: What a spreadsheet reads as the start of a formula.
_FORMULA: Final = ("=", "+", "-", "@", "\t", "\r")
_NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def inert(cell: str) -> str:
    """``cell`` as a spreadsheet shows it as text: a leading apostrophe before a formula."""
    if cell.startswith(_FORMULA) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def flatten(record: Mapping[str, object]) -> dict[str, str]:
    """One answer record as CSV cells (dotted names; list values joined by `` | ``), each
    cell :func:`inert`."""
    cells: dict[str, list[str]] = {}
    _cells("", record, cells)
    return {k: inert(_JOIN.join(v)) for k, v in cells.items()}


def to_csv(records: Iterable[Mapping[str, object]], columns: Sequence[str] = ()) -> bytes:
    rows = [flatten(r) for r in records]
    header = list(columns)
    for row in rows:
        header.extend(k for k in row if k not in header)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def model_columns(annotation: object, prefix: str = "") -> list[str]:
    """The CSV columns :func:`flatten` makes of a full record of type ``annotation``: a model's
    fields in order, nested models dotted (``helper.label``), lists by their item type."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = get_args(annotation)
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        return model_columns(models[0], prefix) if models else [prefix]
    if origin in (list, tuple):
        args = get_args(annotation)
        return model_columns(args[0], prefix) if args else [prefix]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        out: list[str] = []
        for name, field in annotation.model_fields.items():
            out.extend(model_columns(field.annotation, f"{prefix}.{name}" if prefix else name))
        return out
    return [prefix]


def _record_columns(model: BaseModel, records: Sequence[object]) -> list[str]:
    """The columns of ``model``'s list field that ``records`` is (the first list field else)."""
    lists = [
        (name, field.annotation)
        for name, field in type(model).model_fields.items()
        if get_origin(field.annotation) is list
    ]
    for name, annotation in lists:
        if getattr(model, name) is records:
            return model_columns(annotation)
    return model_columns(lists[0][1]) if lists else []


def render(
    request: Request,
    model: BaseModel,
    records: Sequence[BaseModel | Mapping[str, object]],
    fmt: Format | None,
    columns: Sequence[str] = (),
) -> Response:
    """``model`` as JSON, or ``records`` (its list) as CSV."""
    headers = {"Vary": "Accept"}
    if wants_csv(request, fmt):
        dumped = [r.model_dump(mode="json") if isinstance(r, BaseModel) else r for r in records]
        if not dumped and not columns:
            # No row to take the header from: the record type's, so an empty answer is still a
            # table (pandas.read_csv raised EmptyDataError on the empty body it was).
            columns = _record_columns(model, records)
        return Response(
            to_csv(dumped, columns), media_type="text/csv; charset=utf-8", headers=headers
        )
    return Response(model.model_dump_json().encode("utf-8"), media_type=_JSON, headers=headers)
