"""Running a spec's jobs through the export flow: Initiate, Status, Retrieve, Commit.

One path for the real run and the dry run: with the dry-run transport the first
send raises `NotSent`, and what was about to be sent becomes the job's plan.
The executor knows the `Spec` model and the client, nothing of YAML.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from runner import api
from runner.client import ApiClient, CallFailed, CallStats, NotSent, RetryPolicy
from runner.outputs import ExportWriter
from runner.plan import (
    COMMIT_QUERY,
    PlannedJob,
    effective_last_datetime,
    initiate_body,
    retrieve_query,
)
from runner.records.report import JobResult
from runner.spec.model import Job, Spec

UTC = dt.timezone.utc


class ResponseProblem(Exception):
    """A 2xx answer that is not what the documentation says it is."""


@dataclass
class StopFlag:
    """Set by a signal handler; checked between pages and between jobs."""

    requested: bool = False


class Interrupted(Exception):
    pass


@dataclass
class Progress:
    """What the terminal is told while a job runs (a no-op by default)."""

    def start(self, job: Job) -> None: ...

    def status(self, job: Job, status: str) -> None: ...

    def total(self, job: Job, row_count: int) -> None: ...

    def advance(self, job: Job, records: int) -> None: ...

    def finish(self, job: Job, result: JobResult) -> None: ...


@dataclass
class JobRunner:
    spec: Spec
    client: ApiClient
    exports_dir: Path | None  # None in a dry run
    progress: Progress = field(default_factory=Progress)
    stop: StopFlag = field(default_factory=StopFlag)
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(UTC)

    # -- one job ----------------------------------------------------------------
    def run_job(self, job: Job) -> JobResult | PlannedJob:
        started = self.monotonic()
        stats = CallStats()
        result = JobResult(job.name, job.segment_group, "failed")
        policy = RetryPolicy(job.retry_attempts, job.retry_backoff, job.retry_max_backoff)
        last, notes = self._last_datetime(job)
        result.notes.extend(notes)
        writer: ExportWriter | None = None
        self.progress.start(job)
        try:
            token = self._initiate(job, policy, stats, last)
            result.access_token = token
            status = self._wait_until_complete(job, policy, stats, token)
            result.row_count = status["RowCount"]
            self.progress.total(job, result.row_count)
            writer = ExportWriter(self._output_path(job), job.output_format)
            total = self._retrieve_all(job, policy, stats, token, writer)
            self._call(job, policy, stats, "commit", token, query=COMMIT_QUERY)
            self._reconcile(writer.records, result.row_count, total)
            result.output = str(writer.final_path.relative_to(self.exports_dir.resolve().parent))
            result.sha256 = writer.commit()
            result.records = writer.records
            result.status = "succeeded"
        except NotSent as sent:
            return self._planned(job, last, sent.request, notes)
        except Interrupted:
            result.status = "interrupted"
            result.error = "interrupted: stopped after the last page written"
        except (CallFailed, ResponseProblem) as e:
            result.error = str(e)
        finally:
            if writer is not None and result.status != "succeeded":
                result.records = writer.records
                writer.abandon()
                if writer.records:
                    result.notes.append(f"partial export kept as {writer.part_path.name}")
            result.attempts = stats.attempts
            result.retries = stats.retries
            if stats.ambiguous_initiates:
                result.notes.append(
                    f"{stats.ambiguous_initiates} Initiate attempt(s) got no answer after being "
                    "sent; an export the server may have created then expires unretrieved"
                )
            result.duration_s = round(self.monotonic() - started, 3)
        self.progress.finish(job, result)
        return result

    def _last_datetime(self, job: Job) -> tuple[dt.datetime | None, list[str]]:
        if job.incremental:
            return None, ["last_success: no stored watermark, so a full export"]
        return job.last_datetime, []

    def _output_path(self, job: Job) -> Path:
        assert self.exports_dir is not None
        root = self.exports_dir.resolve()
        path = (root / job.output_path).resolve()
        if not path.is_relative_to(root):  # the validator forbids it; belt and braces
            raise ResponseProblem(f"output path {job.output_path!r} leaves the run directory")
        return path

    # -- the calls ----------------------------------------------------------------
    def _call(
        self, job, policy, stats, call, token=None, query=None, body=None
    ) -> requests.Response:
        params = {"segmentGroupName": job.segment_group}
        if token is not None:
            params["accessToken"] = token
        return self.client.call(
            call, job=job.name, policy=policy, stats=stats, params=params, query=query, body=body
        )

    def _initiate(self, job, policy, stats, last) -> int:
        response = self._call(job, policy, stats, "initiate", body=initiate_body(job, last))
        body = _json_object("Initiate", response)
        token = body.get("AccessToken")
        if type(token) is not int:
            raise ResponseProblem(f"Initiate: AccessToken is not an integer: {token!r}")
        return token

    def _wait_until_complete(self, job, policy, stats, token) -> dict:
        deadline = self.monotonic() + job.poll_timeout
        known = api.statuses()
        while True:
            body = _json_object("Status", self._call(job, policy, stats, "status", token))
            status = body.get("Status")
            if status not in known:
                raise ResponseProblem(f"Status: unknown status {status!r}")
            self.progress.status(job, status)
            if known[status]["ready"]:
                if type(body.get("RowCount")) is not int or body["RowCount"] < 0:
                    raise ResponseProblem(f"Status: Complete without a RowCount: {body!r}")
                return body
            if known[status]["done"]:
                raise CallFailed("status", f"the export ended with status {status}")
            if self.stop.requested:
                raise Interrupted()
            if self.monotonic() + job.poll_interval > deadline:
                raise CallFailed(
                    "status", f"still {status} after the poll timeout of {job.poll_timeout:g}s"
                )
            self.sleep(job.poll_interval)

    def _retrieve_all(self, job, policy, stats, token, writer: ExportWriter) -> int:
        offset = api.facts()["retrieve"]["first_offset"]
        while True:
            response = self._call(
                job, policy, stats, "retrieve", token, query=retrieve_query(offset, job.page_size)
            )
            page = _retrieve_page(response, offset, job.page_size)
            records = page["UserProfilePreferences"]
            writer.write_page(records)
            writer.flush()
            self.progress.advance(job, len(records))
            if not page["HasMore"]:
                return page["TotalResults"]
            if not records:
                raise ResponseProblem(f"Retrieve: an empty page at offset {offset} says HasMore")
            offset += len(records)
            if self.stop.requested:
                raise Interrupted()

    @staticmethod
    def _reconcile(written: int, row_count: int, total: int) -> None:
        if not written == row_count == total:
            raise ResponseProblem(
                f"reconcile: {written} records written, but Status said RowCount {row_count} "
                f"and Retrieve said TotalResults {total}"
            )

    # -- the dry run --------------------------------------------------------------
    def _planned(self, job, last, request: requests.PreparedRequest, notes) -> PlannedJob:
        token = "{accessToken}"
        status_url = self.client.url(
            "status", segmentGroupName=job.segment_group, accessToken=token
        )
        retrieve_url = self.client.url(
            "retrieve", segmentGroupName=job.segment_group, accessToken=token
        )
        commit_url = self.client.url(
            "commit", segmentGroupName=job.segment_group, accessToken=token
        )
        ep = self.client.endpoints
        size = job.page_size
        then = [
            f"{ep['status'].method} {status_url.replace('%7B', '{').replace('%7D', '}')} "
            f"every {job.poll_interval:g}s until Status is Complete "
            f"(fails on Error, Expired, Failed, or after {job.poll_timeout:g}s)",
            f"{ep['retrieve'].method} {retrieve_url.replace('%7B', '{').replace('%7D', '}')}"
            f"?limit={size}&offset=1&keepAlive=true, then offset {1 + size}, {1 + 2 * size}, "
            "... until HasMore is false",
            f"{ep['commit'].method} {commit_url.replace('%7B', '{').replace('%7D', '}')}"
            "?keepFiles=false",
            "reconcile: records written = RowCount = TotalResults",
        ]
        headers = {
            k: ("<redacted>" if k.lower() == "authorization" else v)
            for k, v in request.headers.items()
        }
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        return PlannedJob(
            name=job.name,
            segment_group=job.segment_group,
            effective_last_datetime=effective_last_datetime(last),
            requests=[
                {"method": request.method, "url": request.url, "headers": headers, "body": body}
            ],
            then=then,
            notes=list(notes),
        )


# -- response shapes ----------------------------------------------------------------
def _json_object(call: str, response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        raise ResponseProblem(
            f"{call}: the response is not JSON ({response.headers.get('Content-Type', 'no type')})"
        ) from None
    if not isinstance(body, dict):
        raise ResponseProblem(f"{call}: expected a JSON object, got {type(body).__name__}")
    return body


_PAGE_FIELDS = {
    "Count": int,
    "HasMore": bool,
    "Limit": int,
    "Offset": int,
    "TotalResults": int,
    "UserProfilePreferences": list,
}


def _retrieve_page(response: requests.Response, offset: int, limit: int) -> dict:
    page = _json_object("Retrieve", response)
    for name, kind in _PAGE_FIELDS.items():
        value = page.get(name)
        if type(value) is not kind:
            raise ResponseProblem(f"Retrieve: {name} should be {kind.__name__}, got {value!r}")
    if page["Offset"] != offset:
        raise ResponseProblem(
            f"Retrieve: asked for offset {offset}, got a page at {page['Offset']}"
        )
    if page["Count"] != len(page["UserProfilePreferences"]):
        raise ResponseProblem(
            f"Retrieve: Count says {page['Count']} but the page holds "
            f"{len(page['UserProfilePreferences'])} records"
        )
    if page["Count"] > limit:
        raise ResponseProblem(f"Retrieve: {page['Count']} records on a page of at most {limit}")
    return page
