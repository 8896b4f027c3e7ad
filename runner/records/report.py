"""`report.json`: what each job of a run did, and the run's exit code.

Like black's `Report`, the report owns the exit code, so the CLI, the JUnit
file and a resumed run all derive it from the same facts. It is written
atomically because `--resume` reads it back to know what is left to do.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from runner import exitcodes
from runner.redaction.sink import Sink, current
from runner.system import strict_json
from runner.system.durable import read_back
from runner.system.numbers import MAX_COUNT, MAX_INTEGER, MAX_SECONDS, number_problem

JobStatus = Literal["succeeded", "failed", "skipped", "interrupted"]
#: "running" until the run settles: a report left so was cut short by a crash
RunStatus = Literal["running", "succeeded", "failed", "interrupted"]

FORMAT = 1
#: later wins: one interrupted job makes the run interrupted, whatever failed
_PRECEDENCE: tuple[RunStatus, ...] = ("succeeded", "failed", "interrupted")
_EXIT_CODES = {
    "succeeded": exitcodes.OK,
    "failed": exitcodes.JOB_FAILED,
    "interrupted": exitcodes.INTERRUPTED,
}


@dataclass
class JobResult:
    name: str
    segment_group: str
    status: JobStatus
    access_token: int | None = None
    records: int = 0
    row_count: int | None = None
    output: str | None = None
    sha256: str | None = None
    attempts: int = 0
    retries: int = 0
    duration_s: float = 0.0
    error: str | None = None
    #: what kind of failure `error` is (runner/errors.py FailureKind): what advice and
    #: anything reacting to a failure key on; None for a job that did not fail
    kind: str | None = None
    notes: list[str] = field(default_factory=list)
    #: hashes of what decided the export (runner/run/lifecycle.py), to notice a changed spec
    fingerprint: dict[str, str] | None = None
    #: `expect:`'s verdicts ({"severity", "verdicts": [{expectation, met, detail}]})
    expectations: dict | None = None
    #: who placed this export although an expectation failed, and when (`segrun accept`)
    accepted: dict | None = None

    def __post_init__(self) -> None:
        if self.status not in get_args(JobStatus):
            raise ValueError(f"job {self.name!r}: unknown status {self.status!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobResult:
        # Unknown keys are dropped so an older segrun can still resume a newer report.
        names = {f.name for f in dataclasses.fields(cls)}
        for name, kinds in _JOB_TYPES.items():
            _expect(data, name, kinds, required=name in ("name", "segment_group", "status"))
        mark = data.get("fingerprint")
        if mark is not None and not (
            isinstance(mark, dict) and all(isinstance(v, str) for v in mark.values())
        ):
            raise ValueError("job fingerprint should be an object of strings")
        notes = data.get("notes", [])
        if not all(isinstance(n, str) for n in notes):
            raise ValueError("job notes should be strings")
        for name, high in _JOB_RANGES.items():
            value = data.get(name)
            problem = None if value is None else number_problem(value, low=0, high=high)
            if problem:
                raise ValueError(f"job {name} {problem}")
        return cls(**{k: v for k, v in data.items() if k in names})


_OPTIONAL_INT = (int, type(None))
_OPTIONAL_STR = (str, type(None))
_JOB_TYPES: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "segment_group": str,
    "status": str,
    "access_token": _OPTIONAL_INT,
    "records": int,
    "row_count": _OPTIONAL_INT,
    "output": _OPTIONAL_STR,
    "sha256": _OPTIONAL_STR,
    "attempts": int,
    "retries": int,
    "duration_s": (int, float),
    "error": _OPTIONAL_STR,
    "kind": _OPTIONAL_STR,
    "notes": list,
    "expectations": (dict, type(None)),
    "accepted": (dict, type(None)),
}


#: the numbers of a job's entry and the most each can be: what a summary, JUnit and
#: report.html compute with must not overflow (a duration of 1e300 s has no timedelta)
_JOB_RANGES: dict[str, float] = {
    "access_token": MAX_INTEGER,
    "records": MAX_COUNT,
    "row_count": MAX_COUNT,
    "attempts": MAX_COUNT,
    "retries": MAX_COUNT,
    "duration_s": MAX_SECONDS,
}


def _is_moment(text: str) -> bool:
    """An ISO 8601 time with its zone, as segrun writes `started` and `finished`: the
    run's length is their difference, which a zone-less one cannot be subtracted in."""
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def _expect(data: dict, key: str, kinds, *, required: bool = True) -> None:
    if key not in data:
        if required:
            raise ValueError(f"{key} is missing")
        return
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ValueError(f"{key} has the wrong type: {value!r:.60}")


