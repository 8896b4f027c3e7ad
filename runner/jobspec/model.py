"""A valid spec as plain, typed values: what the planner and executor consume.

Built only from a document that passed validation, so nothing here re-checks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runner.apifacts.timestamps import parse_spec_datetime
from runner.jobspec.names import job_name, output_path
from runner.jobspec.rules import LAST_SUCCESS, parse_duration, percentage


@dataclass(frozen=True)
class Auth:
    scheme: str  # canonical: PNAUTHINFO3-HMAC-SHA256 ... or oauth2
    user_id: str
    secret_env: str | None = None
    token_url: str | None = None
    client_id_env: str | None = None
    client_secret_env: str | None = None
    client_cert_file: str | None = None  # paths, relative to the spec
    client_key_file: str | None = None

    def secret_values(self, environ: Mapping[str, str]) -> list[str]:
        """The values of the variables this auth names: what must never be printed."""
        names = (self.secret_env, self.client_id_env, self.client_secret_env)
        return [environ[name] for name in names if name and environ.get(name)]


@dataclass(frozen=True)
class Expectations:
    """`expect:`: what an export must be before it is placed, committed or its watermark
    moves (runner/run/expectations.py checks them)."""

    min_records: int | None = None
    max_records: int | None = None
    #: fewer records than the job's last successful export by more than this fraction fails
    max_drop: float | None = None
    #: JMESPath expressions non-null in every record
    required_fields: tuple[str, ...] = ()
    #: as written in the spec, and the JSON Schema document read from it by `validate`
    record_schema: str | None = None
    record_schema_document: dict | None = field(default=None, compare=False, hash=False)
    #: with output.columns, a column empty in every record: "fail" or "allow"
    empty_columns: str = "fail"
    #: "error": a job whose export misses one fails; "warn": it is reported, the job succeeds
    severity: str = "error"


@dataclass(frozen=True)
class Job:
    index: int
    name: str
    segment_group: str
    #: None (no LastDateTime), an aware UTC datetime, or "last_success"
    last_datetime: dt.datetime | str | None
    match_criteria: str | None
    match_type: str | None
    values: tuple[str, ...] | None
    output_format: str
    output_path: str  # relative to the run's exports/ directory
    page_size: int
    poll_interval: float
    poll_timeout: float
    retry_attempts: int
    retry_backoff: float
    retry_max_backoff: float
    reconcile: str = "warn"  # or "strict": a RowCount unlike the records fails the job
    callback_url: str | None = None
    #: csv and xlsx: (column name, JMESPath expression) in order; () flattens records
    output_columns: tuple[tuple[str, str], ...] = ()
    #: csv: a text cell that starts like a formula gets a leading ' (runner/run/tabular.py)
    output_escape_formulas: bool = True
    #: csv: the file starts with a UTF-8 byte-order mark (for Excel)
    output_bom: bool = False
    #: Retrieve pages in flight at once (runner/run/inflight.py)
    concurrency: int = 1
    expect: Expectations = Expectations()
    #: a last_success job with no stored watermark: "full" (with a warning) or "fail"
    on_missing_watermark: str = "full"

    @property
    def incremental(self) -> bool:
        return self.last_datetime == LAST_SUCCESS


@dataclass(frozen=True)
class Spec:
    path: Path
    version: int
    client_id: str
    environment: str
    base_url: str | None
    auth: Auth | None
    #: the `endpoints:` block as written: calls, `confirmed`, `confirmed_by`
    #: (runner/jobspec/endpoint_map.py reads it)
    endpoints: dict = field(default_factory=dict)
    #: `endpoints: FILE`: a map file relative to the spec (runner/jobspec/endpoint_map.py reads it)
    endpoints_file: str | None = None
    jobs: tuple[Job, ...] = ()
    declared_name: str | None = None  # the spec's top-level `name:`
    #: `rate_limit: {requests_per_second: R}`: one budget for every request (runner/http/pacing.py)
    requests_per_second: float | None = None

    @property
    def name(self) -> str:
        return self.declared_name or self.path.stem


def build_spec(
    path: Path,
    document: dict,
    file_values: dict[int, list[str]],
    record_schemas: dict[int, dict] | None = None,
) -> Spec:
    auth = document.get("auth")
    return Spec(
        path=path,
        version=document["version"],
        client_id=document["client_id"],
        environment=document["environment"],
        base_url=document.get("base_url"),
        auth=Auth(**{k: v for k, v in auth.items() if k in Auth.__dataclass_fields__})
        if auth
        else None,
        endpoints={
            k: dict(v) if isinstance(v, dict) else v for k, v in _endpoint_block(document).items()
        },
        endpoints_file=_endpoint_file(document),
        jobs=tuple(
            _job(i, j, file_values.get(i), (record_schemas or {}).get(i))
            for i, j in enumerate(document["jobs"])
        ),
        declared_name=document.get("name"),
        requests_per_second=(document.get("rate_limit") or {}).get("requests_per_second"),
    )


def _endpoint_block(document: dict) -> dict:
    block = document.get("endpoints")
    return block if isinstance(block, dict) else {}


def _endpoint_file(document: dict) -> str | None:
    block = document.get("endpoints")
    return block if isinstance(block, str) else None


def _expectations(written: dict | None, schema: dict | None) -> Expectations:
    if not written:
        return Expectations()
    drop = written.get("max_drop")
    return Expectations(
        min_records=written.get("min_records"),
        max_records=written.get("max_records"),
        max_drop=percentage(drop) if drop is not None else None,
        required_fields=tuple(written.get("required_fields") or ()),
        record_schema=written.get("record_schema"),
        record_schema_document=schema,
        empty_columns=written.get("empty_columns", "fail"),
        severity=written.get("severity", "error"),
    )


def _job(
    index: int, job: dict, file_values: list[str] | None, record_schema: dict | None = None
) -> Job:
    last = job.get("last_datetime")
    if last is not None and last != LAST_SUCCESS:
        last = parse_spec_datetime(last)
    values = job.get("values")
    if values is None:
        values = file_values
    name = job_name(job)
    assert name is not None  # validated: segment_group is required and not empty
    output = job["output"]
    return Job(
        index=index,
        name=name,
        segment_group=job["segment_group"],
        last_datetime=last,
        match_criteria=job.get("match_criteria"),
        match_type=job.get("match_type"),
        values=tuple(str(v) for v in values) if values is not None else None,
        output_format=output["format"],
        output_path=output_path(job),
        page_size=job["page_size"],
        poll_interval=parse_duration(job["poll"]["interval"]),
        poll_timeout=parse_duration(job["poll"]["timeout"]),
        retry_attempts=job["retry"]["attempts"],
        retry_backoff=parse_duration(job["retry"]["backoff"]),
        retry_max_backoff=parse_duration(job["retry"]["max_backoff"]),
        reconcile=job.get("reconcile", "warn"),
        callback_url=job.get("callback_url"),
        output_columns=tuple((output.get("columns") or {}).items()),
        output_escape_formulas=output.get("escape_formulas", True),
        output_bom=output.get("bom", False),
        concurrency=job["concurrency"],
        expect=_expectations(job.get("expect"), record_schema),
        on_missing_watermark=job.get("on_missing_watermark", "full"),
    )
