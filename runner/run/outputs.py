"""A job's export file, written by one object (`JobExport`), streamed, never half-written.

Records go to a temporary file beside the final one and are renamed into place
only when the job succeeds, so an export file that exists is complete.

The part file holds what the export will hold, and no more: JSONL's records as
received; a CSV with pinned columns (`output.columns`) is the CSV itself, written a
page at a time; an xlsx with pinned columns (a zip, written whole at the end) spools
each record's row of cells. Only a sheet of flattened records, whose header needs
every record first, spools the records themselves, which are then its content.
A sheet with pinned columns may not hold the ProfileIds that keep a resumed export
free of repeats, so they are kept beside its checkpoint (`checkpoints/<job>.ids`, one
JSON value a line) until the job is done.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from runner.apifacts.page import HugeNumber, Page, record_id
from runner.errors import JobFailure
from runner.jobspec.names import PART_SUFFIX, RESERVED_SUFFIXES
from runner.run.checkpoint import Checkpoint
from runner.run.expectations import RecordCheck
from runner.run.seen import SeenIds
from runner.run.tabular import (
    CSV_DEFAULTS,
    Columns,
    CsvRows,
    CsvStyle,
    Projection,
    decoded,
    flatten,
    integer,
    row_line,
    write_csv,
    write_xlsx,
)
from runner.system import durable as _durable

#: what a job's part file holds (`part_kind`)
RECORDS = "records"  # the records as received, JSONL: a JSONL export, or a flattened sheet's spool
CSV_ROWS = "csv"  # the CSV itself, a page at a time: a CSV with pinned columns
ROWS = "rows"  # each record's row of cells, JSONL: an xlsx with pinned columns


def part_kind(fmt: str, columns: Columns = ()) -> str:
    """What the part file of an export of this format and columns holds."""
    if fmt == "jsonl" or not columns:
        return RECORDS
    return CSV_ROWS if fmt == "csv" else ROWS


def part_path(final_path: Path) -> Path:
    """Where a job's export grows until it is complete (and what --resume reopens)."""
    return final_path.with_name(final_path.name + PART_SUFFIX)


