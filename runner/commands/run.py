"""`segrun run`: execute a spec's jobs and leave a complete record behind."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import click

from runner import exitcodes
from runner.apifacts.timestamps import utc_now
from runner.commands.numbers import number
from runner.commands.run_options import refuse_idle_options
from runner.errors import SegrunError, describe_os_error
from runner.http.client import DEFAULT_DEADLINE, DEFAULT_POOL_SIZE, ApiClient, Interrupted
from runner.http.pacing import RateBudget
from runner.http.target import is_loopback_url, open_target, refuse_idle_sandbox_options
from runner.http.watchdog import interrupt_wait
from runner.jobspec.loading import load_checked, select_jobs
from runner.jobspec.model import Spec
from runner.records.html import write_html_report_quietly
from runner.records.junit import write_junit
from runner.records.report import JobResult, RunReport
from runner.records.transcript import DEFAULT_BODY_CAP, Transcript
from runner.redaction.sink import current, keep_private
from runner.run import rundir
from runner.run.checkpoint import JOB_NAME, Checkpoints
from runner.run.execute import JobRunner, Progress, StopFlag
from runner.run.jobpool import MAX_JOBS, run_each
from runner.run.lifecycle import Lifecycle
from runner.run.state import StateFile, hold_lock, state_path
from runner.sandbox.profiles import MAX_PROFILES
from runner.system import durable
from runner.system.memory import reuse_page_buffers
from runner.system.numbers import MAX_COUNT
from runner.ui.live import progress_for
from runner.ui.terminal import summary, verbose_observer

UTC = dt.timezone.utc


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def default_run_dir(spec: Spec, now: dt.datetime) -> Path:
    return Path("runs") / f"{now.strftime('%Y%m%dT%H%M%SZ')}-{spec.name}"


@dataclass
class RunOptions:
    out: Path | None = None
    only: tuple[str, ...] = ()
    fail_fast: bool = False
    quiet: bool = False
    verbose: bool = False
    body_cap: int = DEFAULT_BODY_CAP
    sandbox: Mapping[str, object] = field(default_factory=dict)
    resume: Path | None = None
    state: Path | None = None
    insecure: bool = False
    #: --endpoints FILE: the endpoint map the user confirmed (over the spec's own)
    endpoints: Path | None = None
    #: this machine's clock (tests inject a wrong one); signing, transcript, watermark
    clock: Callable[[], dt.datetime] = utc_now
    progress: Progress | None = None  # None: live lines on a terminal (runner/ui/live.py)
    #: transcripts keep a Retrieve page's envelope only, or its records too ("full")
    transcript_bodies: str = "envelope"
    #: seconds one request attempt may take in total
    request_timeout: float = DEFAULT_DEADLINE
    #: the most bytes one Retrieve page may have (None: scaled by page_size)
    max_page_bytes: int | None = None
    #: jobs run at once (--jobs); 1: one after the other, in this thread
    jobs: int = 1


@dataclass
class RunOutcome:
    report: RunReport
    run_dir: Path
    sandbox: object | None = None


def run_spec(
    spec_path: str,
    options: RunOptions,
    *,
    environ: Mapping[str, str] | None = None,
    stop: StopFlag | None = None,
) -> RunOutcome:
    """Run the jobs in order; every job ends succeeded, failed, skipped or interrupted,
    and report.json is rewritten after each, so a crash leaves a readable report.
    With `options.resume`, jobs that succeeded are kept and the others continue
    from their checkpoints (runner/run/lifecycle.py says how)."""
    environ = os.environ if environ is None else environ
    stop = stop or StopFlag()
    reuse_page_buffers()  # runner/system/memory.py: one heap for every thread, buffers reused
    checked = load_checked(spec_path, environ, options.endpoints)
    spec, ready = checked.spec, checked.readiness
    assert spec is not None and ready is not None  # load_checked raises otherwise
    refuse_idle_sandbox_options(spec, options.sandbox)
    jobs = select_jobs(spec, options.only)
    selected = {job.name for job in jobs}
    # what validate and plan warn of, refused before any file or socket
    endpoints = ready.require()
    started = dt.datetime.now(UTC)
    state = StateFile(state_path(spec.path, options.state))
    redactor = current().redactor  # the one every output of the process passes
    if options.resume is None and options.out is not None:
        rundir.check_out(options.out)  # new or empty, before anything is made
    with contextlib.ExitStack() as held:
        # Everything that can refuse the start is asked before the run directory is
        # made; what can refuse after it (the disk) undoes what the start made.
        if any(job.incremental for job in jobs):
            held.enter_context(state.locked(f"segrun run {spec.path}"))
            state.read()  # a state file segrun cannot read stops the run before a send
        target = held.enter_context(
            open_target(
                spec,
                environ,
                redactor,
                sandbox_options=options.sandbox,
                endpoints=endpoints.endpoints,
                clock=options.clock,
            )
        )
        run_dir, made = _run_directory(spec, options, started)
        held.callback(rundir.unmake, made)  # after the lock: the folders, where empty
        held.enter_context(hold_lock(run_dir / ".lock", f"segrun run {spec.path}"))
        if options.resume is None:  # what was new or empty when checked may not be now
            rundir.check_still_empty(run_dir)
        sending = threading.Event()  # set as the first job starts: no undoing from then on
        fresh = options.resume is None
        held.push(_undo_refused_start(run_dir, sending) if fresh else _tidy(run_dir))
        if options.resume:
            rundir.refuse_foreign(run_dir, "--resume")  # before anything is written in it
        previous = _previous_report(run_dir, spec) if options.resume else None
        checkpoints = Checkpoints(run_dir)
        if options.resume:  # a checkpoint segrun did not write stops the run before a send
            rundir.remove_stale_temporaries(run_dir)
            for job in spec.jobs:
                checkpoints.load(job.name)
        verify = _tls_verification(target.base_url, options.insecure)
        report = RunReport(
            "running",
            previous.started if previous else _iso(started),
            None,
            str(spec.path.resolve()),  # --resume from any folder compares the same file
            state=str(state.path.resolve()),
        )
        report_path = run_dir / "report.json"
        observer = verbose_observer(redactor) if options.verbose and not options.quiet else None
        transcript = held.enter_context(
            Transcript(
                run_dir,
                redactor,
                options.body_cap,
                resume=options.resume is not None,
                bodies=options.transcript_bodies,
            )
        )
        # one pooled connection for every request that may be in flight at once
        pages_in_flight = max((job.concurrency for job in spec.jobs), default=1)
        client = ApiClient(
            base_url=target.base_url,
            client_id=spec.client_id,
            endpoints=endpoints.endpoints,
            endpoint_source=endpoints.source,
            auth=target.auth,
            transcript=transcript,
            verify=verify,
            sleep=stop.sleep,
            observer=observer,
            clock=options.clock,
            deadline=options.request_timeout,
            max_page_bytes=options.max_page_bytes,
            budget=RateBudget(spec.requests_per_second, sleep=stop.sleep),
            pool_size=max(DEFAULT_POOL_SIZE, options.jobs * pages_in_flight),
        )
        held.callback(client.close)
        if options.jobs > 1 or pages_in_flight > 1:
            # a worker's wait on a server (the OAuth token endpoint's too) is cut by
            # its socket, not an alarm
            stop.on_request.append(client.abort)
            held.callback(stop.on_request.remove, client.abort)
        progress = options.progress or progress_for(quiet=options.quiet, verbose=options.verbose)
        progress.begin(jobs)
        client.on_retry = progress.retry
        # A resumed run starts from every entry of the earlier attempt, so an entry
        # (above all a "succeeded") is only ever replaced by this attempt's own result;
        # a job since removed from the spec keeps its entry, after the spec's jobs.
        results = {j.name: j for j in previous.jobs} if previous else {}
        names = [job.name for job in spec.jobs]
        names += [name for name in results if name not in names]
        for name in names[len(spec.jobs) :]:
            gone = "no longer in the spec: kept as the earlier attempt left it"
            if gone not in results[name].notes:
                results[name].notes.append(gone)

        recording = threading.Lock()  # jobs in flight finish at once; one report

        def record(result: JobResult) -> None:
            with recording:
                results[result.name] = result
                report.jobs = [results[name] for name in names if name in results]
                report.write(report_path)

        life = Lifecycle(spec, run_dir, checkpoints, state, record, endpoints.endpoints)
        runner = JobRunner(
            spec, client, life, progress=progress, stop=stop, state=state, clock=options.clock
        )
        report.jobs = [results[name] for name in names if name in results]
        report.write(report_path)
        failed = threading.Event()  # set by the first job that fails (for --fail-fast)
        tls_note = [] if verify else ["TLS verification was OFF (--insecure-skip-tls-verify)"]

        def one(job) -> None:
            """A job's whole turn: kept, skipped or run, its report entry written."""
            earlier = results.get(job.name)
            if earlier is not None and earlier.status == "succeeded":
                record(life.keep(job, earlier))
                return
            fail_fast = options.fail_fast and failed.is_set()
            skipped = _skip_reason(job, selected, earlier, fail_fast, stop)
            if skipped is not None:
                record(skipped)
                return
            resume, notes = life.resume_point(job) if options.resume else (None, [])
            result = runner.run_job(job, resume, [*notes, *tls_note])
            if result.status == "failed":
                failed.set()

        try:
            sending.set()
            run_each(spec.jobs, one, options.jobs)
            report.settle(_iso(dt.datetime.now(UTC)))
            report.write(report_path)
            write_junit(run_dir / "junit.xml", report)
            write_html_report_quietly(run_dir)  # derived from the two files above
        except BaseException as e:
            with _held(recording):  # a job still in flight must not write over this
                _abandon(report, report_path, e)
            if isinstance(e, OSError):  # the disk failed us after requests were sent
                raise SegrunError(
                    f"{describe_os_error(e)}; the run stopped (report: {report_path})",
                    exitcodes.JOB_FAILED,
                ) from None
            raise
        return RunOutcome(report, run_dir, target.sandbox)


