"""`segrun accept`: place an export whose expectations failed, after a person reviewed it."""

from __future__ import annotations

import datetime as dt
import getpass
import socket
from pathlib import Path

import click

from runner import exitcodes
from runner.apifacts import timestamps
from runner.errors import JobFailure, SegrunError
from runner.jobspec import endpoint_map
from runner.jobspec.loading import load_for_run, select_jobs
from runner.records.html import write_html_report_quietly
from runner.records.junit import write_junit
from runner.records.report import JobResult, RunReport
from runner.run import rundir
from runner.run.checkpoint import Checkpoints
from runner.run.lifecycle import Lifecycle
from runner.run.state import StateFile, hold_lock, state_path


@click.command("accept", epilog=exitcodes.HELP)
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("job")
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The state file the run used [default: the one its report names].",
)
@click.option(
    "--endpoints",
    "endpoints_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The endpoint map file the run was given with --endpoints, if any.",
)
def command(run_dir: Path, job: str, state: Path | None, endpoints_file: Path | None) -> None:
    """Place JOB's export in RUN_DIR although an expectation failed, once a person has
    looked at it: the export gets its name, the watermark and the job's history move
    exactly as a success would have moved them, and report.json records who accepted
    it and when. Nothing is sent (no Commit: the server's copy expires on its own).
    Running it again changes nothing."""
    report_path = run_dir / "report.json"
    with hold_lock(run_dir / ".lock", f"segrun accept {run_dir} {job}"):
        rundir.refuse_foreign(run_dir, "accept")  # before anything is written in it
        # read under the lock: two accepts at once must not write over each other
        report = _report(report_path)
        spec = load_for_run(report.spec)
        (chosen,) = select_jobs(spec, (job,), given_as="JOB")
        earlier = next((r for r in report.jobs if r.name == chosen.name), None)
        if earlier is None:
            raise SegrunError(f"job {chosen.name} did not run in {run_dir}")
        if earlier.status == "succeeded" and earlier.accepted is None:
            raise SegrunError(f"job {chosen.name} succeeded: there is nothing to accept")
        if earlier.status != "succeeded" and earlier.kind != "expectation":
            raise SegrunError(
                f"job {chosen.name} {earlier.status} ({earlier.kind or 'no kind'}): only an "
                "export held by its expectations can be accepted; resume the run instead"
            )
        store = StateFile(_state_of(report, spec.path, state))
        endpoints = endpoint_map.for_spec(spec, endpoints_file)
        rundir.remove_stale_temporaries(run_dir)

        def record(result: JobResult) -> None:
            report.jobs = [result if r.name == result.name else r for r in report.jobs]
            report.write(report_path)

        life = Lifecycle(spec, run_dir, Checkpoints(run_dir), store, record, endpoints.endpoints)
        with store.locked(f"segrun accept {run_dir} {chosen.name}"):
            try:
                result = life.accept(
                    chosen, earlier, _who(), timestamps.to_wire(timestamps.utc_now())
                )
            except JobFailure as e:  # what is on disk is not what was checked
                raise SegrunError(f"job {chosen.name} cannot be accepted: {e}") from None
        report.settle(report.finished or timestamps.to_wire(dt.datetime.now(dt.timezone.utc)))
        report.write(report_path)
        write_junit(run_dir / "junit.xml", report)
        write_html_report_quietly(run_dir)
        rundir.tidy(run_dir)
    click.echo(f"accepted: {chosen.name}: {result.output} ({result.records:,} records)")
    click.echo(f"run {report.status}")


def _report(path: Path) -> RunReport:
    try:
        return RunReport.load(path)
    except FileNotFoundError:
        raise SegrunError(f"{path.parent}: no report.json: not a segrun run directory") from None
    except (OSError, ValueError) as e:
        raise SegrunError(f"{path}: not a report segrun wrote ({e})") from None


def _state_of(report: RunReport, spec_path: Path, given: Path | None) -> Path:
    """The state file the run used: accepting must move that one's watermark, and no
    other's. A report without it (an older segrun) uses --state or the default."""
    if report.state is None:
        return state_path(spec_path, given)
    recorded = Path(report.state)
    if given is not None and Path(given).resolve() != recorded:
        raise SegrunError(
            f"--state {given}: the run used {recorded}; accept moves that state's watermark"
        )
    return recorded


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown user"
    return f"{user}@{socket.gethostname()}"
