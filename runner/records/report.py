"""`report.json`: what each job of a run did, and the run's exit code.

Like black's `Report`, the report owns the exit code, so the CLI, the JUnit
file and a resumed run all derive it from the same facts. It is written
atomically because `--resume` reads it back to know what is left to do.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from runner import exitcodes
from runner.records.atomic import write_atomic

JobStatus = Literal["succeeded", "failed", "skipped", "interrupted"]
RunStatus = Literal["succeeded", "failed", "interrupted"]

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
    notes: list[str] = field(default_factory=list)
    #: hashes of what decided the export (runner/lifecycle.py), to notice a changed spec
    fingerprint: dict[str, str] | None = None

    def __post_init__(self) -> None:
        if self.status not in get_args(JobStatus):
            raise ValueError(f"job {self.name!r}: unknown status {self.status!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobResult:
        # Unknown keys are dropped so an older segrun can still resume a newer report.
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class RunReport:
    status: RunStatus
    started: str  # ISO 8601 UTC
    finished: str | None
    spec: str
    jobs: list[JobResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.status not in get_args(RunStatus):
            raise ValueError(f"unknown run status {self.status!r}")

    @property
    def exit_code(self) -> int:
        """130 if interrupted, else 1 if any job failed, else 0 (skips are choices).

        Interruption wins: the user stopped the run, and CI should see that
        rather than a failure that may be a consequence of it.
        """
        worst = max(self.status, self._jobs_outcome(), key=_PRECEDENCE.index)
        return _EXIT_CODES[worst]

    def settle(self, finished: str) -> None:
        """Close the report: the run's status follows from its jobs, by the same
        precedence as the exit code."""
        self.finished = finished
        self.status = self._jobs_outcome()

    def _jobs_outcome(self) -> RunStatus:
        statuses = {job.status for job in self.jobs}
        return next((s for s in reversed(_PRECEDENCE) if s in statuses), "succeeded")

    def count(self, status: JobStatus) -> int:
        return sum(1 for job in self.jobs if job.status == status)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **dataclasses.asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def write(self, path: str | os.PathLike[str]) -> None:
        write_atomic(path, self.to_json().encode("utf-8"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunReport:
        if data.get("format", FORMAT) > FORMAT:
            raise ValueError(
                f"report format {data['format']} is newer than this segrun understands"
            )
        return cls(
            status=data["status"],
            started=data["started"],
            finished=data.get("finished"),
            spec=data["spec"],
            jobs=[JobResult.from_dict(job) for job in data.get("jobs", [])],
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunReport:
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))