@contextlib.contextmanager
def _held(lock: threading.Lock, seconds: float = 5.0):
    """The lock if it comes within `seconds`; else go on without it (a job
    thread stuck mid-write must not keep a stopping run from saying so)."""
    got = lock.acquire(timeout=seconds)
    try:
        yield
    finally:
        if got:
            lock.release()


def _abandon(report: RunReport, path: Path, error: BaseException) -> None:
    """A run that cannot finish still says how it ended, never "running": as
    interrupted (a second Ctrl-C) or failed (anything else), best effort, since
    the disk that stopped it may refuse this write too."""
    stopped = isinstance(error, (KeyboardInterrupt, Interrupted))
    report.abandon(_iso(dt.datetime.now(UTC)), "interrupted" if stopped else "failed")
    with contextlib.suppress(Exception):
        report.write(path)


def _run_directory(
    spec: Spec, options: RunOptions, started: dt.datetime
) -> tuple[Path, list[Path]]:
    """The run's own directory, and the folders made for it (to take away again if the
    start is refused): the one to resume, a fresh --out (checked new or empty by
    `rundir.check_out`), or a new default one that no other run shares (two runs in
    one second get two)."""
    if options.resume:
        return options.resume, []
    if options.out is not None:
        try:
            return options.out, rundir.make(options.out)
        except FileExistsError:  # an empty folder, as checked
            return options.out, []
    base = default_run_dir(spec, started)
    for n in itertools.count(1):
        candidate = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            return candidate, rundir.make(candidate)
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def _undo_refused_start(run_dir: Path, sending: threading.Event):
    """An exit callback: a start refused before a job started (exit 2: the state, the
    disk, a file in the way) takes away what it wrote; a run that went on is tidied."""

    def undo(kind, error, tb) -> None:
        refused = isinstance(error, OSError) or (
            isinstance(error, SegrunError) and error.exit_code == exitcodes.INVALID
        )
        if refused and not sending.is_set():
            with contextlib.suppress(OSError):
                rundir.undo_start(run_dir)
        else:
            with contextlib.suppress(OSError):
                rundir.tidy(run_dir)

    return undo


