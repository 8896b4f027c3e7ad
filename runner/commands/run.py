"""`segrun run`: execute a spec's jobs and leave a complete record behind."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import click

from runner import api, exitcodes
from runner.client import ApiClient
from runner.execute import JobRunner, StopFlag
from runner.loading import load_for_run, select_jobs
from runner.records.junit import write_junit
from runner.records.redact import Redactor
from runner.records.report import JobResult, RunReport
from runner.records.transcript import DEFAULT_BODY_CAP, Transcript
from runner.spec.model import Spec
from runner.target import open_target
from runner.terminal import TerminalProgress, summary, verbose_observer

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
    and report.json is rewritten after each, so a crash leaves a readable report."""
    environ = os.environ if environ is None else environ
    stop = stop or StopFlag()
    spec = load_for_run(spec_path, environ)
    selected = {job.name for job in select_jobs(spec, options.only)}
    started = dt.datetime.now(UTC)
    run_dir = options.out or default_run_dir(spec, started)
    redactor = Redactor()
    with open_target(spec, environ, redactor, sandbox_options=options.sandbox) as target:
        run_dir.mkdir(parents=True, exist_ok=True)
        report = RunReport("succeeded", _iso(started), None, str(spec.path))
        report_path = run_dir / "report.json"
        observer = verbose_observer(redactor) if options.verbose and not options.quiet else None
        with Transcript(run_dir, redactor, options.body_cap) as transcript:
            if hasattr(target.auth, "transcript"):
                target.auth.transcript = transcript  # the OAuth token exchange
            client = ApiClient(
                base_url=target.base_url,
                client_id=spec.client_id,
                endpoints=api.endpoints(spec.endpoints),
                auth=target.auth,
                transcript=transcript,
                observer=observer,
            )
            progress = TerminalProgress(enabled=None if not options.quiet else False)
            runner = JobRunner(spec, client, run_dir / "exports", progress=progress, stop=stop)
            report.write(report_path)
            try:
                for job in spec.jobs:
                    result = _skip_reason(job, selected, report, options, stop)
                    if result is None:
                        result = runner.run_job(job)
                    report.jobs.append(result)
                    report.write(report_path)
            finally:
                client.close()
        report.finished = _iso(dt.datetime.now(UTC))
        report.status = _run_status(report)
        report.write(report_path)
        write_junit(run_dir / "junit.xml", report)
        return RunOutcome(report, run_dir, target.sandbox)


def _skip_reason(job, selected, report: RunReport, options: RunOptions, stop: StopFlag):
    """A result for a job that will not run, or None when it should."""
    if job.name not in selected:
        return JobResult(job.name, job.segment_group, "skipped", notes=["not selected (--only)"])
    if stop.requested:
        return JobResult(
            job.name, job.segment_group, "interrupted", error="not started: interrupted"
        )
    if options.fail_fast and report.count("failed"):
        note = "not run: an earlier job failed (--fail-fast)"
        return JobResult(job.name, job.segment_group, "skipped", notes=[note])
    return None


def _run_status(report: RunReport) -> str:
    if report.count("interrupted"):
        return "interrupted"
    if report.count("failed"):
        return "failed"
    return "succeeded"


def _install_signal_handlers(stop: StopFlag) -> None:
    """First SIGINT/SIGTERM: finish the page in hand, then stop. Second: at once."""

    def handle(signum, frame):
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True
        print(
            "\nsegrun: stopping after the page in hand (Ctrl-C again to stop at once)",
            file=sys.stderr,
        )

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
    help="Run directory [default: runs/<UTC timestamp>-<spec name>/].",
)
@click.option("--dry-run", is_flag=True, help="Print the plan (as `segrun plan`) and send nothing.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    help="With --dry-run: the plan's format.",
)
@click.option("--only", multiple=True, metavar="NAME", help="Run only this job (repeatable).")
@click.option("--fail-fast", is_flag=True, help="Skip the remaining jobs after one fails.")
@click.option(
    "-q", "--quiet", is_flag=True, help="No progress and no summary; the exit code says it all."
)
@click.option(
    "-v", "--verbose", is_flag=True, help="Print each request attempt (redacted) on stderr."
)
@click.option(
    "--transcript-body-cap",
    "body_cap",
    type=click.IntRange(min=0),
    default=DEFAULT_BODY_CAP,
    show_default=True,
    help="Bytes of each response body kept in the transcripts.",
)
@click.option(
    "--sandbox-profiles",
    type=click.IntRange(min=0),
    default=None,
    help="environment: sandbox: how many synthetic profiles it holds.",
)
@click.option("--sandbox-seed", type=int, default=None, help="environment: sandbox: its data seed.")
@click.option(
    "--sandbox-faults",
    default=None,
    metavar="SPEC",
    help="environment: sandbox: a fault plan to rehearse against (see `segrun sandbox --help`).",
)
def command(
    spec,
    out,
    dry_run,
    fmt,
    only,
    fail_fast,
    quiet,
    verbose,
    body_cap,
    sandbox_profiles,
    sandbox_seed,
    sandbox_faults,
) -> None:
    """Run the jobs of SPEC in order through the export flow.

    For each job: Initiate; Status every poll.interval until Complete; Retrieve
    pages of page_size with keepAlive=true, streaming records to the job's
    output; Commit; then check that the records written equal RowCount and
    TotalResults. The run directory receives exports/, transcript.har,
    transcript.txt, report.json and junit.xml. A failing job does not stop the
    ones after it unless --fail-fast.
    """
    if dry_run:
        from runner.commands.plan import plan_jobs, render_json, render_text

        loaded, planned = plan_jobs(spec, only)
        click.echo(
            render_json(planned) if fmt == "json" else render_text(loaded, planned), nl=False
        )
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
    options = RunOptions(out, only, fail_fast, quiet, verbose, body_cap, sandbox)
    stop = StopFlag()
    _install_signal_handlers(stop)
    outcome = run_spec(spec, options, stop=stop)
    if not quiet:
        click.echo(summary(outcome.report, str(outcome.run_dir)), nl=False)
    raise SystemExit(outcome.report.exit_code)
