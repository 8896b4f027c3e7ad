"""What a job asks the API for: the Initiate body and the calls after it.

Pure functions of a `Job`: the executor sends what they build, and the dry run
prints it. Nothing here sends anything.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from runner.apifacts import timestamps
from runner.jobspec.model import Job


@dataclass(frozen=True)
class PlannedJob:
    """One job as the dry run shows it."""

    name: str
    segment_group: str
    effective_last_datetime: str | None
    requests: list[dict] = field(default_factory=list)
    then: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "segment_group": self.segment_group,
            "effective_last_datetime": self.effective_last_datetime,
            "requests": self.requests,
            "then": self.then,
            "notes": self.notes,
        }


def initiate_body(job: Job, last_datetime: dt.datetime | None) -> dict:
    """The Initiate body, with only the fields the job sets (unset ones omitted)."""
    body: dict = {}
    if last_datetime is not None:
        body["LastDateTime"] = timestamps.to_wire(last_datetime)
    if job.match_criteria:
        body["MatchCriteria"] = job.match_criteria
        if job.match_type:
            body["MatchType"] = job.match_type
        body["Values"] = list(job.values or ())
    if job.callback_url:
        body["CallbackURL"] = job.callback_url
    return body


def effective_last_datetime(last_datetime: dt.datetime | None) -> str | None:
    """What the server applies, under the seeds' millisecond rounding rule."""
    if last_datetime is None:
        return None
    return timestamps.to_wire(timestamps.effective(last_datetime))


def retrieve_query(offset: int, limit: int) -> dict:
    return {"limit": limit, "offset": offset, "keepAlive": "true"}


COMMIT_QUERY = {"keepFiles": "false"}
