"""Exports shaped for analysts: CSV and xlsx, with columns pinned by `output.columns`.

A spec's `output.columns` maps column names, in order, to JMESPath expressions
over a record (`email: "Emails[?IsDefault] | [0].EmailAddress"`), so a field the
vendor adds never reshapes a sheet. Without it, records are flattened as the
CSV always was (nested mappings as dotted columns, lists as JSON text).

With pinned columns a CSV is written as the pages come, one pass, and its part file
is the CSV itself; an xlsx (a zip, written whole) is written from a spool of its rows.
Flattened, either needs every column before its header, so it is written from the
job's spool of records when the export is placed (runner/run/outputs.py). Both are
streamed: the xlsx through openpyxl's write-only mode, so memory stays flat. A sheet
holds at most 1,048,576 rows, the header included.

Spreadsheets run a text cell that starts like a formula (CSV injection): both writers
share one rule for what does (`formula_like`). A CSV cell so written gets a leading
`'` unless `output.escape_formulas` is false; an xlsx cell is typed text, never a
formula, whatever it starts with.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from runner.apifacts.page import HugeNumber
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

#: what a spreadsheet reads as the start of a formula in a cell of text (OWASP's CSV
#: Injection list: equals, plus, minus, at, tab and carriage return; and the NUL that
#: OWASP ASVS 5.0, requirement 1.2.10, adds to it)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\x00")
#: what a CSV cell that starts so is given first: Excel and LibreOffice then read it as text
FORMULA_ESCAPE = "'"
#: the UTF-8 byte-order mark: what tells Excel a CSV is UTF-8 (without it, the Windows
#: code page: `Müller` shows as `MÃ¼ller`)
BOM = "\ufeff".encode()
_DECODE = msgspec.json.Decoder()


def formula_like(text: str) -> bool:
    """Whether a spreadsheet would run this text as a formula, were it a cell's."""
    return text.startswith(FORMULA_STARTS)


@dataclass(frozen=True)
class CsvStyle:
    """How a CSV export is written: `output.escape_formulas` and `output.bom`."""

    escape_formulas: bool = True
    bom: bool = False


#: a CSV as a spec without `escape_formulas` or `bom` has it
CSV_DEFAULTS = CsvStyle()


def too_many_rows(records: int) -> str | None:
    """The message for an xlsx export that cannot fit in one sheet, or None."""
    if records <= XLSX_MAX_RECORDS:
        return None
    return (
        f"{records:,} records do not fit in an xlsx sheet (at most {XLSX_MAX_RECORDS:,} rows "
        "below the header); use format: csv or jsonl, or narrow the export"
    )


def integer(text: str) -> int | HugeNumber:
    """A JSON integer: an int, or (more digits than Python converts) its text."""
    try:
        return int(text)
    except ValueError:
        return HugeNumber(text)


_JUDGE = json.JSONDecoder(parse_int=integer)


def decoded(lines: Iterable[bytes]) -> Iterator[object]:
    """Each JSONL line's value (blank lines skipped): msgspec's decoder, and Python's
    where msgspec declines (an integer of too many digits, kept as its text; an escaped
    lone surrogate), which gives the same value wherever both read one."""
    for line in lines:
        if not line.strip():
            continue
        try:
            yield _DECODE.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError):
            yield _JUDGE.decode(bytes(line).decode("utf-8", "surrogatepass"))


#: stands for a HugeNumber in JSON text while it is encoded (a random token: no record's
#: text can spell it)
_HUGE = f"\x00huge-{secrets.token_hex(8)}-"


def json_text(value: object, *, ensure_ascii: bool = False) -> str:
    """`value` as compact JSON, an integer of any number of digits written as its digits."""
    huge: list[str] = []

    def digits(o: object) -> str:
        if type(o) is not HugeNumber:
            raise TypeError(f"{type(o).__name__} is not JSON")
        huge.append(o.text)
        return f"{_HUGE}{len(huge) - 1}"

    text = json.dumps(value, ensure_ascii=ensure_ascii, separators=(",", ":"), default=digits)
    for index, number in enumerate(huge):
        text = text.replace(json.dumps(f"{_HUGE}{index}", ensure_ascii=ensure_ascii), number, 1)
    return text


def _records(spool: Path) -> Iterator[object]:
    with open(spool, "rb") as f:
        yield from decoded(f)


def flatten(record: object, prefix: str = "") -> dict[str, object]:
    """Nested mappings become dotted columns; lists stay whole, JSON-encoded."""
    if not isinstance(record, dict):
        return {prefix or "value": json_text(record)}
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
        return json_text(value)
    if type(value) is HugeNumber:
        return value.text
    return value


