"""Writing a job's records to its export file, streamed, never half-written.

Records go to a temporary file beside the final one and are renamed into place
only when the job succeeds, so an export file that exists is complete.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path
from typing import BinaryIO

PART_SUFFIX = ".part"


def part_path(final_path: Path) -> Path:
    """Where a job's export grows until it is complete (and what --resume reopens)."""
    return final_path.with_name(final_path.name + PART_SUFFIX)


def _dump(record: object) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class ExportWriter:
    """JSONL as records arrive; CSV needs every column first, so its records are
    spooled as JSONL and the CSV is written from the spool when the job ends."""

    def __init__(self, final_path: Path, fmt: str, *, append: bool = False) -> None:
        self.final_path = final_path
        self.fmt = fmt
        self.part_path = part_path(final_path)
        final_path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO = open(self.part_path, "ab" if append else "wb")  # noqa: SIM115
        self.records = 0
        # Hashed as written, so a million-record export is not read back to hash it;
        # a resumed file was partly written by another process: hashed at the end.
        self._digest = None if append else hashlib.sha256()

    def write_page(self, records: list) -> None:
        data = b"".join(map(_dump, records))
        self._file.write(data)
        if self._digest is not None:
            self._digest.update(data)
        self.records += len(records)

    def flush(self, durable: bool = False) -> int:
        """Push written records to the OS (and to the disk when `durable`);
        returns the part file's size, the point a resumed job truncates to."""
        self._file.flush()
        if durable:
            os.fsync(self._file.fileno())
        return self._file.tell()

    def commit(self) -> str:
        """Move the finished export into place; returns its sha256."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        if self.fmt == "csv":
            _spool_to_csv(self.part_path)
            self._digest = None
        digest = self._digest.hexdigest() if self._digest else _sha256(self.part_path)
        os.replace(self.part_path, self.final_path)
        return digest

    def abandon(self) -> None:
        """Close without renaming: the final name never holds a partial export."""
        if not self._file.closed:
            self._file.close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def flatten(record: object, prefix: str = "") -> dict[str, object]:
    """Nested mappings become dotted columns; lists stay whole, JSON-encoded."""
    if not isinstance(record, dict):
        return {prefix or "value": json.dumps(record, ensure_ascii=False)}
    row: dict[str, object] = {}
    for key, value in record.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            row.update(flatten(value, name))
        elif isinstance(value, list):
            row[name] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        elif value is None:
            row[name] = ""
        elif isinstance(value, bool):
            row[name] = "true" if value else "false"
        else:
            row[name] = value
    return row


def _spool_to_csv(spool: Path) -> None:
    columns: dict[str, None] = {}
    with open(spool, "rb") as f:
        for line in f:
            columns.update(dict.fromkeys(flatten(json.loads(line))))
    tmp = spool.with_name(spool.name + ".csv")
    with open(spool, "rb") as src, open(tmp, "w", encoding="utf-8", newline="") as dst:
        writer = csv.DictWriter(dst, fieldnames=list(columns), extrasaction="raise")
        writer.writeheader()
        for line in src:
            writer.writerow(flatten(json.loads(line)))
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, spool)


__all__ = ["ExportWriter", "flatten", "part_path", "PART_SUFFIX"]