def _tidy(run_dir: Path):
    """An exit callback: the run directory left with no empty folder."""

    def tidy(kind, error, tb) -> None:
        with contextlib.suppress(OSError):
            rundir.tidy(run_dir)

    return tidy


def _previous_report(run_dir: Path, spec: Spec) -> RunReport | None:
    """The report to extend; None when the run died before writing its first
    report (nothing was done yet), so it starts afresh in the same directory."""
    path = run_dir / "report.json"
    try:
        previous = RunReport.load(path)
    except FileNotFoundError:
        early = {".lock", "transcript.har", "transcript.txt", "exports", "checkpoints"}
        strays = [
            p.name
            for p in run_dir.iterdir()
            if p.name not in early and not durable.is_stale_temporary(p.name)
        ]
        if strays or any(
            (run_dir / d).is_dir() and any((run_dir / d).iterdir())
            for d in ("exports", "checkpoints")
        ):
            raise SegrunError(
                f"--resume {run_dir}: no report.json there; is it a segrun run directory?"
            ) from None
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise SegrunError(f"--resume {run_dir}: cannot read report.json: {e}") from None
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise SegrunError(
            f"--resume {run_dir}: report.json is not a report segrun wrote ({e})"
        ) from None
    for job in previous.jobs:
        if not isinstance(job.name, str) or not JOB_NAME.match(job.name):
            raise SegrunError(
                f"--resume {run_dir}: report.json names a job {job.name!r} that no spec could have"
            )
    if Path(previous.spec).resolve() != spec.path.resolve():
        raise SegrunError(f"--resume {run_dir}: that run is of {previous.spec}, not {spec.path}")
    return previous


