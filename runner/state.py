"""Watermarks of incremental jobs: `last_datetime: last_success`.

A small JSON file (by default `.segrun/state.json` beside the spec), rewritten
atomically, and locked for the length of a run so two runs cannot interleave;
the lock is an flock, so a killed run never leaves it stuck.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from runner import timestamps
from runner.errors import SegrunError
from runner.records.atomic import write_atomic
from runner.spec.model import Job, Spec

FORMAT = 1


class StateLocked(SegrunError):
    """Another run holds the state file (exit 2: nothing was sent)."""


def default_path(spec_path: Path) -> Path:
    return spec_path.resolve().parent / ".segrun" / "state.json"


def watermark_key(spec: Spec, job: Job) -> str:
    """client_id + segment group + a hash of the match fields: two jobs on one
    segment group with different criteria keep separate watermarks."""
    match = json.dumps(
        [job.match_criteria, job.match_type, list(job.values or ())], ensure_ascii=False
    )
    digest = hashlib.sha256(match.encode()).hexdigest()[:16]
    return f"{spec.client_id}/{job.segment_group}/{digest}"


def last_datetime_for(watermark: dt.datetime) -> dt.datetime:
    """The LastDateTime to send for a watermark: the latest one the server's
    millisecond rounding cannot push past it, so no record modified at the
    watermark itself is skipped."""
    candidate = watermark.replace(microsecond=watermark.microsecond // 1000 * 1000)
    while timestamps.effective(candidate) > watermark:
        candidate -= dt.timedelta(milliseconds=1)
    return candidate


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"format": FORMAT, "watermarks": {}}
        except (OSError, ValueError, RecursionError) as e:
            raise SegrunError(f"cannot read the state file {self.path}: {e}") from None
        if not isinstance(data, dict) or not isinstance(data.get("watermarks"), dict):
            raise SegrunError(f"{self.path} is not a segrun state file")
        return data

    def watermark(self, key: str) -> dt.datetime | None:
        entry = self.read()["watermarks"].get(key)
        if entry is None:
            return None
        try:
            return timestamps.parse_wire(entry["last_success"])
        except (KeyError, TypeError, ValueError, OverflowError):
            raise SegrunError(
                f"{self.path}: the watermark of {key!r} is not readable; "
                "fix it or clear it with `segrun state reset`"
            ) from None

    def store(self, key: str, job: Job, moment: dt.datetime) -> None:
        data = self.read()
        data["watermarks"][key] = {
            "job": job.name,
            "segment_group": job.segment_group,
            "last_success": timestamps.to_wire(moment),
            "stored": timestamps.to_wire(timestamps.utc_now()),
        }
        self._write(data)

    def reset(self, keys: list[str] | None) -> list[str]:
        """Forget these watermarks (all when None); returns the keys removed."""
        data = self.read()
        marks = data["watermarks"]
        removed = list(marks) if keys is None else [k for k in keys if k in marks]
        for key in removed:
            del marks[key]
        self._write(data)
        return removed

    def _write(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())

    @contextlib.contextmanager
    def locked(self, purpose: str) -> Iterator[None]:
        with hold_lock(self.lock_path, purpose):
            yield


@contextlib.contextmanager
def hold_lock(path: Path, purpose: str) -> Iterator[None]:
    """An exclusive lock naming its holder; a second taker is told who holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
            raise StateLocked(f"{path} is locked by {holder}; wait for it to finish") from None
        since = timestamps.to_wire(timestamps.utc_now())
        holder = f"pid {os.getpid()} on {socket.gethostname()} since {since} ({purpose})"
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock
