"""A job's life as a sequence of durable steps, and what `--resume` does after
a crash between any two of them. This is the one place that orders them.

    step                                   made durable by                       journal
    1 initiated   Initiate answered        checkpoint written (token, request    RETRIEVING
                                           fingerprint, LastDateTime sent,
                                           watermark candidate)
    2 pages       pages appended           part file (and a sheet's ids file)    RETRIEVING
                                           fsynced, THEN checkpoint (next
                                           offset, bytes, records, the
                                           expectations' tally of them);
                                           a group commit every 250 ms
    3 complete    last page in, counts     part file fsynced (a spooled sheet:   COMPLETE
                  and ids checked          written beside it from the spool,
                                           fsynced), THEN checkpoint (records,
                                           TotalResults, tally, sha256 of the
                                           export's bytes)
    4 checked     `expect:`'s verdicts     checkpoint (verdicts); a failed one   COMPLETE
                                           stops the job here: the export stays
                                           under its ready name, no Commit, no
                                           watermark, until `segrun accept`
                                           (checkpoint: who accepted, when)
    5 committed   Commit sent              (the server's side; not by accept)    COMPLETE
    6 placed      the ready file renamed   rename + fsync of exports/ (a         COMPLETE
                  to the export's name     spooled sheet: the spool removed
                                           after)
    7 state       last_success: the        state file replaced atomically,       COMPLETE
                  watermark; every job:    once for each (each idempotent)
                  its result in its history
    8 reported    report.json says         report.json replaced atomically       COMPLETE
                  "succeeded"
    9 cleared     checkpoint removed       unlink + fsync of checkpoints/ (a     (none)
                                           sheet's ids file first)

The export file changes at steps 2 (the part file created, or cut back to the
checkpoint by a resume, then appended to), 3 (redone by a resume that finds a
spooled CSV's sheet lost) and 6, and only through its `JobExport`
(runner/run/outputs.py), which also keeps the checkpoint's fields that
describe the file and the ProfileIds already in it. What the part file holds
(the records, or only a sheet's cells) is that module's.

Crash before 1: no checkpoint, no report entry: the job runs afresh (an export
the server made for a lost Initiate answer expires unretrieved).
Crash in 2 or 3: the checkpoint names only fsynced pages; resume truncates the
part file to them and continues the token from the next offset (when every
page is already in, it fetches nothing), or, when the token is no longer
good, re-initiates with the LastDateTime the checkpoint recorded.
Expectations read each record as it is written, and the checkpoint keeps their
tally of the durable pages: a resume goes on from it, so a part file that holds
only a sheet's cells needs no records to be read again.
Crash after 3, before 9: resume finds COMPLETE and redoes 4 to 9 from the
checkpoint alone, never fetching again: the verdicts the checkpoint holds are
used as they are (else made again from its tally, or from the records of a
part file that holds them: the same answer);
the export's bytes are checked against the recorded sha256 wherever they are
(the ready file, the export's name, or a CSV written again from its spool,
which gives the same bytes); a Commit refused then is only a note; placing,
the watermark (the checkpoint's own value, so storing it twice is the same;
a result already in the history is not added again) and the report entry are
idempotent.
After 8: the report says "succeeded", and a job that succeeded is never run
again in that run directory, whatever `--only` says; a lingering checkpoint
(a crash between 8 and 9) is just removed.

Identity: the checkpoint carries a fingerprint of everything that decides what
the export holds and where it goes. A resume whose spec no longer matches
starts that job afresh (the old token is abandoned, its part file started
over) and says why in the report. A watermark's key is in runner/run/state.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runner.apifacts import timestamps
from runner.errors import JobFailure, SegrunError
from runner.http.client import CallFailed
from runner.jobspec.model import Job, Spec
from runner.records.report import JobResult
from runner.run.checkpoint import COMPLETE, Checkpoint, Checkpoints
from runner.run.expectations import (
    RecordCheck,
    Verdicts,
    check,
    earlier_from,
    needs_records,
)
from runner.run.outputs import RECORDS, JobExport, part_kind
from runner.run.plan import initiate_body
from runner.run.state import StateFile, StateLocked, watermark_fields, watermark_key
from runner.run.tabular import CsvStyle
from runner.system import durable

#: the fingerprint's parts, in the words a note uses when one differs
_PARTS = {
    "target": "the target (environment, base URL or endpoints)",
    "client_id": "the client id",
    "segment_group": "the segment group",
    "request": "the request (LastDateTime, match criteria, type or values)",
    "output": "the output (format, path, columns or how a CSV is written)",
    "watermark": "the watermark's identity (the spec's name or path, or the state file)",
}


def _digest(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(
    spec: Spec, job: Job, endpoints: Mapping[str, object], state_path: Path | None = None
) -> dict[str, str]:
    """Hashes (no values, no personal data) of what decides an export's content;
    `endpoints` is the map the run really uses (spec block, file or option). A
    last_success job's also covers where its watermark is kept (`state_path`),
    since finishing it stores one there."""
    last = job.last_datetime
    mark = ""
    if job.incremental and state_path is not None:
        mark = _digest(watermark_key(spec, job, state_path))
    return {
        "target": _digest([spec.environment, spec.base_url, endpoints]),
        "client_id": _digest(spec.client_id),
        "segment_group": _digest(job.segment_group),
        "request": _digest(
            [
                last if isinstance(last, str) or last is None else timestamps.to_wire(last),
                initiate_body(job, None),
            ]
        ),
        "output": _digest(
            [
                job.output_format,
                job.output_path,
                *([list(job.output_columns)] if job.output_columns else []),
                *([_sheet(job)] if job.output_format != "jsonl" else []),
            ]
        ),
        "watermark": mark,
    }


def _sheet(job: Job) -> dict[str, object]:
    """How a sheet's part file and cells are written: a checkpoint of another way is
    not resumed into this one."""
    sheet: dict[str, object] = {"part": part_kind(job.output_format, job.output_columns)}
    if job.output_format == "csv":
        sheet.update(escape_formulas=job.output_escape_formulas, bom=job.output_bom)
    return sheet


def _missing(job: Job, why: str) -> JobFailure:
    """A COMPLETE checkpoint whose export is no longer on disk as recorded."""
    return JobFailure(
        "resume",
        f"resume: {why}; delete checkpoints/{job.name}.json to export this job again",
    )


def _sheet_columns(job: Job) -> tuple[tuple[str, str], ...]:
    """The pinned columns an export's expectations watch: a sheet's; JSONL has none."""
    return job.output_columns if job.output_format != "jsonl" else ()


def differences(recorded: dict[str, str], now: dict[str, str]) -> list[str]:
    return [words for part, words in _PARTS.items() if recorded.get(part) != now.get(part)]


@dataclass
class Lifecycle:
    """The durable steps of a run's jobs. Every change to a job's checkpoint,
    export, watermark and report entry goes through here, in the order above;
    the export file itself only through its `JobExport` (runner/run/outputs.py)."""

    spec: Spec
    run_dir: Path
    checkpoints: Checkpoints
    state: StateFile | None
    #: writes the job's entry into report.json (durably)
    record: Callable[[JobResult], None]
    #: the endpoint map the run uses ({call: api.Endpoint}), spec block, file or option
    endpoints: Mapping[str, object] = field(default_factory=dict)
    #: each fresh export's expectations, fed its records as they were written (step 2)
    _reading: dict[str, RecordCheck] = field(default_factory=dict)

    def fingerprint(self, job: Job) -> dict[str, str]:
        state = self.state.path if self.state is not None else None
        return fingerprint(self.spec, job, self.endpoints, state)

    # -- resuming ------------------------------------------------------------------
    def keep(self, job: Job, earlier: JobResult) -> JobResult:
        """A job that succeeded in an earlier attempt at this run keeps its result."""
        if self.checkpoints.path(job.name).exists():
            self.checkpoints.clear(job.name)  # a crash between steps 8 and 9
        if earlier.fingerprint and earlier.fingerprint != self.fingerprint(job):
            changed = ", ".join(differences(earlier.fingerprint, self.fingerprint(job)))
            note = (
                f"kept from the earlier attempt, but the spec has changed since ({changed}): "
                "this export is of the spec as it was; start a new run for the new one"
            )
            if note not in earlier.notes:
                earlier.notes.append(note)
        return earlier

    def resume_point(self, job: Job) -> tuple[Checkpoint | None, list[str]]:
        """The checkpoint to go on from (None: afresh), and what to say about it."""
        checkpoint = self.checkpoints.load(job.name)
        if checkpoint is None:
            return None, []
        now = self.fingerprint(job)
        if checkpoint.fingerprint != now:
            changed = ", ".join(differences(checkpoint.fingerprint, now)) or "its identity"
            self.checkpoints.clear(job.name)  # the fresh export starts its part file over
            return None, [
                f"resume: the spec changed since this job was checkpointed ({changed}), so "
                f"token {checkpoint.access_token} was abandoned and the job started afresh"
            ]
        return checkpoint, []

    def reopen(self, job: Job, checkpoint: Checkpoint) -> tuple[JobExport | None, str]:
        """After a crash in step 2 or 3, while the token is good: the export from
        the checkpoint's last durable page on, its expectations from their tally of
        those pages; or None (start afresh), and why."""
        self._reading.pop(job.name, None)  # what it read before is not what the file now holds
        export = self.export_of(job)
        columns = _sheet_columns(job)
        checking = None
        if needs_records(job.expect, columns):
            checking = RecordCheck.resumed(
                job.expect, columns, checkpoint.reading, checkpoint.records
            )
            if checking is None and export.kind != RECORDS:  # its records are not on disk
                return None, (
                    "resume: expect: is not what it was at the checkpoint, and the partial "
                    "export holds only its columns, not the records to check again; re-initiated"
                )
        why = export.reopen(checkpoint)
        if why is not None:
            return None, why
        if checking is not None:
            self._reading[job.name] = export.check = checking
        return export, (
            f"resumed token {checkpoint.access_token} at offset {checkpoint.next_offset} "
            f"({checkpoint.records} records already on disk)"
        )

    # -- steps 1 to 3 ------------------------------------------------------------------
    def may_start(self, job: Job) -> None:
        """Before step 1: a complete export on disk is never exported over; only a
        report or a checkpoint of this run can say it is done, and here neither does."""
        if self.export_of(job).taken:
            raise JobFailure(
                "output",
                f"exports/{job.output_path} already exists, and neither report.json nor a "
                "checkpoint of this run says how it got there; move it away to export this "
                "job again",
            )

    def initiated(self, checkpoint: Checkpoint) -> None:
        self.checkpoints.save(checkpoint)

    def start_pages(self, job: Job, row_count: int) -> JobExport:
        """After step 1 and a Complete status: an empty part file for step 2. Its
        expectations read each record as it is written (step 4 then needs no second pass
        over a fresh export; a resumed one, partly written before, gets that pass)."""
        export = self.export_of(job)
        export.create(row_count)
        columns = _sheet_columns(job)
        if needs_records(job.expect, columns):
            self._reading[job.name] = export.check = RecordCheck(job.expect, columns)
        return export

    def pages_durable(self, export: JobExport, checkpoint: Checkpoint) -> None:
        """fsync the pages written so far, then (only then) checkpoint them."""
        export.sync(checkpoint)
        self.checkpoints.save(checkpoint)

    def complete(self, export: JobExport, checkpoint: Checkpoint, total: int) -> None:
        export.finish(checkpoint)
        checkpoint.total = total
        checkpoint.phase = COMPLETE
        self.checkpoints.save(checkpoint)

    # -- steps 4 to 9 ------------------------------------------------------------------
    def finish(
        self,
        job: Job,
        checkpoint: Checkpoint,
        result: JobResult,
        commit: Callable[[], None] | None,
        tally: Callable[[], None],
        *,
        resumed: bool,
    ) -> None:
        """From a COMPLETE checkpoint to a succeeded job, in order; every step
        can be redone after a crash with the same outcome. `commit` None: no
        Commit is sent (`segrun accept`, long after the export's token)."""
        export = self.export_of(job)
        if resumed:
            wrong = export.differs_from(checkpoint)
            if wrong is not None:
                raise _missing(job, wrong)
        self.checked(job, checkpoint, export, result)  # 4
        if commit is None:
            result.notes.append("accepted: no Commit sent; the server's copy expires on its own")
        elif resumed:
            try:
                commit()  # 5
            except CallFailed as e:  # any refusal: the data is whole on disk already
                result.notes.append(
                    f"resume: Commit of token {checkpoint.access_token} was refused ({e}); "
                    "the export was already complete on disk"
                )
        else:
            commit()  # 5
        export.place()  # 6
        result.sha256 = checkpoint.sha256
        result.output = str(export.final_path.relative_to(self.run_dir.resolve()))
        result.records, result.row_count = checkpoint.records, checkpoint.row_count
        result.access_token = checkpoint.access_token
        result.fingerprint = checkpoint.fingerprint
        result.accepted = checkpoint.accepted
        result.status = "succeeded"
        self._store_result(job, checkpoint, result)  # 7
        tally()  # the job's figures, final before its report entry
        self.record(result)  # 8
        self.checkpoints.clear(job.name)  # 9

    def checked(
        self, job: Job, checkpoint: Checkpoint, export: JobExport, result: JobResult
    ) -> None:
        """Step 4: the export against `expect:`, its verdicts made durable in the
        checkpoint; a failed one (severity error) fails the job before anything
        downstream sees the export, unless a person accepted it."""
        verdicts = Verdicts.from_json(checkpoint.expectations)
        if verdicts is None:
            verdicts = self._verdicts(job, checkpoint, export)
            checkpoint.expectations = verdicts.to_json()
            self.checkpoints.save(checkpoint)
        if verdicts.verdicts:
            result.expectations = verdicts.to_json()
        for verdict in verdicts.unmet:
            note = f"expectation not met: {verdict.expectation}: {verdict.detail}"
            if not verdicts.fails_the_job and note not in result.notes:
                result.notes.append(f"warning: {note}")
        if verdicts.fails_the_job and checkpoint.accepted is None:
            result.records, result.row_count = checkpoint.records, checkpoint.row_count
            kept = export.ready
            raise JobFailure(
                "expectation",
                f"{verdicts.summary()}; the export is kept aside as "
                f"{kept.relative_to(self.run_dir.resolve())}, not under its name",
            )

    def _verdicts(self, job: Job, checkpoint: Checkpoint, export: JobExport) -> Verdicts:
        earlier = None
        if job.expect.max_drop is not None and self.state is not None:
            earlier = earlier_from(self.state.history(self._key(job)))
        columns = _sheet_columns(job)
        if not needs_records(job.expect, columns):
            return check(job.expect, checkpoint.records, None, columns, earlier)
        aside = self._reading.pop(job.name, None)
        checked = (
            aside.finish()
            if aside is not None
            else RecordCheck.resumed(job.expect, columns, checkpoint.reading, checkpoint.records)
        )
        if checked is not None and checked.count == checkpoint.records:
            return check(job.expect, checkpoint.records, None, columns, earlier, checked)
        if export.kind != RECORDS:
            raise _missing(
                job,
                "expect: is not what it was when the export completed, and the sheet holds "
                "only its columns, not the records to check again",
            )
        with open(export.part_path, "rb") as lines:  # the records as JSONL
            return check(job.expect, checkpoint.records, lines, columns, earlier)

    def _store_result(self, job: Job, checkpoint: Checkpoint, result: JobResult) -> None:
        """Step 7: the watermark of a last_success job, and the job's result in its history
        (what the next run's `expect.max_drop` compares with)."""
        if self.state is None:
            return
        key = self._key(job)
        if job.incremental:
            fields = watermark_fields(self.spec, job, self.state.path)
            self.state.store(key, fields, timestamps.parse_wire(checkpoint.initiated_at))
        entry = {"records": checkpoint.records, "initiated": checkpoint.initiated_at}
        try:
            self.state.record_result(key, entry)
        except (StateLocked, SegrunError, OSError) as e:
            if job.incremental or job.expect.max_drop is not None:
                raise  # its state is part of what the job promises
            # a full job's history serves only later comparisons: a read-only or busy
            # state folder must not fail an export that is already placed
            result.notes.append(f"warning: its result was not added to the job's history ({e})")

    def _key(self, job: Job) -> str:
        assert self.state is not None
        return watermark_key(self.spec, job, self.state.path)

    def accept(self, job: Job, earlier: JobResult, who: str, when: str) -> JobResult:
        """`segrun accept`: a person looked at an export its expectations failed and takes
        it: who and when made durable in the checkpoint first, then steps 5 to 9 as a
        success (no Commit: its token is long gone). Redone after a crash, or again once
        done, it gives the same result."""
        if earlier.status == "succeeded":  # accepted already: the same result again
            if self.checkpoints.path(job.name).exists():
                self.checkpoints.clear(job.name)  # a crash between steps 8 and 9
            return earlier
        checkpoint = self.checkpoints.load(job.name)
        if checkpoint is None or checkpoint.phase != COMPLETE:
            raise SegrunError(
                f"job {job.name} has no complete export waiting in this run to accept "
                f"(its report says {earlier.status}: {earlier.error or 'no error'})"
            )
        now = self.fingerprint(job)
        if checkpoint.fingerprint != now:
            changed = ", ".join(differences(checkpoint.fingerprint, now)) or "its identity"
            raise SegrunError(
                f"job {job.name}: the spec or the state changed since this export was made "
                f"({changed}); accept it with the spec, --state and --endpoints of its run"
            )
        if checkpoint.accepted is None:
            checkpoint.accepted = {"by": who, "at": when}
            self.checkpoints.save(checkpoint)
        result = JobResult(job.name, job.segment_group, "failed", notes=list(earlier.notes))
        result.attempts, result.retries = earlier.attempts, earlier.retries
        result.duration_s = earlier.duration_s
        result.notes.append(
            f"accepted by {who} at {when} after review: {earlier.error or 'expectations'}"
        )
        self.finish(job, checkpoint, result, None, lambda: None, resumed=True)
        return result

    def stopped(self, export: JobExport, checkpoint: Checkpoint, result: JobResult) -> None:
        """A job stopped in step 2: the pages written so far made durable and
        checkpointed when the disk lets it (else the last good checkpoint stays),
        for --resume; the part file closed, never placed."""
        if not export.is_open:  # finished (step 3 closes it) or never opened
            return
        with contextlib.suppress(OSError):
            self.pages_durable(export, checkpoint)
        result.records = export.records
        export.abandon()
        if export.records:
            result.notes.append(f"partial export kept as {export.part_path.name}")

    def ended(self, result: JobResult) -> None:
        """A job that did not succeed: its report entry; its checkpoint stays for --resume."""
        self.record(result)

    # -- places ------------------------------------------------------------------------
    def export_of(self, job: Job) -> JobExport:
        """The job's export, under exports/ (nothing opened yet)."""
        final = self.exports_path(job.output_path)
        style = CsvStyle(job.output_escape_formulas, job.output_bom)
        return JobExport(
            final,
            job.output_format,
            job.output_columns,
            style=style,
            ids_path=self.checkpoints.ids_path(job.name),
        )

    def exports_path(self, relative: str) -> Path:
        """A file under exports/, its folders created without following a symlink."""
        rel = Path(relative)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts or rel.name in ("", "."):
            raise JobFailure("output", f"output path {relative!r} does not name a file in exports/")
        folder = durable.make_dirs(self.run_dir.resolve(), Path("exports", *rel.parts[:-1]))
        return folder / rel.name