def _tls_verification(base_url: str, insecure: bool) -> bool:
    """TLS is verified unless the user says otherwise, loudly, for a remote host."""
    if not insecure:
        return True
    if not is_loopback_url(base_url):
        print(
            f"segrun: WARNING: TLS verification is OFF for {base_url}: anyone on the network path "
            "can read and change this export. Never use --insecure-skip-tls-verify in production.",
            file=sys.stderr,
        )
    return False


def _skip_reason(job, selected, earlier: JobResult | None, fail_fast: bool, stop: StopFlag):
    """A result for a job that will not run, or None when it should. A job left
    out by --only keeps what an earlier attempt at this run said of it."""
    if job.name not in selected:
        note = "not selected (--only)"
        return earlier or JobResult(job.name, job.segment_group, "skipped", notes=[note])
    if stop.requested:
        return JobResult(
            job.name,
            job.segment_group,
            "interrupted",
            error="not started: interrupted",
            kind="interrupted",
        )
    if fail_fast:
        note = "not run: an earlier job failed (--fail-fast)"
        return JobResult(job.name, job.segment_group, "skipped", notes=[note])
    return None


def _install_signal_handlers(stop: StopFlag) -> None:
    """First SIGINT/SIGTERM: finish the page in hand, then stop. Second: at once."""

    def handle(signum, frame):
        if stop.requested:
            raise KeyboardInterrupt
        stop.request()
        print(
            "\nsegrun: stopping after the page in hand (Ctrl-C again to stop at once)",
            file=sys.stderr,
        )
        # Waiting on a server (a trickle, a silence): no page is in hand, stop now.
        interrupt_wait(Interrupted)

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def _fault_plan(text: str | None):
    if text is None:
        return None
    from runner.sandbox import FaultPlan, FaultSyntaxError

    try:
        return FaultPlan.parse(text)
    except FaultSyntaxError as e:
        raise click.BadParameter(str(e), param_hint="--sandbox-faults") from None


