"""Writing a job's records to its export file, streamed, never half-written.

Records go to a temporary file beside the final one and are renamed into place
only when the job succeeds, so an export file that exists is complete.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from runner.apifacts.page import Page, record_id
from runner.jobspec.names import PART_SUFFIX, RESERVED_SUFFIXES
from runner.run.tabular import Columns, flatten, write_csv, write_xlsx
from runner.system import durable as _durable


def part_path(final_path: Path) -> Path:
    """Where a job's export grows until it is complete (and what --resume reopens)."""
    return final_path.with_name(final_path.name + PART_SUFFIX)


class ExportWriter:
    """Records as they arrive, as JSONL, into the part file. A CSV or xlsx export
    needs every column first, so its part file is a JSONL spool, turned into CSV
    or xlsx when the export is placed."""

    def __init__(self, final_path: Path, fmt: str, *, append: bool = False) -> None:
        self.final_path = final_path
        self.fmt = fmt
        self.part_path = part_path(final_path)
        fd = (_durable.open_existing if append else _durable.open_new)(self.part_path)
        self._file: BinaryIO = os.fdopen(fd, "r+b" if append else "wb")
        if append:
            self._file.seek(0, os.SEEK_END)
        self.records = 0
        # Hashed as written, so a million-record export is not read back to hash it;
        # a resumed file was partly written by another process: hashed at the end.
        self._digest = None if append else hashlib.sha256()

    def write_page(self, page: Page) -> None:
        """A page's records, one JSONL line each: the server's own text of each
        record (runner/apifacts/page.py), never re-encoded, written a chunk at a time."""
        write, digest = self._file.write, self._digest
        for chunk in page.chunks():
            write(chunk)
            if digest is not None:
                digest.update(chunk)
        self.records += page.count

    def flush(self, durable: bool = False) -> int:
        """Push written records to the OS (and to the disk when `durable`);
        returns the part file's size, the point a resumed job truncates to."""
        self._file.flush()
        if durable:
            _durable.fsync_file(self._file.fileno(), self.part_path.name)
        return self._file.tell()

    def finish(self) -> str:
        """Close the complete part file, durable; returns its sha256."""
        self.flush(durable=True)
        self._file.close()
        return self._digest.hexdigest() if self._digest else sha256_of(self.part_path)

    def abandon(self) -> None:
        """Close without placing: the final name never holds a partial export."""
        if not self._file.closed:
            self._file.close()


def ready_path(final: Path, fmt: str) -> Path:
    """The file whose bytes become the export: the part file itself for JSONL;
    for CSV and xlsx, the sheet written beside it from the part file's JSONL spool."""
    return part_path(final) if fmt == "jsonl" else final.with_name(f"{final.name}.{fmt}-tmp")


def make_ready(final: Path, fmt: str, columns: Columns = ()) -> str:
    """Write the export's final bytes beside it (CSV, xlsx: from the spool,
    runner/run/tabular.py), fsynced; returns their sha256. A CSV written again
    from the same spool has the same bytes (an xlsx does not: its zip keeps
    times)."""
    if fmt == "jsonl":
        return sha256_of(part_path(final))
    ready = ready_path(final, fmt)
    (write_xlsx if fmt == "xlsx" else write_csv)(part_path(final), ready, columns)
    return sha256_of(ready)


def place(final: Path, fmt: str) -> None:
    """Give the ready file the export's name; the spool of a sheet goes."""
    ready = ready_path(final, fmt)
    if ready.exists():
        _durable.rename(ready, final)
    if fmt != "jsonl" and part_path(final).exists():
        _durable.unlink(part_path(final))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def profile_ids(part: Path) -> Iterator[tuple[int, object]]:
    """(offset, ProfileId) of each record in a part file, from offset 1: what
    a resumed job had already written, and where a repeated id first came."""
    with open(part, "rb") as f:
        for offset, line in enumerate(f, start=1):
            yield offset, record_id(line)


__all__ = [
    "ExportWriter",
    "flatten",
    "make_ready",
    "part_path",
    "place",
    "profile_ids",
    "ready_path",
    "sha256_of",
    "PART_SUFFIX",
    "RESERVED_SUFFIXES",
]
