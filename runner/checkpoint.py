"""A retrieving job's checkpoint: what is durably on disk, and where to go on.

Written (atomically) after each page is flushed and fsynced, so after a crash
`--resume` knows the export's token, the LastDateTime it was initiated with,
how many bytes of the part file are whole pages, and the next offset.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

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
            return Checkpoint(**json.loads(self._path(job).read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):
            return None  # a torn or foreign file: start the job afresh

    def clear(self, job: str) -> None:
        self._path(job).unlink(missing_ok=True)


class Durability:
    """Makes written pages durable and checkpoints them, off the fetch path.

    The fetch loop hands over (file, checkpoint) after each page; a thread
    fdatasyncs the part file and only then saves the checkpoint, so a checkpoint
    never names bytes that a power loss could take back. If the thread falls
    behind it skips to the latest page (one fdatasync covers every earlier
    write). `drain()` waits until the last page handed over is checkpointed.
    """

    def __init__(self, checkpoints: Checkpoints) -> None:
        self.checkpoints = checkpoints
        self._cond = threading.Condition()
        self._pending: tuple[int, Checkpoint] | None = None
        self._busy = False
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="segrun-durability", daemon=True)
        self._thread.start()

    def submit(self, fileno: int, checkpoint: Checkpoint) -> None:
        with self._cond:
            self._raise()
            self._pending = (fileno, dataclasses.replace(checkpoint))
            self._cond.notify_all()

    def drain(self) -> None:
        with self._cond:
            while self._pending is not None or self._busy:
                self._cond.wait()
            self._raise()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _work(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._pending is None:
                    return
                (fileno, checkpoint), self._pending = self._pending, None
                self._busy = True
            try:
                os.fdatasync(fileno)
                self.checkpoints.save(checkpoint)
            except BaseException as e:  # handed to the fetch loop at its next call
                self._error = e
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