class Projection:
    """A record as the row of cells `output.columns` pins (raw values, before any cell
    rule): what a sheet with pinned columns keeps of it."""

    def __init__(self, columns: Columns) -> None:
        self.names = [name for name, _ in columns]
        self._searches = [Search(expression) for _, expression in columns]

    def row(self, record: object) -> list[object]:
        return [c.search(record) for c in self._searches]


def row_line(row: list[object]) -> bytes:
    """A row as a line of a rows spool (an xlsx with pinned columns): JSON, read back
    to the same values."""
    return json_text(row, ensure_ascii=True).encode() + b"\n"  # ASCII: lone surrogates too


def _spooled_rows(spool: Path) -> Iterator[list[object]]:
    with open(spool, "rb") as f:
        for line in f:
            yield _JUDGE.decode(line.decode("ascii"))


def _rows(
    spool: Path, columns: Columns, *, projected: bool = False
) -> tuple[list[str], Iterable[list[object]]]:
    """The header and the rows (raw values): a spool of rows (`projected`) read as
    it is; a spool of records in one pass when columns are given, else after a first
    pass that collects every flattened column."""
    if columns:
        projection = Projection(columns)
        if projected:
            return projection.names, _spooled_rows(spool)
        return projection.names, (projection.row(record) for record in _records(spool))
    seen: dict[str, None] = {}
    for record in _records(spool):
        seen.update(dict.fromkeys(flatten(record)))
    names = list(seen)
    rows = (
        [flat.get(name) for name in names]
        for flat in (flatten(record) for record in _records(spool))
    )
    return names, rows


def csv_cell(value: object, escape_formulas: bool) -> object:
    """A value as a CSV cell: `text`, and a text that starts like a formula escaped with
    a leading `'`. A JSON number stays a number (`-5` is no formula to a spreadsheet,
    and a loader reads it as sent); `"-5"` sent as text is text, and escaped."""
    cell = text(value)
    if escape_formulas and type(cell) is str and formula_like(cell):
        return FORMULA_ESCAPE + cell
    return cell


class CsvRows:
    """Rows as CSV bytes, a batch at a time: the same bytes whether a sheet is written
    whole at the end or a page at a time as its records come."""

    def __init__(self, style: CsvStyle) -> None:
        self.style = style
        self._text = io.StringIO()
        self._writer = csv.writer(self._text)

    def head(self, names: Sequence[str]) -> bytes:
        """The file's first bytes: the byte-order mark when asked, and the header (none
        when no column is known: no record, none pinned; an empty file, not a lone
        line break)."""
        if names:
            self._writer.writerow([csv_cell(n, self.style.escape_formulas) for n in names])
        return (BOM if self.style.bom else b"") + self._taken()

    def rows(self, rows: Iterable[Sequence[object]]) -> bytes:
        escape = self.style.escape_formulas
        self._writer.writerows([csv_cell(v, escape) for v in row] for row in rows)
        return self._taken()

    def _taken(self) -> bytes:
        written = self._text.getvalue()
        self._text.seek(0)
        self._text.truncate()
        # backslashreplace: a lone surrogate is written as its escape, never a crash
        return written.encode("utf-8", "backslashreplace")


def write_csv(spool: Path, target: Path, columns: Columns, style: CsvStyle | None = None) -> None:
    """A CSV from a spool of records, written beside the export, fsynced."""
    names, rows = _rows(spool, columns)
    writer = CsvRows(style or CSV_DEFAULTS)
    fd = _durable.open_new(target)
    with os.fdopen(fd, "wb") as dst:
        dst.write(writer.head(names))
        batch: list[list[object]] = []
        for row in rows:
            batch.append(row)
            if len(batch) == 1000:
                dst.write(writer.rows(batch))
                batch.clear()
        dst.write(writer.rows(batch))
        dst.flush()
        _durable.fsync_file(dst.fileno(), target.name)


def write_xlsx(
    spool: Path,
    target: Path,
    columns: Columns,
    *,
    sheet: str = "records",
    projected: bool = False,
) -> None:
    """One sheet, streamed (openpyxl's write-only mode keeps no rows in memory), from a
    spool of records, or of rows (`projected`: pinned columns)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    names, rows = _rows(spool, columns, projected=projected)
    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet[:31])

    def cell(value: object) -> object:
        if type(value) is str and formula_like(value):
            as_text = WriteOnlyCell(ws, value=value)
            as_text.data_type = "s"  # text, never a formula, whatever it starts with
            return as_text
        return value

    ws.append([cell(_xlsx_text(n)) for n in names])
    for written, row in enumerate(rows, start=1):
        if written > XLSX_MAX_RECORDS:  # the job checked RowCount before retrieving
            raise AssertionError(too_many_rows(written))
        ws.append([cell(_xlsx_value(v)) for v in row])
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
