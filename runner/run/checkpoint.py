"""A job's checkpoint: its journal, naming the last durable step it reached.

The steps themselves, and what `--resume` does after a crash between any two
of them, are written down once, in runner/run/lifecycle.py. This module only
stores and reads the record, strictly: a checkpoint that is not exactly what
segrun writes is refused with a message (exit 2), never guessed at.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from runner.apifacts import timestamps
from runner.errors import SegrunError
from runner.run.expectations import tally_problem
from runner.system import durable, strict_json
from runner.system.numbers import MAX_COUNT

#: the checkpoint's phases, in the order a job passes them
RETRIEVING = "retrieving"  # token known; pages up to part_bytes are durable
COMPLETE = "complete"  # every record durable in the part file, reconciled, sha256 known
PHASES = (RETRIEVING, COMPLETE)

JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class CheckpointUnreadable(SegrunError):
    """A checkpoint file that segrun did not write (torn by hand, or foreign)."""


@dataclass
class Checkpoint:
    job: str
    access_token: int
    last_datetime: str | None  # as sent, so a re-initiate sends the same parameters
    initiated_at: str  # the watermark candidate: when (server time) the Initiate was sent
    fingerprint: dict[str, str] = field(default_factory=dict)
    phase: str = RETRIEVING
    next_offset: int = 1
    records: int = 0
    part_bytes: int = 0
    row_count: int | None = None
    total: int | None = None  # TotalResults, once the last page is in
    sha256: str | None = None  # of the finished export, once COMPLETE
    #: the export's expectations' verdicts (runner/run/expectations.py), once checked
    expectations: dict | None = None
    #: what the expectations that read records have read of the `records` on disk (their
    #: tally: counts, record numbers, field names), so a resume need not read them again
    reading: dict | None = None
    #: who placed an export whose expectations failed, and when (`segrun accept`)
    accepted: dict | None = None

    def check(self) -> None:
        """Raise ValueError unless every field has the type and range segrun writes."""
        ints = {
            "access_token": self.access_token,
            "next_offset": self.next_offset,
            "records": self.records,
            "part_bytes": self.part_bytes,
        }
        for name, value in ints.items():
            if type(value) is not int or value < 0:
                raise ValueError(f"{name} is not a non-negative integer")
            if name != "access_token" and value > MAX_COUNT:  # the loader bounds the token
                raise ValueError(f"{name} is beyond any count segrun writes")
        for name in ("row_count", "total"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or not 0 <= value <= MAX_COUNT):
                raise ValueError(f"{name} is not a non-negative integer segrun could write")
        if not isinstance(self.job, str) or not JOB_NAME.match(self.job):
            raise ValueError("job is not a job name")
        if self.phase not in PHASES:
            raise ValueError(f"unknown phase {self.phase!r}")
        if self.phase == COMPLETE and not (
            isinstance(self.sha256, str) and re.fullmatch(r"[0-9a-f]{64}", self.sha256)
        ):
            raise ValueError("a complete checkpoint without a sha256")
        timestamps.parse_wire(self.initiated_at)  # a TimestampError is a ValueError
        if self.last_datetime is not None:
            timestamps.parse_wire(self.last_datetime)
        for name in ("expectations", "accepted", "reading"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, dict):
                raise ValueError(f"{name} is not an object")
        if self.reading is not None:
            problem = tally_problem(self.reading)
            if problem:
                raise ValueError(f"reading: {problem}")
        if self.accepted is not None and not all(
            isinstance(v, str) for v in self.accepted.values()
        ):
            raise ValueError("accepted is not an object of strings")
        if not isinstance(self.fingerprint, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.fingerprint.items()
        ):
            raise ValueError("malformed fingerprint")


class Checkpoints:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.folder = self.run_dir / "checkpoints"

    def path(self, job: str) -> Path:
        return self.folder / f"{job}.json"  # job names are file-safe by the spec's rules

    def ids_path(self, job: str) -> Path:
        """The ProfileIds a sheet with pinned columns has written, kept with its checkpoint
        (runner/run/outputs.py): its export may not hold them."""
        return self.folder / f"{job}.ids"

    def save(self, checkpoint: Checkpoint) -> None:
        durable.make_dirs(self.run_dir, Path("checkpoints"))
        durable.write_atomic(
            self.path(checkpoint.job), strict_json.dumps(asdict(checkpoint)).encode()
        )

    def load(self, job: str) -> Checkpoint | None:
        path = self.path(job)
        try:
            text = durable.read_back(path)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise CheckpointUnreadable(f"cannot read {path}: {e}") from None
        try:
            data = strict_json.loads(text)
            if not isinstance(data, dict) or set(data) - {f.name for f in fields(Checkpoint)}:
                raise ValueError("not a checkpoint")
            checkpoint = Checkpoint(**data)
            checkpoint.check()
            if checkpoint.job != job:
                raise ValueError(f"it names job {checkpoint.job!r}")
        except (ValueError, TypeError, OverflowError, RecursionError) as e:
            raise CheckpointUnreadable(
                f"{path} is not a checkpoint segrun wrote ({e}); delete it to run job "
                f"{job!r} from the start"
            ) from None
        return checkpoint

    def clear(self, job: str) -> None:
        """The job's checkpoint gone, its ids file first: a crash between the two leaves
        the checkpoint, which whatever comes next clears again."""
        ids = self.ids_path(job)
        if ids.exists() or ids.is_symlink():
            durable.unlink(ids)
        durable.unlink(self.path(job))