class JobExport:
    """One job's export, and the only writer of it: the part file it grows in,
    the ProfileIds already in it (a server serving a record twice fails the job
    before the repeat is written), and the checkpoint's fields that describe the
    file (`part_bytes`, `records`, `sha256`, and the tally of its expectations,
    `reading`). When each step happens, and what a resume does after a crash
    between two of them, is runner/run/lifecycle.py's.

    What the part file holds is `kind` (the module's docstring): the export itself
    (JSONL; a CSV with pinned columns), or a spool written into the export when it is
    complete (xlsx; a flattened CSV). A part file without the records keeps their
    ProfileIds in `ids_path` (`id_line`), fsynced with it.
    """

    def __init__(
        self,
        final_path: Path,
        fmt: str,
        columns: Columns = (),
        *,
        style: CsvStyle = CSV_DEFAULTS,
        ids_path: Path | None = None,
    ) -> None:
        self.final_path = final_path
        self.fmt = fmt
        self.columns = columns
        self.style = style
        self.kind = part_kind(fmt, columns)
        self.part_path = part_path(final_path)
        if self.kind != RECORDS and ids_path is None:
            raise ValueError(f"a {fmt} export with columns keeps its ProfileIds in a file")
        self.ids_path = ids_path
        self.records = 0
        self._file: BinaryIO | None = None
        self._ids: BinaryIO | None = None
        # Hashed as written, so a million-record export is not read back to hash it;
        # a resumed file was partly written by another process: hashed at the end.
        self._digest: hashlib._Hash | None = None
        self._seen = SeenIds()
        self._projection = Projection(columns) if self.kind != RECORDS else None
        self._csv = CsvRows(style) if self.kind == CSV_ROWS else None
        #: the expectations that read records, handed the records' text as it is written
        #: (they read while the next page is fetched: runner/run/expectations.py)
        self.check: RecordCheck | None = None

    @property
    def streamed(self) -> bool:
        """The part file becomes the export itself (else a spool the export is written from)."""
        return self.fmt == "jsonl" or self.kind == CSV_ROWS

    @property
    def ready(self) -> Path:
        """The file whose bytes become the export: the part file itself when streamed;
        else the sheet written beside it from its spool."""
        return self.part_path if self.streamed else ready_path(self.final_path, self.fmt)

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
        """A fresh, empty part file (whatever stood there goes; a CSV's begins with its
        header), for an export of about `expected` records (its RowCount: what the
        ProfileId table is sized for)."""
        self._file = os.fdopen(_durable.open_new(self.part_path), "wb")
        if self.ids_path is not None and self.kind != RECORDS:
            self._ids = os.fdopen(_durable.open_new(self.ids_path), "wb")
        self._digest = hashlib.sha256()
        self.records = 0
        self._seen = SeenIds(expected, self._reread)
        if self._csv is not None and self._projection is not None:
            self._put(self._csv.head(self._projection.names))

    def reopen(self, checkpoint: Checkpoint) -> str | None:
        """Go on from the checkpoint's durable pages: the part file (and a sheet's ids
        file) cut back to them (what was written after is dropped) and its ProfileIds
        read back. None when that is so; otherwise why not, and the job starts afresh."""
        part = self.part_path
        if part.is_symlink() or not part.exists() or part.stat().st_size < checkpoint.part_bytes:
            return "resume: the partial export is missing; re-initiated"
        if self.kind != RECORDS and not _cut_after_lines(self.ids_path, checkpoint.records):
            return "resume: the ProfileIds of the partial export are missing; re-initiated"
        fd = _durable.open_existing(part)
        with os.fdopen(fd, "r+b") as f:  # drop whatever was written after the last checkpoint
            f.truncate(checkpoint.part_bytes)
            if not checkpoint.part_bytes and self._csv is not None and self._projection is not None:
                f.write(self._csv.head(self._projection.names))  # nothing durable: the header
            _durable.fsync_file(f.fileno(), part.name)
        if self.kind != RECORDS and self._rows_on_disk() != checkpoint.records:
            return "resume: the partial export does not match its checkpoint; re-initiated"
        on_file = self._ids_on_disk
        # The table may outgrow its size (MAX_EXPECTED) as it is filled: it then
        # rereads the ids added so far, not the whole file; a fingerprint match is
        # confirmed against the records before it is called a repeat.
        added = [0]

        def before() -> Iterator[tuple[int, object]]:
            return itertools.islice(on_file(), added[0])

        seen = SeenIds(
            max(checkpoint.row_count or 0, checkpoint.records), lambda: (p for _, p in before())
        )
        on_disk = 0
        try:
            for on_disk, profile_id in on_file():  # noqa: B007 - counted below
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
        if self.kind != RECORDS and self.ids_path is not None:
            self._ids = os.fdopen(_durable.open_existing(self.ids_path), "r+b")
            self._ids.seek(0, os.SEEK_END)
        self._digest = None
        self.records = checkpoint.records
        seen.reread = self._reread
        self._seen = seen
        return None

    def add_page(self, page: Page, first: int) -> None:
        """A page whose first record is record `first` of the export: its ProfileIds
        checked against every one before (a repeat fails the job, and nothing of
        the page is written), then its records, one JSONL line each: the server's
        own text of each record (runner/apifacts/page.py), never re-encoded; or, for
        a sheet with pinned columns, each record's row, and its ProfileId beside."""
        repeat = self._seen.first_repeat(page.ids, first, self._written)
        if repeat is not None:
            record, earlier = repeat
            raise JobFailure(
                "server_lied",
                f"Retrieve at offset {first}: ProfileId {page.ids[record - first]!r} at record "
                f"{record} was already exported at record {earlier}",
            )
        check = self.check
        for chunk in page.chunks():
            if check is not None:  # the records as the server sent them, whatever is kept
                check.feed(chunk)
            if self._projection is None:  # the records themselves
                self._put(chunk)
                continue
            rows = [self._projection.row(value) for value in decoded(chunk.split(b"\n"))]
            if self._csv is not None:
                self._put(self._csv.rows(rows))
            else:
                self._put(b"".join(map(row_line, rows)))
        if self._projection is not None:  # each record's ProfileId beside its row
            self._id_writer().write(b"".join(map(id_line, page.ids)))
        self.records += page.count

    def _put(self, data: bytes) -> None:
        self._writer().write(data)
        if self._digest is not None:
            self._digest.update(data)

    def record_in(self, checkpoint: Checkpoint, next_offset: int) -> None:
        """The checkpoint's file fields for every page added so far, the last of
        which ended before `next_offset`: pushed to the OS, not yet durable (`sync`)."""
        checkpoint.part_bytes = self._flush()
        checkpoint.records, checkpoint.next_offset = self.records, next_offset

    def sync(self, checkpoint: Checkpoint) -> None:
        """The pages added so far on the disk; the checkpoint's size of them, and what
        the expectations have read of them."""
        checkpoint.part_bytes = self._flush(durable=True)
        checkpoint.reading = self.check.tally() if self.check is not None else None

    def finish(self, checkpoint: Checkpoint) -> None:
        """The last page is in: the part file closed, durable, and (CSV, xlsx) the
        sheet written beside it from its spool; the checkpoint's sha256 is of the
        bytes that become the export. Closed whatever happens here."""
        file, self._file = self._writer(), None
        ids, self._ids = self._ids, None
        try:
            self._flush(durable=True, file=file, ids=ids)
        finally:
            file.close()
            if ids is not None:
                ids.close()
        digest = self._digest.hexdigest() if self._digest else sha256_of(self.part_path)
        checkpoint.part_bytes = self.part_path.stat().st_size
        if not self.streamed:
            digest = self.make_ready()
        checkpoint.sha256 = digest
        checkpoint.records = self.records
        checkpoint.reading = self.check.tally() if self.check is not None else None

    def abandon(self) -> None:
        """Close without placing: the final name never holds a partial export."""
        for file in (self._file, self._ids):
            if file is not None and not file.closed:
                file.close()

    # -- the complete export -------------------------------------------------------------
    def differs_from(self, checkpoint: Checkpoint) -> str | None:
        """None when the export's bytes are exactly as recorded where placing will
        look for them (or already placed); a CSV lost before placing is written
        again from its spool. Otherwise what is wrong: never a guess."""
        final, ready = self.final_path, self.ready
        if ready.exists() and not ready.is_symlink():
            if sha256_of(ready) == checkpoint.sha256:
                return None
            if self.streamed:
                return f"{ready.name} has changed since it was complete"
        if final.exists() and not final.is_symlink() and sha256_of(final) == checkpoint.sha256:
            return None
        spool = self.part_path
        rewritten = not self.streamed and spool.exists() and self.make_ready()
        if rewritten == checkpoint.sha256:
            return None
        return f"{final.name} is not in exports/ as it was completed"

    def place(self) -> None:
        """Give the ready file the export's name; the spool of a sheet goes."""
        ready = self.ready
        if ready.exists():
            _durable.rename(ready, self.final_path)
        if not self.streamed and self.part_path.exists():
            _durable.unlink(self.part_path)

    def make_ready(self) -> str:
        """Write a spooled sheet's final bytes beside it (runner/run/tabular.py), fsynced;
        returns their sha256. A CSV written again from the same spool has the same bytes
        (an xlsx does not: its zip keeps times)."""
        ready, spool = self.ready, self.part_path
        if self.fmt == "xlsx":
            write_xlsx(spool, ready, self.columns, projected=self.kind == ROWS)
        else:
            write_csv(spool, ready, self.columns, self.style)
        return sha256_of(ready)

    # -- reading back ----------------------------------------------------------------
    def _writer(self) -> BinaryIO:
        if self._file is None:
            raise RuntimeError(f"{self.part_path.name} is not open for pages")
        return self._file

    def _id_writer(self) -> BinaryIO:
        if self._ids is None:
            raise RuntimeError(f"the ProfileIds of {self.part_path.name} are not open")
        return self._ids

    def _ids_on_disk(self) -> Iterator[tuple[int, object]]:
        """(record, ProfileId) of the records written so far: from the part file, or (a
        sheet with pinned columns) from the ids file beside the checkpoint."""
        if self.kind == RECORDS:
            return profile_ids(self.part_path)
        assert self.ids_path is not None  # __init__ insists
        return sheet_ids(self.ids_path)

    def _rows_on_disk(self) -> int:
        """How many rows a sheet's part file holds (after a CSV's header): a resume
        checks them against its checkpoint."""
        if self.kind == ROWS:
            with open(self.part_path, "rb") as f:
                return sum(1 for _ in f)
        with open(self.part_path, newline="", encoding="utf-8-sig", errors="replace") as f:
            return max(sum(1 for _ in csv.reader(f)) - 1, 0)  # the header is no record

    def _flush(
        self, durable: bool = False, file: BinaryIO | None = None, ids: BinaryIO | None = None
    ) -> int:
        """Push added records (and their ids) to the OS, and to the disk when `durable`;
        returns the part file's size, the point a resumed job truncates to."""
        file = file or self._writer()
        ids = ids or self._ids
        file.flush()
        if ids is not None:
            ids.flush()
        if durable:
            _durable.fsync_file(file.fileno(), self.part_path.name)
            if ids is not None and self.ids_path is not None:
                _durable.fsync_file(ids.fileno(), self.ids_path.name)
        return file.tell()

    def _written(self) -> Iterator[tuple[int, object]]:
        """(record, ProfileId) of every record added so far, from the part file (or
        the ids beside it)."""
        self._flush()
        return self._ids_on_disk()

    def _reread(self) -> Iterator[object]:
        """The ids added so far: what a table sized by a RowCount the server then
        outgrew is rebuilt from."""
        return (profile_id for _, profile_id in self._written())


