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
import threading
from collections.abc import Iterator
from pathlib import Path

from runner.apifacts import timestamps
from runner.errors import SegrunError, missing_folder
from runner.jobspec.model import Job, Spec
from runner.system import durable, strict_json
from runner.system.atomic import write_atomic
from runner.system.numbers import MAX_COUNT

#: format 1 keyed watermarks by client id and segment group only, so a sandbox
#: rehearsal's watermark was used by production: its entries are ignored.
FORMAT = 2
#: successful results kept per job (`history`), newest last: what `expect.max_drop`
#: compares with and `segrun state show` prints
HISTORY_KEPT = 10


class StateLocked(SegrunError):
    """Another run holds the state file (exit 2: nothing was sent)."""


def default_path(spec_path: Path) -> Path:
    return spec_path.resolve().parent / ".segrun" / "state.json"


def state_path(spec_path: Path, given: Path | None) -> Path:
    """The state file of a run: the one `--state` names, whose folder must exist, or the
    default beside the spec. A mistyped or unmounted `--state` folder created on the spot
    would hold no watermark, and every incremental job would silently export everything."""
    if given is None:
        return default_path(spec_path)
    folder = Path(given).parent
    if not folder.is_dir():
        raise SegrunError(
            f"--state {given}: {missing_folder(folder)}: a new state file would hold no watermark"
        )
    if Path(given).exists() and not Path(given).is_file():
        # /dev/null or a FIFO: segrun would put its lock file beside it (in /dev)
        raise SegrunError(f"--state {given}: not a regular file; give a state file's path")
    return Path(given)


def spec_identity(spec: Spec, state_path: Path) -> str:
    """Which spec a watermark belongs to: its top-level `name:`, or its path
    relative to the state file's folder (two specs in one folder differ)."""
    if spec.declared_name:
        return f"name:{spec.declared_name}"
    # "path:" keeps a file literally called "name:x" apart from a spec named x
    return "path:" + os.path.relpath(spec.path.resolve(), Path(state_path).resolve().parent)


def watermark_fields(spec: Spec, job: Job, state_path: Path) -> dict[str, str]:
    """Everything a watermark is only valid for: the target it was taken
    against, the account, the spec, the job, and what the job asks for. A
    watermark of any other combination would make the next run skip records."""
    match = json.dumps(
        [job.match_criteria, job.match_type, list(job.values or ())], ensure_ascii=False
    )
    return {
        "environment": spec.environment,
        "base_url": spec.base_url or "",
        "client_id": spec.client_id,
        "spec": spec_identity(spec, state_path),
        "job": job.name,
        "segment_group": job.segment_group,
        "match": hashlib.sha256(match.encode()).hexdigest()[:16],
    }