@click.command("run", epilog=exitcodes.HELP)
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run directory: a new or an empty folder [default: runs/<UTC timestamp>-<spec name>/].",
)
@click.option("--dry-run", is_flag=True, help="Print the plan (as `segrun plan`) and send nothing.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    help="With --dry-run: the plan's format (an error without --dry-run).",
)
@click.option(
    "--resume",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Continue an interrupted or crashed run in this run directory.",
)
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Watermark file of last_success jobs [default: .segrun/state.json beside SPEC].",
)
@click.option(
    "--endpoints",
    "endpoints_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The endpoint map you confirmed (YAML; `segrun endpoints` prints the inferred one). "
    "production and staging need one, here or under `endpoints:` in the spec.",
)
@click.option("--only", multiple=True, metavar="NAME", help="Run only this job (repeatable).")
@click.option("--fail-fast", is_flag=True, help="Skip the remaining jobs after one fails.")
@click.option(
    "--jobs",
    type=number(int, 1, MAX_JOBS),
    default=1,
    show_default=True,
    help="Jobs run at once (at most 32). The report keeps the spec's order; every "
    "request of the run shares the spec's rate_limit.",
)
@click.option(
    "--insecure-skip-tls-verify",
    "insecure",
    is_flag=True,
    help="Do not verify TLS certificates (warned about loudly; never in production).",
)
@click.option(
    "-q", "--quiet", is_flag=True, help="No progress and no summary; the exit code says it all."
)
@click.option(
    "-v", "--verbose", is_flag=True, help="Print each request attempt (redacted) on stderr."
)
@click.option(
    "--transcript-body-cap",
    "body_cap",
    type=number(int, 0),
    default=DEFAULT_BODY_CAP,
    show_default=True,
    help="Bytes of each response body kept in the transcripts.",
)
@click.option(
    "--transcript-bodies",
    type=click.Choice(["envelope", "full"]),
    default="envelope",
    show_default=True,
    help="What transcripts keep of a Retrieve page: its paging fields and record count "
    "(envelope), or the records too, capped (full; personal data, for debugging).",
)
@click.option(
    "--request-timeout",
    type=number(float, 0.1, 86400),
    default=DEFAULT_DEADLINE,
    show_default=True,
    help="Seconds one request attempt may take in total, connect to last byte.",
)
@click.option(
    "--max-page-bytes",
    type=number(int, 1024),
    default=None,
    help="The most bytes one Retrieve page may have [default: page_size x 16 KiB, "
    "at least 16 MiB].",
)
@click.option(
    "--share-with-group",
    is_flag=True,
    help="Make the run directory and its files readable by the group (0750/0640) "
    "instead of by the owner only (0700/0600).",
)
@click.option(
    "--sandbox-profiles",
    type=number(int, 0, MAX_PROFILES),
    default=None,
    help="environment: sandbox: how many synthetic profiles it holds.",
)
@click.option(
    "--sandbox-seed",
    type=number(int, -MAX_COUNT),
    default=None,
    help="environment: sandbox: its data seed.",
)
@click.option(
    "--sandbox-faults",
    default=None,
    metavar="SPEC",
    help="environment: sandbox: a fault plan to rehearse against "
    "(syntax: `segrun sandbox --help-faults`).",
)
def command(
    spec,
    out,
    dry_run,
    fmt,
    resume,
    state,
    only,
    fail_fast,
    jobs,
    insecure,
    quiet,
    verbose,
    body_cap,
    transcript_bodies,
    request_timeout,
    max_page_bytes,
    share_with_group,
    sandbox_profiles,
    sandbox_seed,
    sandbox_faults,
    endpoints_file,
) -> None:
    """Run the jobs of SPEC in order (or --jobs N at once) through the export flow.

    For each job: Initiate; Status every poll.interval until Complete; Retrieve
    pages of page_size with keepAlive=true, streaming records to the job's
    output; Commit; then check that the records written equal RowCount and
    TotalResults. The run directory receives exports/, transcript.har,
    transcript.txt, report.json, junit.xml and report.html. A failing job does not stop the
    ones after it unless --fail-fast.

    Ctrl-C (or SIGTERM) stops after the page in hand is written, marks the job
    interrupted and exits 130; a second Ctrl-C stops at once. `--resume DIR`
    then skips the jobs that succeeded and continues the others from their last
    durable page (or re-initiates them with the same parameters when their
    token has expired).
    """
    refuse_idle_options(click.get_current_context())
    if dry_run:
        from runner.commands.plan import print_plan

        print_plan(spec, only, fmt, state, endpoints_file)
        return
    sandbox = {
        k: v
        for k, v in (
            ("profiles", sandbox_profiles),
            ("seed", sandbox_seed),
            ("faults", _fault_plan(sandbox_faults)),
        )
        if v is not None
    }
    if resume and out:
        raise click.UsageError("--resume continues a run in its own directory; drop --out")
    options = RunOptions(
        out,
        only,
        fail_fast,
        quiet,
        verbose,
        body_cap,
        sandbox,
        resume,
        state,
        insecure,
        endpoints_file,
        transcript_bodies=transcript_bodies,
        request_timeout=request_timeout,
        max_page_bytes=max_page_bytes,
        jobs=jobs,
    )
    keep_private(share_with_group)
    stop = StopFlag()
    _install_signal_handlers(stop)
    outcome = run_spec(spec, options, stop=stop)
    if not quiet:
        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        click.echo(summary(outcome.report, str(outcome.run_dir), color=color), nl=False)
    raise SystemExit(outcome.report.exit_code)
