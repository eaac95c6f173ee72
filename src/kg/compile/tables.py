"""Reading the CSV tables of ``data/``: header checks, row lengths, line numbers."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kg.errors import DataIssue

__all__ = ["Row", "TableSpec", "read_table", "split_multi"]


@dataclass(frozen=True)
class TableSpec:
    """The columns of one table: ``required`` must be in the header and filled in every row."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


@dataclass(frozen=True)
class Row:
    """One data row: the file (as shown to the user), its first line, its cells by column."""

    file: str
    line: int
    cells: dict[str, str] = field(default_factory=dict)

    def get(self, column: str) -> str:
        """The stripped cell, or "" when the column is absent or empty."""
        return self.cells.get(column, "").strip()


def split_multi(cell: str) -> list[str]:
    """Values of a multi-valued cell, separated by ``|``."""
    return [part.strip() for part in cell.split("|") if part.strip()]


def read_table(path: Path, shown: str, spec: TableSpec, issues: list[DataIssue]) -> list[Row]:
    """Read ``path`` (reported as ``shown``); append every problem to ``issues``."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        issues.append(DataIssue(shown, None, f"not UTF-8 text ({exc.reason})"))
        return []
    rows: list[Row] = []
    records = _records(text, shown, issues)
    header_item = next(records, None)
    if header_item is None:
        issues.append(DataIssue(shown, 1, "empty file: expected a header row"))
        return []
    _, header = header_item
    header = [h.strip() for h in header]
    header_ok = True
    for column in header:
        if column not in spec.columns:
            issues.append(
                DataIssue(
                    shown,
                    1,
                    f"unknown column {column!r} (columns of {spec.name}: "
                    f"{', '.join(spec.columns)})",
                )
            )
            header_ok = False
    for column in spec.required:
        if column not in header:
            issues.append(DataIssue(shown, 1, f"missing column {column!r}"))
            header_ok = False
    if len(set(header)) != len(header):
        issues.append(DataIssue(shown, 1, "a column name appears twice in the header"))
        header_ok = False
    if not header_ok:
        return []
    for line, record in records:
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            issues.append(
                DataIssue(
                    shown,
                    line,
                    f"malformed row: {len(record)} columns, the header has {len(header)} "
                    "(a comma inside a cell needs the cell in double quotes)",
                )
            )
            continue
        row = Row(shown, line, dict(zip(header, record, strict=True)))
        missing = [c for c in spec.required if not row.get(c)]
        if missing:
            issues.append(DataIssue(shown, line, f"empty required column {', '.join(missing)}"))
            continue
        rows.append(row)
    return rows


def _records(text: str, shown: str, issues: list[DataIssue]) -> Iterator[tuple[int, list[str]]]:
    """Each CSV record with the line it starts on."""
    reader = csv.reader(text.splitlines(keepends=True), strict=True)
    start = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            issues.append(DataIssue(shown, reader.line_num, f"malformed CSV: {exc}"))
            return
        yield start, record
        start = reader.line_num + 1