def ready_path(final: Path, fmt: str) -> Path:
    """Where a spooled sheet is written beside its export before it is placed."""
    return final.with_name(f"{final.name}.{fmt}-tmp")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def profile_ids(part: Path) -> Iterator[tuple[int, object]]:
    """(offset, ProfileId) of each record in a part file (or a sheet's ids file), from
    offset 1: what a resumed job had already written, and where a repeated id first came."""
    with open(part, "rb") as f:
        for offset, line in enumerate(f, start=1):
            yield offset, record_id(line)


def id_line(profile_id: object) -> bytes:
    """A ProfileId as a line of a sheet's ids file: `sheet_ids` reads it back as the same
    id, of the same type (1, 1.0, "1" and true stay four ids; a lone surrogate stays one,
    never joined to its neighbour; a nested id, which is never compared, is null)."""
    kind = type(profile_id)
    if kind is HugeNumber:
        text = profile_id.text  # type: ignore[attr-defined]
    elif kind is float and not math.isfinite(profile_id):  # type: ignore[arg-type]
        text = "1e400" if profile_id > 0 else "-1e400"  # type: ignore[operator]
    elif kind in (str, int, float, bool) or profile_id is None:
        text = json.dumps(profile_id, ensure_ascii=False)
    else:
        text = "null"
    return text.encode("utf-8", "surrogatepass") + b"\n"


