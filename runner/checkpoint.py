"""A retrieving job's checkpoint: what is durably on disk, and where to go on.

Written (atomically) only after the pages it names are fsynced, so after a
crash `--resume` knows the export's token, the LastDateTime it was initiated
with, how many bytes of the part file are whole pages, and the next offset.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from runner import timestamps
from runner.records.atomic import write_atomic


@dataclass
class Checkpoint:
    job: str
    access_token: int
    last_datetime: str | None  # as sent, so a re-initiate sends the same parameters
    initiated_at: str  # when the Initiate that made this export was sent
    next_offset: int = 1
    records: int = 0
    part_bytes: int = 0
    row_count: int | None = None


class Checkpoints:
    def __init__(self, run_dir: Path) -> None:
        self.folder = Path(run_dir) / "checkpoints"

    def _path(self, job: str) -> Path:
        return self.folder / f"{job}.json"  # job names are file-safe by the spec's rules

    def save(self, checkpoint: Checkpoint) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self._path(checkpoint.job), json.dumps(asdict(checkpoint)).encode())

    def load(self, job: str) -> Checkpoint | None:
        try:
            checkpoint = Checkpoint(**json.loads(self._path(job).read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, RecursionError):
            return None  # a torn or foreign file: start the job afresh
        return checkpoint if _well_formed(checkpoint, job) else None

    def clear(self, job: str) -> None:
        self._path(job).unlink(missing_ok=True)


def _well_formed(c: Checkpoint, job: str) -> bool:
    """A checkpoint edited by hand into nonsense is treated as torn: the job starts afresh."""
    counts = (c.next_offset, c.records, c.part_bytes)
    return (
        c.job == job
        and type(c.access_token) is int
        and all(type(n) is int and n >= 0 for n in counts)
        and c.next_offset >= 1
        and isinstance(c.initiated_at, str)
        and (c.last_datetime is None or isinstance(c.last_datetime, str))
        and (c.row_count is None or type(c.row_count) is int)
        and _parses(c.initiated_at)
        and (c.last_datetime is None or _parses(c.last_datetime))
    )


def _parses(text: str) -> bool:
    try:
        timestamps.parse_wire(text)
    except (ValueError, TypeError, OverflowError):
        return False
    return True
