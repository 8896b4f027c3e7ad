"""Reading a job's `values_file`: a CSV column, or plain text one value a line.

The file is an input named by a spec, so it is read through the confinement
rule of `runner.jobspec.inputs`: a regular file in the spec's folder, capped in
size. Problems say which spec key to change (`at`), so `check` can put them
on the line the user must edit; a problem inside the file carries its line.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from runner.jobspec.inputs import InputRefused, confined_path, read_regular_file

MISSING = "does not exist"


@dataclass
class ValuesFileProblem(Exception):
    message: str
    line: int = 0  # a line of the values file, when the problem is there
    at: str = "path"  # else the values_file key to edit: path, column, or "" (the mapping)

    def __str__(self) -> str:
        return self.message


def read_values(
    written: str, folder: Path, column: str | None, max_bytes: int
) -> list[tuple[str, int]]:
    """The values with their line numbers. Blank lines and blank cells are skipped;
    `#` comments are allowed in plain text. Never puts the file's text in a
    message beyond a header name or a value, and only after the file passed the
    confinement rule."""
    try:
        data = read_regular_file(confined_path(written, folder), max_bytes)
    except InputRefused as e:
        message = str(e)
        if message.startswith("is larger"):
            message += " (values_file.max_bytes)"
        raise ValuesFileProblem(message) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValuesFileProblem("is not UTF-8 text", data.count(b"\n", 0, e.start) + 1) from None
    if "\x00" in text:
        raise ValuesFileProblem("is not text (it holds NUL characters)")
    try:
        if column is None:
            return _plain(text)
        return _csv_column(text, column)
    except csv.Error as e:
        raise ValuesFileProblem(f"is not valid CSV: {e}") from None


def _plain(text: str) -> list[tuple[str, int]]:
    lines = [
        (line.strip(), number)
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if lines:  # a CSV file read as one value a line would make every row an error
        fields = next(csv.reader([lines[0][0]]), [])
        if len(fields) > 1:
            names = _list(fields)
            raise ValuesFileProblem(
                f"has several columns ({names}): give `column:` naming the one with the values",
                at="",
            )
    return lines


def _csv_column(text: str, column: str) -> list[tuple[str, int]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise ValuesFileProblem("is empty; expected a header row")
    names = [h.strip() for h in header]
    if column not in names:
        raise ValuesFileProblem(
            f"has no column {column!r} (its columns: {_list(names)})", at="column"
        )
    at = names.index(column)
    values = []
    for row in reader:
        if at < len(row) and row[at].strip():
            values.append((row[at].strip(), reader.line_num))
    return values


def _list(names: list[str]) -> str:
    shown = ", ".join(n.strip()[:40] for n in names[:10])
    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")