_IDS = json.JSONDecoder(parse_int=integer)


def sheet_ids(path: Path) -> Iterator[tuple[int, object]]:
    """(record, ProfileId) of each line of a sheet's ids file (`id_line`), from 1."""
    with open(path, "rb") as f:
        for record, line in enumerate(f, start=1):
            yield record, _IDS.decode(line.decode("utf-8", "surrogatepass"))


def _cut_after_lines(path: Path | None, lines: int) -> bool:
    """Cut a file after its first `lines` lines (what a crash wrote after them goes);
    False when it is missing, a link, or holds fewer."""
    if path is None or path.is_symlink() or not path.exists():
        return False
    end = 0
    with open(path, "rb") as f:
        for _ in range(lines):
            line = f.readline()
            if not line.endswith(b"\n"):
                return False
            end += len(line)
    fd = _durable.open_existing(path)
    with os.fdopen(fd, "r+b") as f:
        f.truncate(end)
        _durable.fsync_file(f.fileno(), path.name)
    return True


__all__ = [
    "CSV_ROWS",
    "JobExport",
    "RECORDS",
    "ROWS",
    "flatten",
    "id_line",
    "part_kind",
    "sheet_ids",
    "part_path",
    "profile_ids",
    "ready_path",
    "sha256_of",
    "PART_SUFFIX",
    "RESERVED_SUFFIXES",
]