@dataclass
class RunReport:
    status: RunStatus
    started: str  # ISO 8601 UTC
    finished: str | None
    spec: str
    jobs: list[JobResult] = field(default_factory=list)
    #: the state file the run read and moved (its watermarks and history): where
    #: `segrun accept` moves them too
    state: str | None = None

    def __post_init__(self) -> None:
        if self.status not in get_args(RunStatus):
            raise ValueError(f"unknown run status {self.status!r}")

    @property
    def exit_code(self) -> int:
        """130 if interrupted, else 1 if any job failed, else 0 (skips are choices).

        Interruption wins: the user stopped the run, and CI should see that
        rather than a failure that may be a consequence of it.
        """
        own = self.status if self.status in _PRECEDENCE else "succeeded"
        worst = max(own, self._jobs_outcome(), key=_PRECEDENCE.index)
        return _EXIT_CODES[worst]

    def settle(self, finished: str) -> None:
        """Close the report: the run's status follows from its jobs, by the same
        precedence as the exit code."""
        self.finished = finished
        self.status = self._jobs_outcome()

    def abandon(self, finished: str, status: RunStatus) -> None:
        """Close a report the run could not finish (a disk error, a second Ctrl-C):
        never left saying "running", nor better than its jobs."""
        self.finished = finished
        self.status = max(status, self._jobs_outcome(), key=_PRECEDENCE.index)

    def _jobs_outcome(self) -> RunStatus:
        statuses = {job.status for job in self.jobs}
        return next((s for s in reversed(_PRECEDENCE) if s in statuses), "succeeded")

    def count(self, status: JobStatus) -> int:
        return sum(1 for job in self.jobs if job.status == status)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **dataclasses.asdict(self)}

    def to_json(self, sink: Sink | None = None) -> str:
        """The report as written: through the sink, so no secret in an error
        message (an echoed header, a server's Message) reaches the file."""
        sink = sink or current()
        return sink.json(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def write(self, path: str | os.PathLike[str], sink: Sink | None = None) -> None:
        """Atomically; on a full disk, where the temp file cannot be made, in
        place (truncating frees the old blocks first), so a run stopped by a
        full disk still says so in its report."""
        sink = sink or current()
        text = self.to_json(sink)
        try:
            sink.write_atomic(path, text)
        except OSError as e:
            if e.errno not in (errno.ENOSPC, errno.EDQUOT) or not os.path.exists(path):
                raise
            sink.overwrite(path, text)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunReport:
        """A report read back (by --resume): any file that is not one raises
        ValueError, whatever is wrong with it."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        version = data.get("format", FORMAT)
        if type(version) is not int:
            raise ValueError(f"format should be an integer, got {version!r}")
        if version > FORMAT:
            raise ValueError(f"report format {version} is newer than this segrun understands")
        _expect(data, "status", str)
        _expect(data, "started", str)
        _expect(data, "spec", str)
        _expect(data, "finished", (str, type(None)), required=False)
        _expect(data, "state", (str, type(None)), required=False)
        for key in ("started", "finished"):
            if data.get(key) is not None and not _is_moment(data[key]):
                raise ValueError(f"{key} is not a time with its zone: {data[key]!r:.60}")
        jobs = data.get("jobs", [])
        if not isinstance(jobs, list) or not all(isinstance(j, dict) for j in jobs):
            raise ValueError("jobs should be a list of objects")
        return cls(
            status=data["status"],
            started=data["started"],
            finished=data.get("finished"),
            spec=data["spec"],
            jobs=[JobResult.from_dict(job) for job in jobs],
            state=data.get("state"),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunReport:
        """ValueError for anything that is not a report (bad UTF-8, bad JSON, a
        number out of range, absurd nesting, wrong shapes); OSError only for the file
        itself."""
        text = read_back(Path(path))  # a FIFO or a planted link: refused, never read
        try:
            return cls.from_dict(strict_json.loads(text))
        except (RecursionError, TypeError, KeyError) as e:
            raise ValueError(f"not a segrun report ({type(e).__name__})") from None