def watermark_key(spec: Spec, job: Job, state_path: Path) -> str:
    return json.dumps(list(watermark_fields(spec, job, state_path).values()), ensure_ascii=False)


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
        #: what reading the file had to say (e.g. entries of an older format ignored)
        self.notes: list[str] = []
        #: jobs in flight (--jobs) store at once: each read-change-write is whole
        self._changing = threading.Lock()
        #: this run holds the state's lock for its whole length (it has last_success jobs)
        self._held = False

    def read(self) -> dict:
        try:
            data = strict_json.loads(durable.read_back(self.path, follow=True))
        except FileNotFoundError:
            return {"format": FORMAT, "watermarks": {}, "history": {}}
        except (OSError, ValueError, RecursionError) as e:
            raise SegrunError(f"cannot read the state file {self.path}: {e}") from None
        if not isinstance(data, dict) or not isinstance(data.get("watermarks"), dict):
            raise SegrunError(f"{self.path} is not a segrun state file; move it away")
        if data.get("format") != FORMAT:
            if isinstance(data.get("format"), int) and data["format"] > FORMAT:
                raise SegrunError(f"{self.path} was written by a newer segrun")
            note = (
                f"{self.path}: watermarks of an older segrun (format {data.get('format')}) "
                "do not say which target and spec they belong to, so they are ignored: "
                "the next run of each last_success job is a full export"
            )
            if note not in self.notes:
                self.notes.append(note)
            return {"format": FORMAT, "watermarks": {}, "history": {}}
        for key, entry in data["watermarks"].items():
            if not _valid_entry(entry):
                raise SegrunError(f"{self.path}: watermark {key} is malformed; move the file away")
        history = data.setdefault("history", {})
        if not isinstance(history, dict) or not all(
            isinstance(entries, list) and all(map(_valid_result, entries))
            for entries in history.values()
        ):
            raise SegrunError(f"{self.path}: its job history is malformed; move the file away")
        return data

    def history(self, key: str) -> list[dict]:
        """A job's recent successful results, newest last (empty when none)."""
        return list(self.read()["history"].get(key, []))

    def record_result(self, key: str, result: dict) -> None:
        """Append a job's successful result to its history, kept to the last few. A run that
        does not hold the state's lock (no last_success job) takes it for this write alone,
        and is told (StateLocked) rather than made to wait when another run holds it."""
        with contextlib.ExitStack() as held:
            if not self._held:
                held.enter_context(self._lock("recording a job's result"))
            with self._changing:
                data = self.read()
                earlier = data["history"].get(key, [])
                if result in earlier:
                    return  # recorded already: a resume redoing this step stores it once
                data["history"][key] = [*earlier, result][-HISTORY_KEPT:]
                self._write(data)

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

    def entries(self, spec: str) -> dict[str, dict]:
        """The watermarks of one spec (its identity), by key."""
        return {k: e for k, e in self.read()["watermarks"].items() if e.get("spec") == spec}

    def store(self, key: str, fields: dict[str, str], moment: dt.datetime) -> None:
        with self._changing:
            data = self.read()
            data["watermarks"][key] = {
                **fields,
                "last_success": timestamps.to_wire(moment),
                "stored": timestamps.to_wire(timestamps.utc_now()),
            }
            self._write(data)

    def reset(self, keys: list[str]) -> list[str]:
        """Forget these watermarks; returns the keys removed."""
        with self._changing:
            data = self.read()
            marks = data["watermarks"]
            removed = [k for k in keys if k in marks]
            for key in removed:
                del marks[key]
            if removed:
                self._write(data)
            return removed

    def _write(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = strict_json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        write_atomic(self.path, text.encode())

    @contextlib.contextmanager
    def locked(self, purpose: str) -> Iterator[None]:
        with self._lock(purpose):
            self._held = True
            try:
                yield
            finally:
                self._held = False

    @contextlib.contextmanager
    def _lock(self, purpose: str) -> Iterator[None]:
        """The state's lock; every write of the state is made under it, so what a
        crashed atomic write left (`.state.json.*.tmp`) is no live writer's, and goes."""
        with hold_lock(self.lock_path, purpose):
            durable.remove_stale_temporaries(self.path.parent, durable.temporary_of(self.path))
            yield


def _valid_entry(entry: object) -> bool:
    """What segrun writes: string fields, and a watermark the next run can use
    (one so early or late that no LastDateTime can be derived is not)."""
    if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
        return False
    try:
        last_datetime_for(timestamps.parse_wire(entry["last_success"]))
        timestamps.parse_wire(entry["stored"])
    except (KeyError, ValueError, TypeError, OverflowError):
        return False
    return True


def _valid_result(entry: object) -> bool:
    """A history entry as segrun writes it: a record count and the Initiate's time."""
    if not isinstance(entry, dict):
        return False
    records = entry.get("records")
    if not isinstance(records, int) or isinstance(records, bool) or not 0 <= records <= MAX_COUNT:
        return False
    try:
        timestamps.parse_wire(entry["initiated"])
    except (KeyError, ValueError, TypeError, OverflowError):
        return False
    return True


#: how many times a lock is tried again when the file was removed as it was taken
_LOCK_TRIES = 50


@contextlib.contextmanager
def hold_lock(path: Path, purpose: str) -> Iterator[None]:
    """An exclusive lock naming its holder; a second taker is told who holds it.

    The lock file goes when the lock does, and so do the folders made for it,
    so nothing is left behind once it is released, nor by a start it refused.
    It is removed while still held: a process that opened it meanwhile finds,
    once its flock succeeds, that the name no longer points at the file it
    locked (`durable.same_file`), and takes the file now there instead (git's
    lockfile.c removes its lock on release for the same reason). A lock file is
    written in place, so it must be a file of segrun's own (no symlink, no
    other hard link: runner/system/durable.py)."""
    made: list[Path] = []
    fd = -1
    try:
        for _ in range(_LOCK_TRIES):
            made += _make_parents(path.parent)
            try:
                fd = durable.open_lock(path)
            except FileNotFoundError:  # its folder went with another holder's lock
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 4096, 0).decode(errors="replace").strip()
                os.close(fd)
                fd = -1
                raise StateLocked(
                    f"{path} is locked by {holder or 'another process'}; wait for it to finish"
                ) from None
            if durable.same_file(fd, path):
                break
            os.close(fd)  # released and removed as we took it: lock the file there now
            fd = -1
        else:
            raise StateLocked(f"{path} kept being replaced while segrun tried to lock it")
        since = timestamps.to_wire(timestamps.utc_now())
        holder = f"pid {os.getpid()} on {socket.gethostname()} since {since} ({purpose})"
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        yield
    finally:
        if fd >= 0:
            with contextlib.suppress(OSError):
                durable.remove_lock(fd, path)
            os.close(fd)  # closing releases the flock
        for folder in reversed(made):
            durable.remove_folder_if_empty(folder)


def _make_parents(folder: Path) -> list[Path]:
    """The folders missing above a lock file, made, outermost first."""
    missing: list[Path] = []
    while not folder.exists() and not folder.is_symlink() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    return [f for f in reversed(missing) if durable.make_folder(f)]
