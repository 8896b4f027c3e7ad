"""Reading a job's `values_file`: a CSV column, or plain text one value a line."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ValuesFileProblem(Exception):
    message: str
    line: int = 0

    def __str__(self) -> str:
        return self.message


def read_values(path: Path, column: str | None) -> list[tuple[str, int]]:
    """The values with their line numbers. Blank lines and blank cells are skipped;
    `#` comments are allowed in plain text."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            if column is None:
                return [
                    (line.strip(), number)
                    for number, line in enumerate(f, 1)
                    if line.strip() and not line.lstrip().startswith("#")
                ]
            return _csv_column(f, column)
    except FileNotFoundError:
        raise ValuesFileProblem("does not exist") from None
    except UnicodeDecodeError:
        raise ValuesFileProblem("is not UTF-8 text") from None
    except OSError as e:
        raise ValuesFileProblem(f"cannot be read: {e.strerror}") from None
    except csv.Error as e:
        raise ValuesFileProblem(f"is not valid CSV: {e}") from None


def _csv_column(f, column: str) -> list[tuple[str, int]]:
    reader = csv.reader(f)
    header = next(reader, None)
    if not header:
        raise ValuesFileProblem("is empty; expected a header row")
    names = [h.strip() for h in header]
    if column not in names:
        raise ValuesFileProblem(
            f"no column {column!r} in the header (its columns: {', '.join(names)})", 1
        )
    at = names.index(column)
    values = []
    for row in reader:
        if at < len(row) and row[at].strip():
            values.append((row[at].strip(), reader.line_num))
    return values
