"""A job's export file, written by one object (`JobExport`), streamed, never half-written.

Records go to a temporary file beside the final one and are renamed into place
only when the job succeeds, so an export file that exists is complete.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from runner.apifacts.page import Page, record_id
from runner.errors import JobFailure
from runner.jobspec.names import PART_SUFFIX, RESERVED_SUFFIXES
from runner.run.checkpoint import Checkpoint
from runner.run.seen import SeenIds
from runner.run.tabular import Columns, flatten, write_csv, write_xlsx
from runner.system import durable as _durable


def part_path(final_path: Path) -> Path:
    """Where a job's export grows until it is complete (and what --resume reopens)."""
    return final_path.with_name(final_path.name + PART_SUFFIX)


class JobExport:
    """One job's export, and the only writer of it: the part file it grows in,
    the ProfileIds already in it (a server serving a record twice fails the job
    before the repeat is written), and the checkpoint's fields that describe the
    file (`part_bytes`, `records`, `sha256`). When each step happens, and what a
    resume does after a crash between two of them, is runner/run/lifecycle.py's.

    Records go in as JSONL. A CSV or xlsx export needs every column first, so
    its part file is a JSONL spool, turned into CSV or xlsx when it is complete.
    """

    def __init__(self, final_path: Path, fmt: str, columns: Columns = ()) -> None:
        self.final_path = final_path
        self.fmt = fmt
        self.columns = columns
        self.part_path = part_path(final_path)
        self.records = 0
        self._file: BinaryIO | None = None
        # Hashed as written, so a million-record export is not read back to hash it;
        # a resumed file was partly written by another process: hashed at the end.
        self._digest: hashlib._Hash | None = None
        self._seen = SeenIds()
        #: handed every line written, as it is written (expectations read the records
        #: while the next page is fetched: runner/run/expectations.py)
        self.reader: Callable[[bytes], None] | None = None

    @property
    def taken(self) -> bool:
        """Something already has the export's name (a complete export, or a link)."""
        return self.final_path.exists() or self.final_path.is_symlink()

    @property
    def is_open(self) -> bool:
        """Pages may still be added: created or reopened, not yet finished or abandoned."""
        return self._file is not None and not self._file.closed

    # -- the part file -----------------------------------------------------------------
    def create(self, expected: int) -> None:
        """A fresh, empty part file (whatever stood there goes), for an export of
        about `expected` records (its RowCount: what the ProfileId table is sized for)."""
        self._file = os.fdopen(_durable.open_new(self.part_path), "wb")
        self._digest = hashlib.sha256()
        self.records = 0
        self._seen = SeenIds(expected, self._reread)

    def reopen(self, checkpoint: Checkpoint) -> str | None:
        """Go on from the checkpoint's durable pages: the part file cut back to
        them (what was written after is dropped) and its ProfileIds read back.
        None when that is so; otherwise why not, and the job starts afresh."""
        part = self.part_path
        if part.is_symlink() or not part.exists() or part.stat().st_size < checkpoint.part_bytes:
            return "resume: the partial export is missing; re-initiated"
        fd = _durable.open_existing(part)
        with os.fdopen(fd, "r+b") as f:  # drop whatever was written after the last checkpoint
            f.truncate(checkpoint.part_bytes)
            _durable.fsync_file(f.fileno(), part.name)
        # The table may outgrow its size (MAX_EXPECTED) as it is filled: it then
        # rereads the ids added so far, not the whole file; a fingerprint match is
        # confirmed against the records before it is called a repeat.
        added = [0]

        def before() -> Iterator[tuple[int, object]]:
            return itertools.islice(profile_ids(part), added[0])

        seen = SeenIds(
            max(checkpoint.row_count or 0, checkpoint.records), lambda: (p for _, p in before())
        )
        on_disk = 0
        try:
            for on_disk, profile_id in profile_ids(part):  # noqa: B007 - counted below
                if on_disk > checkpoint.records:  # more than the checkpoint names
                    break
                if seen.first_repeat([profile_id], on_disk, before):
                    raise JobFailure(
                        "resume",
                        f"resume: {part.name} repeats ProfileId {profile_id!r} (record {on_disk})",
                    )
                added[0] = on_disk
        except (ValueError, RecursionError):  # not the JSONL segrun wrote: start over
            on_disk = -1
        if on_disk != checkpoint.records:
            return "resume: the partial export does not match its checkpoint; re-initiated"
        self._file = os.fdopen(_durable.open_existing(part), "r+b")
        self._file.seek(0, os.SEEK_END)
        self._digest = None
        self.records = checkpoint.records
        seen.reread = self._reread
        self._seen = seen
        return None

    def add_page(self, page: Page, first: int) -> None:
        """A page whose first record is record `first` of the export: its ProfileIds
        checked against every one before (a repeat fails the job, and nothing of
        the page is written), then its records, one JSONL line each: the server's
        own text of each record (runner/apifacts/page.py), never re-encoded."""
        repeat = self._seen.first_repeat(page.ids, first, self._written)
        if repeat is not None:
            record, earlier = repeat
            raise JobFailure(
                "server_lied",
                f"Retrieve at offset {first}: ProfileId {page.ids[record - first]!r} at record "
                f"{record} was already exported at record {earlier}",
            )
        write, digest, reader = self._writer().write, self._digest, self.reader
        for chunk in page.chunks():
            write(chunk)
            if digest is not None:
                digest.update(chunk)
            if reader is not None:
                reader(chunk)
        self.records += page.count

    def record_in(self, checkpoint: Checkpoint, next_offset: int) -> None:
        """The checkpoint's file fields for every page added so far, the last of
        which ended before `next_offset`: pushed to the OS, not yet durable (`sync`)."""
        checkpoint.part_bytes = self._flush()
        checkpoint.records, checkpoint.next_offset = self.records, next_offset

    def sync(self, checkpoint: Checkpoint) -> None:
        """The pages added so far on the disk; the checkpoint's size of them."""
        checkpoint.part_bytes = self._flush(durable=True)

    def finish(self, checkpoint: Checkpoint) -> None:
        """The last page is in: the part file closed, durable, and (CSV, xlsx) the
        sheet written beside it from its spool; the checkpoint's sha256 is of the
        bytes that become the export. Closed whatever happens here."""
        file, self._file = self._writer(), None
        try:
            self._flush(durable=True, file=file)
        finally:
            file.close()
        digest = self._digest.hexdigest() if self._digest else sha256_of(self.part_path)
        checkpoint.part_bytes = self.part_path.stat().st_size
        if self.fmt != "jsonl":
            digest = make_ready(self.final_path, self.fmt, self.columns)
        checkpoint.sha256 = digest
        checkpoint.records = self.records

    def abandon(self) -> None:
        """Close without placing: the final name never holds a partial export."""
        if self._file is not None and not self._file.closed:
            self._file.close()

    # -- the complete export -------------------------------------------------------------
    def differs_from(self, checkpoint: Checkpoint) -> str | None:
        """None when the export's bytes are exactly as recorded where placing will
        look for them (or already placed); a CSV lost before placing is written
        again from its spool. Otherwise what is wrong: never a guess."""
        fmt, final = self.fmt, self.final_path
        ready = ready_path(final, fmt)
        if ready.exists() and not ready.is_symlink():
            if sha256_of(ready) == checkpoint.sha256:
                return None
            if fmt == "jsonl":
                return f"{ready.name} has changed since it was complete"
        if final.exists() and not final.is_symlink() and sha256_of(final) == checkpoint.sha256:
            return None
        spool = self.part_path
        rewritten = fmt != "jsonl" and spool.exists() and make_ready(final, fmt, self.columns)
        if rewritten == checkpoint.sha256:
            return None
        return f"{final.name} is not in exports/ as it was completed"

    def place(self) -> None:
        """Give the ready file the export's name; the spool of a sheet goes."""
        ready = ready_path(self.final_path, self.fmt)
        if ready.exists():
            _durable.rename(ready, self.final_path)
        if self.fmt != "jsonl" and self.part_path.exists():
            _durable.unlink(self.part_path)

    # -- reading back ----------------------------------------------------------------
    def _writer(self) -> BinaryIO:
        if self._file is None:
            raise RuntimeError(f"{self.part_path.name} is not open for pages")
        return self._file

    def _flush(self, durable: bool = False, file: BinaryIO | None = None) -> int:
        """Push added records to the OS (and to the disk when `durable`); returns
        the part file's size, the point a resumed job truncates to."""
        file = file or self._writer()
        file.flush()
        if durable:
            _durable.fsync_file(file.fileno(), self.part_path.name)
        return file.tell()

    def _written(self) -> Iterator[tuple[int, object]]:
        """(record, ProfileId) of every record added so far, from the part file."""
        self._flush()
        return profile_ids(self.part_path)

    def _reread(self) -> Iterator[object]:
        """The ids added so far: what a table sized by a RowCount the server then
        outgrew is rebuilt from."""
        return (profile_id for _, profile_id in self._written())


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
    "JobExport",
    "flatten",
    "make_ready",
    "part_path",
    "profile_ids",
    "ready_path",
    "sha256_of",
    "PART_SUFFIX",
    "RESERVED_SUFFIXES",
]
