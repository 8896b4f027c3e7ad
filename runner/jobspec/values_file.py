"""Reading a job's `values_file`: a CSV column, or plain text one value a line.

The file is an input named by a spec, so it is read through the confinement
rule of `runner.jobspec.inputs`: a regular file in the spec's folder, capped in
size. Problems say which spec key to change (`at`), so `check` can put them
on the line the user must edit; a problem inside the file carries its line.

Values files are customers' identifiers, usually saved by a spreadsheet, so the
reader takes the files spreadsheets write (a semicolon or tab for a delimiter,
Windows-1252 or UTF-16 text) and no message ever quotes a value: a problem is told
by its line, its column and counts. Only header names, in a file whose first row
the spec declares a header (`column:`), are shown.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from runner.jobspec.inputs import InputRefused, confined_path, read_regular_file

MISSING = "does not exist"

#: what `values_file.delimiter` takes, by symbol or name
DELIMITERS = {",": ",", ";": ";", "\t": "\t", "|": "|"}
DELIMITER_NAMES = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|"}
_SHOWN_DELIMITER = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
#: what `values_file.encoding` takes; a UTF-16 file with its byte-order mark is read as such
#: without being told
ENCODINGS = ("utf-8", "cp1252", "windows-1252", "latin-1", "iso-8859-1", "utf-16")
NOT_UTF8_HINT = (
    '; a spreadsheet\'s plain "CSV" is saved in the Windows code page: save it as '
    '"CSV UTF-8", or set values_file.encoding (cp1252, latin-1 or utf-16)'
)


@dataclass
class ValuesFileProblem(Exception):
    message: str
    line: int = 0  # a line of the values file, when the problem is there
    at: str = "path"  # else the values_file key to edit: path, column, or "" (the mapping)
    advice: str = ""  # said last, after where the problem is

    def __str__(self) -> str:
        return self.message


def read_values(
    written: str,
    folder: Path,
    column: str | None,
    max_bytes: int,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> list[tuple[str, int]]:
    """The values with their line numbers. Blank lines and blank cells are skipped;
    `#` comments are allowed in plain text. The delimiter is the one given, else the
    one that splits the first line (comma, semicolon, tab or pipe)."""
    try:
        data = read_regular_file(confined_path(written, folder), max_bytes)
    except InputRefused as e:
        message = str(e)
        if message.startswith("is larger"):
            message += " (values_file.max_bytes)"
        raise ValuesFileProblem(message) from None
    text = _decoded(data, encoding)
    if "\x00" in text:
        raise ValuesFileProblem("is not text (it holds NUL characters)" + NOT_UTF8_HINT)
    given = _delimiter(delimiter)
    try:
        if column is None:
            return _plain(text, given)
        return _csv_column(text, column, given)
    except csv.Error as e:
        raise ValuesFileProblem(f"is not valid CSV: {_csv_problem(e)}") from None


def _decoded(data: bytes, encoding: str | None) -> str:
    if encoding is None and data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"  # Excel's "Unicode Text"
    if encoding is not None and encoding.lower() != "utf-8":
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise ValuesFileProblem(f"is not {encoding} text", at="encoding") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ValuesFileProblem(
            f"is not UTF-8 text (line {line}, byte {e.start + 1}){NOT_UTF8_HINT}"
        ) from None


def _delimiter(given: str | None) -> str | None:
    if given is None:
        return None
    return DELIMITERS.get(given) or DELIMITER_NAMES.get(given.strip().lower())


def _csv_problem(error: csv.Error) -> str:
    """csv's message without any field it quotes: the file's text is customers' data."""
    return re.sub(r"'[^']*'", "a field", str(error))


def _fields(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter), [])


def _detected(first_line: str, want: str | None = None) -> str:
    """The delimiter that splits the first line into the most fields; where `want` (a
    column name) is given, one under which the header holds it wins."""
    candidates = list(DELIMITERS)
    if want is not None:
        for delimiter in candidates:
            if want in [f.strip() for f in _fields(first_line, delimiter)]:
                return delimiter
    counts = {d: len(_fields(first_line, d)) for d in candidates}
    best = max(candidates, key=lambda d: counts[d])  # ties: the earlier, comma first
    return best if counts[best] > 1 else ","


def _plain(text: str, given: str | None) -> list[tuple[str, int]]:
    lines = [
        (line.strip(), number)
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if lines:  # a CSV file read as one value a line would send every row as one value
        first, number = lines[0]
        delimiter = given or _detected(first)
        fields = _fields(first, delimiter)
        if len(fields) > 1:
            raise ValuesFileProblem(
                f"has {len(fields)} fields on line {number}, separated by "
                f"{_SHOWN_DELIMITER[delimiter]}s: give `column:` naming the one with the "
                "values (the first row is then its header)",
                at="",
            )
    return lines


def _csv_column(text: str, column: str, given: str | None) -> list[tuple[str, int]]:
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = given or _detected(first, column)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        raise ValuesFileProblem("is empty; expected a header row")
    names = [h.strip() for h in header]
    if column not in names:
        count = f"{len(names)} column{'s' * (len(names) != 1)}"
        message = f"has no column {column!r} in its header (line 1, {count})"
        advice = _column_advice(column, names, delimiter)
        raise ValuesFileProblem(message, at="column", advice=advice)
    at = names.index(column)
    values = []
    for row in reader:
        if at < len(row) and row[at].strip():
            values.append((row[at].strip(), reader.line_num))
    return values


def _column_advice(column: str, names: list[str], delimiter: str) -> str:
    """The header's column the spec probably means, or why the header is one column."""

    def folded(name: str) -> str:
        return re.sub(r"[\s_\-.]", "", name).casefold()

    # only the column's own name in another spelling is shown: any other text of the first
    # row may be a value (a file without a header), and a value is never printed
    same = [n for n in names if folded(n) == folded(column)]
    if same:
        return f"did you mean {same[0]!r}?"
    if len(names) == 1:
        return (
            f"the header is one column when split by {_SHOWN_DELIMITER[delimiter]}s: "
            "set values_file.delimiter"
        )
    return "check the name against the file's first row (the header)"
