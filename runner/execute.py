"""Running a spec's jobs through the export flow: Initiate, Status, Retrieve, Commit.

One path for the real run and the dry run: with the dry-run transport the first
send raises `NotSent`, and what was about to be sent becomes the job's plan.
The executor knows the `Spec` model and the client, nothing of YAML.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

import requests

from runner import api, timestamps
from runner.checkpoint import Checkpoint, Checkpoints
from runner.client import ApiClient, CallFailed, CallStats, Interrupted, NotSent, RetryPolicy
from runner.outputs import ExportWriter, part_path
from runner.plan import (
    COMMIT_QUERY,
    PlannedJob,
    effective_last_datetime,
    initiate_body,
    retrieve_query,
)
from runner.records.report import JobResult
from runner.spec.model import Job, Spec
from runner.state import StateFile, last_datetime_for, watermark_key

#: seconds between durable checkpoints while retrieving (see _retrieve_all)
CHECKPOINT_EVERY = 0.25


class ResponseProblem(Exception):
    """A 2xx answer that is not what the documentation says it is."""


class StopFlag:
    """Set by a signal handler; checked between pages and between jobs, and it
    wakes every wait (poll intervals, back-off) at once."""

    def __init__(self) -> None:
        self._event = threading.Event()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self) -> None:
        self._event.set()

    def sleep(self, seconds: float) -> None:
        if self._event.wait(seconds):
            raise Interrupted()


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
    sleep: Callable[[float], None] | None = None  # default: the stop flag's waking sleep
    monotonic: Callable[[], float] = time.monotonic
    clock: Callable[[], dt.datetime] = timestamps.utc_now
    #: where retrieving jobs keep their checkpoints (None: no resume, e.g. a dry run)
    checkpoints: Checkpoints | None = None
    #: watermarks of `last_success` jobs (read in a dry run, written after success)
    state: StateFile | None = None

    def __post_init__(self) -> None:
        if self.sleep is None:
            self.sleep = self.stop.sleep

    # -- one job ----------------------------------------------------------------
    def run_job(self, job: Job, resume: Checkpoint | None = None) -> JobResult | PlannedJob:
        started = self.monotonic()
        stats = CallStats()
        result = JobResult(job.name, job.segment_group, "failed")
        policy = RetryPolicy(job.retry_attempts, job.retry_backoff, job.retry_max_backoff)
        writer: ExportWriter | None = None
        last, notes = self._last_datetime(job, resume)
        result.notes.extend(notes)
        self.progress.start(job)
        try:
            checkpoint, status, writer = self._resume(job, policy, stats, resume, result.notes)
            if checkpoint is None:
                initiated_at = self.clock()
                token = self._initiate(job, policy, stats, last)
                checkpoint = Checkpoint(
                    job.name,
                    token,
                    last and timestamps.to_wire(last),
                    timestamps.to_wire(initiated_at),
                )
                self._save(checkpoint)
                status = self._wait_until_complete(job, policy, stats, token)
                writer = ExportWriter(self._output_path(job), job.output_format)
            result.access_token = checkpoint.access_token
            result.row_count = checkpoint.row_count = status["RowCount"]
            self.progress.total(job, result.row_count)
            self.progress.advance(job, writer.records)
            total = self._retrieve_all(job, policy, stats, checkpoint, writer)
            self._call(job, policy, stats, "commit", checkpoint.access_token, query=COMMIT_QUERY)
            self._reconcile(writer.records, result.row_count, total)
            result.output = str(writer.final_path.relative_to(self.exports_dir.resolve().parent))
            result.sha256 = writer.commit()
            result.records = writer.records
            result.status = "succeeded"
            self._succeeded(job, checkpoint)
        except NotSent as sent:
            return self._planned(job, last, sent.request, notes)
        except Interrupted:
            result.status = "interrupted"
            result.error = "interrupted: stopped after the last page written"
        except (CallFailed, ResponseProblem) as e:
            result.error = str(e)
        except OSError as e:  # the disk, not the API: the job fails, the run goes on
            result.error = f"writing the export failed: {e.strerror or e}"
        finally:
            if writer is not None and result.status != "succeeded":
                with contextlib.suppress(OSError):  # keep the last good checkpoint if not
                    self._make_durable(writer, checkpoint)  # the page in hand, for --resume
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

    def _last_datetime(
        self, job: Job, resume: Checkpoint | None
    ) -> tuple[dt.datetime | None, list[str]]:
        if resume is not None:  # the same parameters as the interrupted run
            sent = resume.last_datetime
            return (timestamps.parse_wire(sent) if sent else None), []
        if not job.incremental:
            return job.last_datetime, []
        mark = self.state.watermark(watermark_key(self.spec, job)) if self.state else None
        if mark is None:
            return None, ["last_success: no stored watermark, so a full export"]
        sent = last_datetime_for(mark)
        return sent, [
            f"last_success: watermark {timestamps.to_wire(mark)} (the last successful run's "
            f"Initiate), sent as {timestamps.to_wire(sent)}"
        ]

    def _resume(self, job, policy, stats, checkpoint: Checkpoint | None, notes: list[str]):
        """Continue from a checkpoint while its token is still good: the same
        export, from its last durable page. Otherwise (None, None, None)."""
        if checkpoint is None:
            return None, None, None
        try:
            status = self._wait_until_complete(job, policy, stats, checkpoint.access_token)
        except CallFailed as e:
            notes.append(
                f"resume: token {checkpoint.access_token} is no longer usable ({e}); "
                "re-initiated with the same parameters"
            )
            return None, None, None
        path = self._output_path(job)
        part = part_path(path)
        if not part.exists() or part.stat().st_size < checkpoint.part_bytes:
            notes.append("resume: the partial export is missing; re-initiated")
            return None, None, None
        with open(part, "r+b") as f:  # drop whatever was written after the last checkpoint
            f.truncate(checkpoint.part_bytes)
            os.fsync(f.fileno())
        writer = ExportWriter(path, job.output_format, append=True)
        writer.records = checkpoint.records
        notes.append(
            f"resumed token {checkpoint.access_token} at offset {checkpoint.next_offset} "
            f"({checkpoint.records} records already on disk)"
        )
        return checkpoint, status, writer

    def _save(self, checkpoint: Checkpoint) -> None:
        if self.checkpoints is not None:
            self.checkpoints.save(checkpoint)

    def _make_durable(self, writer: ExportWriter, checkpoint: Checkpoint) -> None:
        """fsync the pages written so far, then (only then) checkpoint them."""
        if self.checkpoints is not None:
            writer.flush(durable=True)
            self.checkpoints.save(checkpoint)

    def _succeeded(self, job: Job, checkpoint: Checkpoint) -> None:
        """Only now, with the export in place, committed and reconciled."""
        if self.state is not None and job.incremental:
            moment = timestamps.parse_wire(checkpoint.initiated_at)
            self.state.store(watermark_key(self.spec, job), job, moment)
        if self.checkpoints is not None:
            self.checkpoints.clear(job.name)

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
            if self.monotonic() + job.poll_interval > deadline:
                raise CallFailed(
                    "status", f"still {status} after the poll timeout of {job.poll_timeout:g}s"
                )
            self.sleep(job.poll_interval)

    def _retrieve_all(
        self, job, policy, stats, checkpoint: Checkpoint, writer: ExportWriter
    ) -> int:
        offset = checkpoint.next_offset
        synced = self.monotonic()
        while True:
            query = retrieve_query(offset, job.page_size)
            response = self._call(
                job, policy, stats, "retrieve", checkpoint.access_token, query=query
            )
            page = _retrieve_page(response, offset, job.page_size)
            records = page["UserProfilePreferences"]
            writer.write_page(records)
            offset += len(records)
            checkpoint.part_bytes = writer.flush()
            checkpoint.records, checkpoint.next_offset = writer.records, offset
            # Group commit: pages are fsynced and checkpointed together at most every
            # CHECKPOINT_EVERY seconds (and whenever the job stops). The checkpoint
            # never names a page that is not durable: a crash re-fetches, never skips.
            if self.monotonic() - synced >= CHECKPOINT_EVERY:
                self._make_durable(writer, checkpoint)
                synced = self.monotonic()
            self.progress.advance(job, len(records))
            if not page["HasMore"]:
                return page["TotalResults"]
            if not records:
                raise ResponseProblem(f"Retrieve: an empty page at offset {offset} says HasMore")
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
        def described(call: str, query: dict | None = None) -> str:
            # The token is not known before a run: the URL shows its placeholder.
            token = "{accessToken}"
            url = self.client.url(call, segmentGroupName=job.segment_group, accessToken=token)
            url = url.replace(quote(token, safe=""), token)
            return f"{self.client.endpoints[call].method} {url}" + (
                f"?{urlencode(query)}" if query else ""
            )

        size = job.page_size
        then = [
            f"{described('status')} every {job.poll_interval:g}s until Status is Complete "
            f"(fails on Error, Expired, Failed, or after {job.poll_timeout:g}s)",
            f"{described('retrieve', retrieve_query(1, size))}, then offset {1 + size}, "
            f"{1 + 2 * size}, ... until HasMore is false",
            described("commit", COMMIT_QUERY),
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
    except ValueError as e:
        why = getattr(e, "detail", None) or response.headers.get("Content-Type", "no type")
        raise ResponseProblem(f"{call}: the response is not JSON ({why})") from None
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
