"""Exports shaped for analysts: CSV and xlsx, with columns pinned by `output.columns`.

A spec's `output.columns` maps column names, in order, to JMESPath expressions
over a record (`email: "Emails[?IsDefault] | [0].EmailAddress"`), so a field the
vendor adds never reshapes a sheet. Without it, records are flattened as the
CSV always was (nested mappings as dotted columns, lists as JSON text).

Both formats are written from the job's JSONL spool when the export is placed
(runner/run/outputs.py), streamed: the xlsx through openpyxl's write-only mode, so
memory stays flat. A sheet holds at most 1,048,576 rows, the header included.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from runner.jobspec.columns import Search
from runner.system import durable as _durable

#: rows in an Excel sheet, the header included
XLSX_MAX_ROWS = 1_048_576
XLSX_MAX_RECORDS = XLSX_MAX_ROWS - 1
#: characters in one Excel cell
XLSX_MAX_CELL = 32_767
#: Excel keeps 15 significant digits; a larger integer is written as text
_EXACT_IN_EXCEL = 10**15
# XML 1.0 cannot hold these; written as their \xNN escape rather than dropped
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")

Columns = Sequence[tuple[str, str]]


def too_many_rows(records: int) -> str | None:
    """The message for an xlsx export that cannot fit in one sheet, or None."""
    if records <= XLSX_MAX_RECORDS:
        return None
    return (
        f"{records:,} records do not fit in an xlsx sheet (at most {XLSX_MAX_RECORDS:,} rows "
        "below the header); use format: csv or jsonl, or narrow the export"
    )


def _records(spool: Path) -> Iterator[object]:
    with open(spool, "rb") as f:
        for line in f:
            yield json.loads(line)


def flatten(record: object, prefix: str = "") -> dict[str, object]:
    """Nested mappings become dotted columns; lists stay whole, JSON-encoded."""
    if not isinstance(record, dict):
        return {prefix or "value": json.dumps(record, ensure_ascii=False)}
    row: dict[str, object] = {}
    for key, value in record.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            row.update(flatten(value, name))
        else:
            row[name] = value
    return row


def text(value: object) -> object:
    """A value as a CSV cell: empty for null, true/false, JSON for lists and mappings."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def _rows(spool: Path, columns: Columns) -> tuple[list[str], Iterable[list[object]]]:
    """The header and the rows (raw values), in one pass when columns are given,
    else after a first pass that collects every flattened column."""
    if columns:
        names = [name for name, _ in columns]
        searches = [Search(expression) for _, expression in columns]
        rows = ([c.search(record) for c in searches] for record in _records(spool))
        return names, rows
    seen: dict[str, None] = {}
    for record in _records(spool):
        seen.update(dict.fromkeys(flatten(record)))
    names = list(seen)
    rows = (
        [flat.get(name) for name in names]
        for flat in (flatten(record) for record in _records(spool))
    )
    return names, rows


def write_csv(spool: Path, target: Path, columns: Columns) -> None:
    names, rows = _rows(spool, columns)
    fd = _durable.open_new(target)
    # backslashreplace: a lone surrogate is written as its escape, never a crash
    with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline="") as dst:
        writer = csv.writer(dst)
        if names:  # no columns known (no record, none pinned): an empty file, not a lone line break
            writer.writerow(names)
        for row in rows:
            writer.writerow([text(v) for v in row])
        dst.flush()
        _durable.fsync_file(dst.fileno(), target.name)


def write_xlsx(spool: Path, target: Path, columns: Columns, *, sheet: str = "records") -> None:
    """One sheet, streamed (openpyxl's write-only mode keeps no rows in memory)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    names, rows = _rows(spool, columns)
    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet[:31])
    ws.append([_xlsx_text(n) for n in names])

    def cell(value: object) -> object:
        value = _xlsx_value(value)
        if isinstance(value, str) and value.startswith("="):
            formula_like = WriteOnlyCell(ws, value=value)
            formula_like.data_type = "s"  # text, never a formula, whatever it starts with
            return formula_like
        return value

    for written, row in enumerate(rows, start=1):
        if written > XLSX_MAX_RECORDS:  # the job checked RowCount before retrieving
            raise AssertionError(too_many_rows(written))
        ws.append([cell(v) for v in row])
    fd = _durable.open_new(target)
    with os.fdopen(fd, "wb") as dst:
        book.save(dst)
        dst.flush()
        _durable.fsync_file(dst.fileno(), target.name)


def _xlsx_value(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < _EXACT_IN_EXCEL else str(value)
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    return _xlsx_text(text(value))


def _xlsx_text(value: object) -> str:
    s = str(value)
    s = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", s)
    s = _ILLEGAL_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", s)
    if len(s) > XLSX_MAX_CELL:  # Excel would cut it silently; this says so in the cell
        mark = f" [cut by segrun: {len(s):,} characters; format: csv keeps it whole]"
        s = s[: XLSX_MAX_CELL - len(mark)] + mark
    return s
