"""Running a spec's jobs through the export flow: Initiate, Status, Retrieve, Commit.

One path for the real run and the dry run: with the dry-run transport the first
send raises `NotSent`, and what was about to be sent becomes the job's plan.
The executor knows the `Spec` model and the client, nothing of YAML.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import requests

from runner.apifacts import api, timestamps
from runner.apifacts.page import RECORDS, Page
from runner.errors import FailureKind, JobFailure, SegrunError
from runner.http.answer import Answer
from runner.http.client import (
    ApiClient,
    CallFailed,
    CallStats,
    Interrupted,
    NotSent,
    OutOfTime,
    RetryNotice,
    RetryPolicy,
)
from runner.jobspec.model import Job, Spec
from runner.records.report import JobResult
from runner.run.checkpoint import COMPLETE, Checkpoint
from runner.run.inflight import PageStream
from runner.run.lifecycle import Lifecycle
from runner.run.outputs import JobExport
from runner.run.plan import (
    COMMIT_QUERY,
    PlannedJob,
    effective_last_datetime,
    initiate_body,
    retrieve_query,
)
from runner.run.reconcile import describe as describe_reconcile
from runner.run.reconcile import reconcile
from runner.run.state import StateFile, last_datetime_for, watermark_key
from runner.run.tabular import too_many_rows
from runner.system.numbers import MAX_COUNT, MAX_INTEGER, spelled

#: seconds between durable checkpoints while retrieving (see _retrieve_all)
CHECKPOINT_EVERY = 0.25
#: the kind of failure each status that ends an export is (specs/api.yaml: `done`)
_ENDED: dict[str, FailureKind] = {
    "Failed": "permission",  # the user lacks permission: resuming changes nothing
    "Expired": "export_gone",
    "Retrieved": "export_gone",
    "Error": "server_failed",
}


class StopFlag:
    """Set by a signal handler; checked between pages and between jobs, and it
    wakes every wait (poll intervals, back-off) at once."""

    def __init__(self) -> None:
        self._event = threading.Event()
        #: called once a stop is requested, e.g. to cut the network waits of
        #: jobs in worker threads (ApiClient.abort); they must be signal-safe
        self.on_request: list[Callable[[], None]] = []

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self) -> None:
        self._event.set()
        for hook in tuple(self.on_request):
            hook()

    def sleep(self, seconds: float) -> None:
        if self._event.wait(seconds):
            raise Interrupted()


@dataclass
class Progress:
    """What the terminal is told while a job runs (a no-op by default)."""

    def begin(self, jobs: Sequence[Job]) -> None: ...

    def start(self, job: Job) -> None: ...

    def status(self, job: Job, status: str) -> None: ...

    def total(self, job: Job, row_count: int) -> None: ...

    def advance(self, job: Job, records: int) -> None: ...

    def finish(self, job: Job, result: JobResult) -> None: ...

    def retry(self, notice: RetryNotice) -> None: ...


@dataclass
class JobRunner:
    spec: Spec
    client: ApiClient
    #: the durable steps of each job (None in a dry run, which never reaches them)
    life: Lifecycle | None = None
    progress: Progress = field(default_factory=Progress)
    stop: StopFlag = field(default_factory=StopFlag)
    sleep: Callable[[float], None] | None = None  # default: the stop flag's waking sleep
    monotonic: Callable[[], float] = time.monotonic
    clock: Callable[[], dt.datetime] = timestamps.utc_now
    #: watermarks of `last_success` jobs (read here; written by the lifecycle)
    state: StateFile | None = None

    def __post_init__(self) -> None:
        self._stats_lock = threading.Lock()
        self._sleep: Callable[[float], None] = self.sleep or self.stop.sleep

    # -- one job ----------------------------------------------------------------
    def plan_job(self, job: Job) -> PlannedJob:
        """The dry run of a job: the same flow, through a client whose transport
        keeps the first request (the Initiate) instead of sending it."""
        try:
            last, told = self._last_datetime(job, None)
        except JobFailure as failure:  # the run would fail this job before its Initiate
            raise SegrunError(f"job {job.name}: {failure}") from None
        try:
            result = self.run_job(job)
        except NotSent as sent:
            return self._planned(job, last, sent.request, told)
        raise SegrunError(f"job {job.name}: {result.error or 'nothing to send'}")

    def run_job(
        self, job: Job, resume: Checkpoint | None = None, notes: Sequence[str] = ()
    ) -> JobResult:
        """One job, from `resume` when given: see runner/run/lifecycle.py for the
        order of its durable steps. Its report entry is written before return.
        Whatever stops the job is a JobFailure (its kind goes to the report); the
        disk, or a record too deep to decode, is turned into one here."""
        started = self.monotonic()
        stats = CallStats()
        result = JobResult(job.name, job.segment_group, "failed", notes=list(notes))
        policy = RetryPolicy(job.retry_attempts, job.retry_backoff, job.retry_max_backoff)
        export: JobExport | None = None
        checkpoint = resume
        self.progress.start(job)

        def commit() -> None:
            assert checkpoint is not None
            self._call(job, policy, stats, "commit", checkpoint.access_token, query=COMMIT_QUERY)

        def tally() -> None:
            result.notes.extend(stats.notes)
            result.attempts = stats.attempts
            result.retries = stats.retries
            result.duration_s = round(self.monotonic() - started, 3)
            if stats.ambiguous_initiates:
                result.notes.append(
                    f"{stats.ambiguous_initiates} Initiate attempt(s) got no answer after being "
                    "sent; an export the server may have created then expires unretrieved"
                )

        try:
            last, told = self._last_datetime(job, resume)
            result.notes.extend(told)
            if checkpoint is not None and checkpoint.phase == COMPLETE:
                result.notes.append(
                    f"resume: all {checkpoint.records} records were already on disk; finishing"
                )
                self._durable.finish(job, checkpoint, result, commit, tally, resumed=True)  # 4-9
            else:
                going = None
                if checkpoint is not None:  # the same export, while its token is good
                    going = self._resume(job, policy, stats, checkpoint, result.notes)
                # Initiate (step 1) and Status, unless the resumed token still answers
                checkpoint, export, status = going or self._begin(job, policy, stats, last)
                result.access_token = checkpoint.access_token
                result.row_count = checkpoint.row_count = status["RowCount"]
                too_many = (
                    too_many_rows(status["RowCount"]) if job.output_format == "xlsx" else None
                )
                if too_many:
                    raise JobFailure("output", too_many)
                self.progress.total(job, status["RowCount"])
                self.progress.advance(job, export.records)
                total = self._retrieve_all(job, policy, stats, checkpoint, export)  # 2: Retrieve
                result.notes += reconcile(
                    export.records, checkpoint.row_count, total, job.reconcile
                )
                self._durable.complete(export, checkpoint, total)  # step 3
                continued = resume is not None and checkpoint is resume
                # expectations (step 4), Commit (5), the export placed, the state, the report
                self._durable.finish(job, checkpoint, result, commit, tally, resumed=continued)
        except JobFailure as failure:
            result.status = "interrupted" if failure.kind == "interrupted" else "failed"
            result.error, result.kind = str(failure), failure.kind
        except (OSError, RecursionError) as e:  # the job's, not the run's: the run goes on
            turned = _unexpected(e)
            result.error, result.kind = str(turned), turned.kind
        finally:
            if export is not None and checkpoint is not None and result.status != "succeeded":
                self._durable.stopped(export, checkpoint, result)
        if result.status != "succeeded":
            tally()
            if self.life is not None:  # a dry run's request was kept, not sent
                self.life.ended(result)
        self.progress.finish(job, result)
        return result

    @property
    def _durable(self) -> Lifecycle:
        """The job's durable steps; a dry run has none, and stops at its first send."""
        if self.life is None:
            raise RuntimeError("a dry run reached a durable step")
        return self.life

    def _last_datetime(
        self, job: Job, resume: Checkpoint | None
    ) -> tuple[dt.datetime | None, list[str]]:
        if resume is not None:  # the same parameters as the interrupted run
            was = resume.last_datetime
            return (timestamps.parse_wire(was) if was else None), []
        if not job.incremental:  # then a datetime or None: only "last_success" is text
            given = job.last_datetime
            return (given if isinstance(given, dt.datetime) else None), []
        if self.state is None:
            return None, ["last_success: no state file, so a full export"]
        mark = self.state.watermark(watermark_key(self.spec, job, self.state.path))
        notes = list(self.state.notes)
        if mark is None:
            where = f"no watermark for this job in {self.state.path}"
            if job.on_missing_watermark == "fail":
                raise JobFailure(
                    "state",
                    f"last_success: {where}, and on_missing_watermark is fail: a lost or "
                    "mistaken state must not become a silent full export",
                )
            return None, [*notes, f"warning: last_success: {where}, so a full export"]
        sent = last_datetime_for(mark)
        return sent, [
            *notes,
            f"last_success: watermark {timestamps.to_wire(mark)} (the last successful run's "
            f"Initiate), sent as {timestamps.to_wire(sent)}",
        ]

    def _begin(
        self, job: Job, policy: RetryPolicy, stats: CallStats, last: dt.datetime | None
    ) -> tuple[Checkpoint, JobExport, dict]:
        """A fresh export: Initiate (step 1), Status until it is Complete, and an
        empty part file for its pages."""
        checkpoint = self._initiate(job, policy, stats, last)
        status = self._wait_until_complete(job, policy, stats, checkpoint.access_token)
        return checkpoint, self._durable.start_pages(job, status["RowCount"]), status

    def _resume(
        self,
        job: Job,
        policy: RetryPolicy,
        stats: CallStats,
        checkpoint: Checkpoint,
        notes: list[str],
    ) -> tuple[Checkpoint, JobExport, dict] | None:
        """Continue from a checkpoint while its token is still good: the same
        export, from its last durable page. Otherwise None: afresh."""
        try:
            if _all_pages_in(checkpoint):  # nothing left to fetch: no need to ask
                status = {"RowCount": checkpoint.row_count}
            else:
                status = self._wait_until_complete(job, policy, stats, checkpoint.access_token)
        except CallFailed as e:
            notes.append(
                f"resume: token {checkpoint.access_token} is no longer usable ({e}); "
                "re-initiated with the same parameters"
            )
            return None
        export, said = self._durable.reopen(job, checkpoint)
        notes.append(said)
        return (checkpoint, export, status) if export is not None else None

    # -- the calls ----------------------------------------------------------------
    def _call(
        self, job, policy, stats, call, token=None, query=None, body=None, within=None
    ) -> Answer:
        params = {"segmentGroupName": job.segment_group}
        if token is not None:
            params["accessToken"] = token
        return self.client.call(
            call,
            job=job.name,
            policy=policy,
            stats=stats,
            params=params,
            query=query,
            body=body,
            within=within,
        )

    def _initiate(self, job, policy, stats, last: dt.datetime | None) -> Checkpoint:
        """Initiate, and its checkpoint durable (step 1). A dry run stops at the send."""
        if self.life is not None:
            self.life.may_start(job)
        initiated_at = self.clock()
        answer = self._call(job, policy, stats, "initiate", body=initiate_body(job, last))
        body = answer.json_object()
        token = body.get("AccessToken")
        if type(token) is not int:
            raise JobFailure(
                "invalid_answer", f"Initiate: AccessToken is not an integer: {token!r}"
            )
        if not 0 <= token <= MAX_INTEGER:  # the checkpoint keeps it, and reads back no other
            raise JobFailure(
                "invalid_answer",
                f"Initiate: AccessToken {spelled(token)} is not a 64-bit integer of 0 or more",
            )
        checkpoint = Checkpoint(
            job.name,
            token,
            timestamps.to_wire(last) if last is not None else None,
            timestamps.to_wire(self.client.watermark_time(initiated_at)),
            self._durable.fingerprint(job),
        )
        self._durable.initiated(checkpoint)
        return checkpoint

    def _wait_until_complete(self, job, policy, stats, token) -> dict:
        """Status every poll.interval until the export is ready. poll.timeout
        bounds the whole wait, the Status call in flight and its retries
        included: a Status answer trickling a byte at a time is cut then."""
        deadline = self.monotonic() + job.poll_timeout
        known = api.statuses()
        status: object = None
        while True:
            try:
                answer = self._call(
                    job, policy, stats, "status", token, within=deadline - self.monotonic()
                )
            except OutOfTime as e:
                said = f"still {status}" if status is not None else "no Status answer"
                raise CallFailed(
                    "status",
                    f"{said} after the poll timeout of {job.poll_timeout:g}s "
                    f"(the last Status call: {e.reason})",
                    kind="poll_timeout",
                ) from None
            body = answer.json_object()
            status = body.get("Status")
            if not isinstance(status, str) or status not in known:
                raise JobFailure("invalid_answer", f"Status: unknown status {status!r}")
            self.progress.status(job, status)
            if known[status]["ready"]:
                count = body.get("RowCount")
                if type(count) is not int or not 0 <= count <= MAX_COUNT:
                    raise JobFailure(
                        "invalid_answer", f"Status: Complete without a RowCount: {body!r}"
                    )
                return body
            if known[status]["done"]:
                raise CallFailed(
                    "status",
                    f"the export ended with status {status}",
                    kind=_ENDED.get(status, "server_failed"),
                )
            if self.monotonic() + job.poll_interval > deadline:
                raise CallFailed(
                    "status",
                    f"still {status} after the poll timeout of {job.poll_timeout:g}s",
                    kind="poll_timeout",
                )
            self._sleep(job.poll_interval)

    def _retrieve_all(
        self,
        job: Job,
        policy: RetryPolicy,
        stats: CallStats,
        checkpoint: Checkpoint,
        export: JobExport,
    ) -> int:
        """Every page from the checkpoint's offset on; returns TotalResults.

        Pages may be fetched ahead (`concurrency`, runner/run/inflight.py) but are
        taken, checked, written and checkpointed here, one at a time, in
        offset order. A server that lies is stopped at the first page that
        proves it: more records than TotalResults, HasMore past it, a
        TotalResults that moves, or a ProfileId served twice (which the export
        itself refuses). Nothing beyond the proof is written.
        """
        offset = checkpoint.next_offset
        total = checkpoint.total
        if total is not None and _all_pages_in(checkpoint):
            return total  # a resume after the last page was durable
        with self._pages(job, policy, stats, checkpoint) as pages:
            synced = self.monotonic()
            strict = job.reconcile == "strict"
            while True:
                page = pages.take(offset)
                count = page.count
                if total is not None and page.fields["TotalResults"] != total:
                    raise JobFailure(
                        "server_lied",
                        f"Retrieve at offset {offset}: TotalResults changed from {total} to "
                        f"{page.fields['TotalResults']} during the export",
                    )
                total = checkpoint.total = page.fields["TotalResults"]
                if offset - 1 + count > total:
                    raise JobFailure(
                        "server_lied",
                        f"Retrieve at offset {offset}: {count} more records would make "
                        f"{offset - 1 + count}, more than TotalResults {total}",
                    )
                if strict and offset - 1 + count > (checkpoint.row_count or 0):
                    raise JobFailure(
                        "server_lied",
                        f"Retrieve at offset {offset}: {count} more records would make "
                        f"{offset - 1 + count}, more than RowCount {checkpoint.row_count} "
                        "(reconcile: strict)",
                    )
                export.add_page(page, offset)
                more = page.fields["HasMore"]
                del page  # the next page is read into the room this one leaves
                offset += count
                pages.next(offset, total)
                export.record_in(checkpoint, offset)
                # Group commit (step 2): pages are fsynced and checkpointed together at
                # most every CHECKPOINT_EVERY seconds (and whenever the job stops). The
                # checkpoint never names a page that is not durable: a crash re-fetches,
                # never skips.
                if self.monotonic() - synced >= CHECKPOINT_EVERY:
                    self._durable.pages_durable(export, checkpoint)
                    synced = self.monotonic()
                self.progress.advance(job, count)
                if not more:
                    return total
                if not count:
                    raise JobFailure(
                        "server_lied", f"Retrieve: an empty page at offset {offset} says HasMore"
                    )
                if offset > total:
                    raise JobFailure(
                        "server_lied",
                        f"Retrieve at offset {offset - count}: HasMore is true, but the next "
                        f"offset {offset} passes TotalResults {total}",
                    )
                if self.stop.requested:
                    raise Interrupted()

    def _pages(self, job, policy, stats, checkpoint: Checkpoint):
        """Where the pages come from: this thread, one at a time (`concurrency: 1`,
        and the network wait is bounded by the watchdog's alarm), or a stream
        of pages fetched ahead by workers."""
        token, size = checkpoint.access_token, job.page_size

        def fetch(offset: int, throttled=None) -> Page:
            mine = CallStats(on_throttle=throttled)  # merged below: workers share `stats`
            try:
                answer = self._call(
                    job, policy, mine, "retrieve", token, query=retrieve_query(offset, size)
                )
                return _retrieve_page(answer, offset, size)
            finally:
                with self._stats_lock:
                    stats.merge(mine)

        concurrency = job.concurrency
        if concurrency <= 1:
            return _OneAtATime(fetch)
        bound = checkpoint.total if checkpoint.total is not None else checkpoint.row_count
        return PageStream(
            fetch,
            start=checkpoint.next_offset,
            page_size=size,
            concurrency=concurrency,
            bound=bound,
            stopped=lambda: self.stop.requested,
            size=lambda page: page.nbytes,
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
            f"{1 + 2 * size}, ... until HasMore is false"
            + (
                f" ({job.concurrency} pages in flight at most, written in offset order)"
                if job.concurrency > 1
                else ""
            ),
            described("commit", COMMIT_QUERY),
            describe_reconcile(job.reconcile),
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


def _unexpected(error: OSError | RecursionError) -> JobFailure:
    """A failure of the machine, not of the API, raised wherever the job was."""
    if isinstance(error, RecursionError):
        # A record the page scan took (in a shallow worker thread, say) that is
        # too deep to decode again on this stack: the sheet, or confirming a
        # repeated ProfileId. The job's data, not the run's: the job fails.
        return JobFailure(
            "too_deep",
            "a record is nested too deeply to decode again (near Python's limit of "
            f"{sys.getrecursionlimit():,} levels)",
        )
    where = f" ({error.filename})" if error.filename else ""
    return JobFailure("disk", f"writing the export failed: {error.strerror or error}{where}")


def _all_pages_in(checkpoint: Checkpoint) -> bool:
    return (
        checkpoint.total is not None
        and checkpoint.row_count is not None
        and checkpoint.next_offset > checkpoint.total
    )


# -- response shapes ----------------------------------------------------------------
_PAGE_FIELDS = {
    "Count": int,
    "HasMore": bool,
    "Limit": int,
    "Offset": int,
    "TotalResults": int,
}


def _retrieve_page(answer: Answer, offset: int, limit: int) -> Page:
    page = answer.json_page()  # scanned once, with the transcript (runner/apifacts/page.py)
    for name, kind in _PAGE_FIELDS.items():
        value = page.fields.get(name)
        if type(value) is not kind:
            raise JobFailure(
                "invalid_answer", f"Retrieve: {name} should be {kind.__name__}, got {value!r}"
            )
        if type(value) is int and not 0 <= value <= MAX_COUNT:  # checkpoints and reports keep them
            raise JobFailure("invalid_answer", f"Retrieve: {name} is not a count: {spelled(value)}")
    if page.records_type != "list":
        raise JobFailure(
            "invalid_answer",
            f"Retrieve: {RECORDS} should be list, got "
            + ("nothing" if page.records_type is None else f"a {page.records_type}"),
        )
    if page.fields["Offset"] != offset:
        raise JobFailure(
            "invalid_answer",
            f"Retrieve: asked for offset {offset}, got a page at {page.fields['Offset']}",
        )
    if page.fields["Count"] != page.count:
        raise JobFailure(
            "invalid_answer",
            f"Retrieve: Count says {page.fields['Count']} but the page holds {page.count} records",
        )
    if page.count > limit:
        raise JobFailure(
            "invalid_answer", f"Retrieve: {page.count} records on a page of at most {limit}"
        )
    return page


class _OneAtATime:
    """The pages of `concurrency: 1`: each fetched when the job asks for it."""

    def __init__(self, fetch: Callable[[int], Page]) -> None:
        self._fetch = fetch

    def take(self, offset: int) -> Page:
        return self._fetch(offset)

    def next(self, offset: int, bound: int | None) -> None:
        pass

    def __enter__(self) -> _OneAtATime:
        return self

    def __exit__(self, *exc: object) -> None:
        pass
