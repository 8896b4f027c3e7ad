"""Running a spec's jobs through the export flow: Initiate, Status, Retrieve, Commit.

One path for the real run and the dry run: with the dry-run transport the first
send raises `NotSent`, and what was about to be sent becomes the job's plan.
The executor knows the `Spec` model and the client, nothing of YAML.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import requests

from runner.apifacts import api, timestamps
from runner.apifacts.page import RECORDS, Page, PageNotJSON
from runner.errors import FailureKind, JobFailure, SegrunError
from runner.http.client import (
    ApiClient,
    CallFailed,
    CallStats,
    Interrupted,
    NotSent,
    RetryNotice,
    RetryPolicy,
)
from runner.jobspec.model import Job, Spec
from runner.records.report import JobResult
from runner.run.checkpoint import COMPLETE, Checkpoint
from runner.run.inflight import PageStream
from runner.run.lifecycle import Lifecycle
from runner.run.outputs import ExportWriter, part_path, profile_ids
from runner.run.plan import (
    COMMIT_QUERY,
    PlannedJob,
    effective_last_datetime,
    initiate_body,
    retrieve_query,
)
from runner.run.reconcile import describe as describe_reconcile
from runner.run.reconcile import reconcile
from runner.run.seen import SeenIds
from runner.run.state import StateFile, last_datetime_for, watermark_key
from runner.run.tabular import too_many_rows
from runner.system import durable

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
        if self.sleep is None:
            self.sleep = self.stop.sleep

    # -- one job ----------------------------------------------------------------
    def plan_job(self, job: Job) -> PlannedJob:
        """The dry run of a job: the same flow, through a client whose transport
        keeps the first request (the Initiate) instead of sending it."""
        last, told = self._last_datetime(job, None)
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
        writer: ExportWriter | None = None
        checkpoint = resume
        last, told = self._last_datetime(job, resume)
        result.notes.extend(told)
        self.progress.start(job)

        def commit() -> None:
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
            if checkpoint is not None and checkpoint.phase == COMPLETE:
                result.notes.append(
                    f"resume: all {checkpoint.records} records were already on disk; finishing"
                )
                self._finish(job, checkpoint, result, commit, tally, resumed=True)
            else:
                checkpoint, status, writer, seen = self._resume(
                    job, policy, stats, checkpoint, result.notes
                )
                if checkpoint is None:
                    if self.life is not None:  # a dry run stops at the Initiate
                        self._fresh_export_allowed(job)
                    initiated_at = self.clock()
                    token = self._initiate(job, policy, stats, last)
                    checkpoint = Checkpoint(
                        job.name,
                        token,
                        last and timestamps.to_wire(last),
                        timestamps.to_wire(self.client.server_time(initiated_at)),
                        self.life.fingerprint(job),
                    )
                    self.life.initiated(checkpoint)  # step 1
                    status = self._wait_until_complete(job, policy, stats, token)
                    final = self.life.exports_path(job.output_path)
                    writer = ExportWriter(final, job.output_format)
                    seen = SeenIds(status["RowCount"], _rereader(writer))
                result.access_token = checkpoint.access_token
                result.row_count = checkpoint.row_count = status["RowCount"]
                too_many = too_many_rows(result.row_count) if job.output_format == "xlsx" else None
                if too_many:
                    raise JobFailure("output", too_many)
                self.progress.total(job, result.row_count)
                self.progress.advance(job, writer.records)
                total = self._retrieve_all(job, policy, stats, checkpoint, writer, seen)
                result.notes += reconcile(writer.records, result.row_count, total, job.reconcile)
                done, writer = writer, None  # closed by step 3, whatever happens there
                self.life.complete(job, done, checkpoint, total)  # step 3
                continued = resume is not None and checkpoint is resume
                self._finish(job, checkpoint, result, commit, tally, resumed=continued)
        except JobFailure as failure:
            result.status = "interrupted" if failure.kind == "interrupted" else "failed"
            result.error, result.kind = str(failure), failure.kind
        except (OSError, RecursionError) as e:  # the job's, not the run's: the run goes on
            turned = _unexpected(e)
            result.error, result.kind = str(turned), turned.kind
        finally:
            if writer is not None and result.status != "succeeded":
                with contextlib.suppress(OSError):  # keep the last good checkpoint if not
                    self.life.pages_durable(writer, checkpoint)  # the page in hand, for --resume
                result.records = writer.records
                writer.abandon()
                if writer.records:
                    result.notes.append(f"partial export kept as {writer.part_path.name}")
        if result.status != "succeeded":
            tally()
            if self.life is not None:  # a dry run's request was kept, not sent
                self.life.ended(result)
        self.progress.finish(job, result)
        return result

    def _finish(self, job, checkpoint, result, commit, tally, *, resumed: bool) -> None:
        """Steps 4 to 8, with the job's figures final before its report entry."""
        self.life.finish(job, checkpoint, result, commit, tally, resumed=resumed)

    def _fresh_export_allowed(self, job: Job) -> None:
        """A complete export on disk is never exported over: only a report or a
        checkpoint of this run can say it is done, and here neither does."""
        final = self.life.exports_path(job.output_path)
        if final.exists() or final.is_symlink():
            raise JobFailure(
                "output",
                f"exports/{job.output_path} already exists, and neither report.json nor a "
                "checkpoint of this run says how it got there; move it away to export this "
                "job again",
            )

    def _last_datetime(
        self, job: Job, resume: Checkpoint | None
    ) -> tuple[dt.datetime | None, list[str]]:
        if resume is not None:  # the same parameters as the interrupted run
            sent = resume.last_datetime
            return (timestamps.parse_wire(sent) if sent else None), []
        if not job.incremental:
            return job.last_datetime, []
        if self.state is None:
            return None, ["last_success: no state file, so a full export"]
        mark = self.state.watermark(watermark_key(self.spec, job, self.state.path))
        notes = list(self.state.notes)
        if mark is None:
            return None, [*notes, "last_success: no stored watermark, so a full export"]
        sent = last_datetime_for(mark)
        return sent, [
            *notes,
            f"last_success: watermark {timestamps.to_wire(mark)} (the last successful run's "
            f"Initiate), sent as {timestamps.to_wire(sent)}",
        ]

    def _resume(self, job, policy, stats, checkpoint: Checkpoint | None, notes: list[str]):
        """Continue from a checkpoint while its token is still good: the same
        export, from its last durable page. Otherwise four Nones."""
        if checkpoint is None:
            return None, None, None, None
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
            return None, None, None, None
        path = self.life.exports_path(job.output_path)
        part = part_path(path)
        if part.is_symlink() or not part.exists() or part.stat().st_size < checkpoint.part_bytes:
            notes.append("resume: the partial export is missing; re-initiated")
            return None, None, None, None
        fd = durable.open_existing(part)
        with open(fd, "r+b") as f:  # drop whatever was written after the last checkpoint
            f.truncate(checkpoint.part_bytes)
            durable.fsync_file(f.fileno(), part.name)
        # The table may outgrow its size (MAX_EXPECTED) as it is filled: it then
        # rereads the ids added so far, not the whole file; a fingerprint match is
        # confirmed against the records before it is called a repeat.
        added = [0]
        seen = SeenIds(
            max(checkpoint.row_count or 0, checkpoint.records),
            lambda: (p for _, p in itertools.islice(profile_ids(part), added[0])),
        )
        on_disk = 0
        try:
            for on_disk, profile_id in profile_ids(part):  # noqa: B007 - counted below
                if on_disk > checkpoint.records:  # more than the checkpoint names
                    break
                if seen.add_all([profile_id]) and _written_before(part, profile_id, on_disk):
                    raise JobFailure(
                        "resume",
                        f"resume: {part.name} repeats ProfileId {profile_id!r} (record {on_disk})",
                    )
                added[0] = on_disk
        except (ValueError, RecursionError):  # not the JSONL segrun wrote: start over
            on_disk = -1
        if on_disk != checkpoint.records:
            notes.append("resume: the partial export does not match its checkpoint; re-initiated")
            return None, None, None, None
        writer = ExportWriter(path, job.output_format, append=True)
        writer.records = checkpoint.records
        seen.reread = _rereader(writer)
        notes.append(
            f"resumed token {checkpoint.access_token} at offset {checkpoint.next_offset} "
            f"({checkpoint.records} records already on disk)"
        )
        return checkpoint, status, writer, seen

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
            raise JobFailure(
                "invalid_answer", f"Initiate: AccessToken is not an integer: {token!r}"
            )
        return token

    def _wait_until_complete(self, job, policy, stats, token) -> dict:
        deadline = self.monotonic() + job.poll_timeout
        known = api.statuses()
        while True:
            body = _json_object("Status", self._call(job, policy, stats, "status", token))
            status = body.get("Status")
            if not isinstance(status, str) or status not in known:
                raise JobFailure("invalid_answer", f"Status: unknown status {status!r}")
            self.progress.status(job, status)
            if known[status]["ready"]:
                if type(body.get("RowCount")) is not int or body["RowCount"] < 0:
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
            self.sleep(job.poll_interval)

    def _retrieve_all(
        self, job, policy, stats, checkpoint: Checkpoint, writer: ExportWriter, seen: SeenIds
    ) -> int:
        """Every page from the checkpoint's offset on; returns TotalResults.

        Pages may be fetched ahead (`concurrency`, runner/run/inflight.py) but are
        taken, checked, written and checkpointed here, one at a time, in
        offset order. A server that lies is stopped at the first page that
        proves it: more records than TotalResults, HasMore past it, a
        TotalResults that moves, or a ProfileId served twice. Nothing beyond
        the proof is written.
        """
        offset = checkpoint.next_offset
        total = checkpoint.total
        if _all_pages_in(checkpoint):  # a resume after the last page was durable
            return total
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
                self._check_repeats(writer, seen, page.ids, offset)
                writer.write_page(page)
                more = page.fields["HasMore"]
                del page  # the next page is read into the room this one leaves
                offset += count
                pages.next(offset, total)
                checkpoint.part_bytes = writer.flush()
                checkpoint.records, checkpoint.next_offset = writer.records, offset
                # Group commit (step 2): pages are fsynced and checkpointed together at
                # most every CHECKPOINT_EVERY seconds (and whenever the job stops). The
                # checkpoint never names a page that is not durable: a crash re-fetches,
                # never skips.
                if self.monotonic() - synced >= CHECKPOINT_EVERY:
                    self.life.pages_durable(writer, checkpoint)
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
                response = self._call(
                    job, policy, mine, "retrieve", token, query=retrieve_query(offset, size)
                )
                return _retrieve_page(response, offset, size)
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

    @staticmethod
    def _check_repeats(writer: ExportWriter, seen: SeenIds, ids: list, offset: int) -> None:
        for index in seen.add_all(ids):
            repeated = ids[index]
            first = next(
                (
                    i
                    for i, p in enumerate(ids[:index])
                    if p == repeated and type(p) is type(repeated)
                ),
                None,
            )
            if first is not None:
                first += offset
            else:
                writer.flush()
                first = next(
                    (
                        at
                        for at, p in profile_ids(writer.part_path)
                        if p == repeated and type(p) is type(repeated)
                    ),
                    None,
                )
            if first is not None:  # else two ids shared a fingerprint: not a repeat
                raise JobFailure(
                    "server_lied",
                    f"Retrieve at offset {offset}: ProfileId {repeated!r} at record "
                    f"{offset + index} was already exported at record {first}",
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


def _rereader(writer: ExportWriter) -> Callable[[], Iterator[object]]:
    """The ids written so far (the part file, flushed first): what a SeenIds
    sized by a RowCount that the server then outgrew is rebuilt from."""

    def reread() -> Iterator[object]:
        writer.flush()
        return (profile_id for _, profile_id in profile_ids(writer.part_path))

    return reread


def _written_before(part, profile_id: object, record: int) -> bool:
    """Whether a record before `record` of the part file has this very ProfileId
    (same value, same type): a fingerprint match is only a suspicion."""
    return any(
        p == profile_id and type(p) is type(profile_id)
        for _, p in itertools.islice(profile_ids(part), record - 1)
    )


def _all_pages_in(checkpoint: Checkpoint) -> bool:
    return (
        checkpoint.total is not None
        and checkpoint.row_count is not None
        and checkpoint.next_offset > checkpoint.total
    )


# -- response shapes ----------------------------------------------------------------
def _json_object(call: str, response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError as e:
        why = getattr(e, "detail", None) or response.headers.get("Content-Type", "no type")
        raise JobFailure("invalid_answer", f"{call}: the response is not JSON ({why})") from None
    if not isinstance(body, dict):
        raise JobFailure(
            "invalid_answer", f"{call}: expected a JSON object, got {type(body).__name__}"
        )
    return body


_PAGE_FIELDS = {
    "Count": int,
    "HasMore": bool,
    "Limit": int,
    "Offset": int,
    "TotalResults": int,
}


def _retrieve_page(response: requests.Response, offset: int, limit: int) -> Page:
    try:
        page = response.segrun_page()  # scanned once, with the transcript (runner/apifacts/page.py)
    except PageNotJSON as e:
        why = e.detail or response.headers.get("Content-Type", "no type")
        raise JobFailure("invalid_answer", f"Retrieve: the response is not JSON ({why})") from None
    if page.top != "dict":
        raise JobFailure("invalid_answer", f"Retrieve: expected a JSON object, got {page.top}")
    for name, kind in _PAGE_FIELDS.items():
        value = page.fields.get(name)
        if type(value) is not kind:
            raise JobFailure(
                "invalid_answer", f"Retrieve: {name} should be {kind.__name__}, got {value!r}"
            )
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
