"""`segrun state`: see and clear the watermarks of `last_success` jobs."""

from __future__ import annotations

from pathlib import Path

import click

from runner.errors import SegrunError
from runner.loading import load_for_run, select_jobs
from runner.state import StateFile, default_path, watermark_key


def _state_for(spec_path: str, state: Path | None):
    spec = load_for_run(spec_path)
    return spec, StateFile(state or default_path(spec.path))


@click.group("state")
def command() -> None:
    """See or clear the watermarks that `last_datetime: last_success` uses.

    A watermark is the time the last fully successful run of a job sent its
    Initiate; the next run asks only for profiles modified since. Clearing one
    makes the next run a full export.
    """


_STATE_OPTION = click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Watermark file [default: .segrun/state.json beside SPEC].",
)


@command.command("show")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.argument("jobs", nargs=-1)
@_STATE_OPTION
def show(spec: str, jobs: tuple[str, ...], state: Path | None) -> None:
    """Print the watermark of each last_success job of SPEC (or of JOBS)."""
    loaded, store = _state_for(spec, state)
    marks = store.read()["watermarks"]
    click.echo(f"state file: {store.path}")
    for job in select_jobs(loaded, jobs, given_as="JOB"):
        if not job.incremental:
            continue
        entry = marks.get(watermark_key(loaded, job))
        told = (
            f"{entry['last_success']} (stored {entry['stored']})"
            if entry
            else "none: the next run is a full export"
        )
        click.echo(f"{job.name}: {told}")


@command.command("reset")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.argument("jobs", nargs=-1)
@_STATE_OPTION
def reset(spec: str, jobs: tuple[str, ...], state: Path | None) -> None:
    """Forget the watermarks of SPEC's jobs (or of JOBS): their next run is a full export."""
    loaded, store = _state_for(spec, state)
    chosen = [j for j in select_jobs(loaded, jobs, given_as="JOB") if j.incremental]
    if jobs and len(chosen) != len(jobs):
        raise SegrunError("only last_success jobs have watermarks")
    with store.locked(f"segrun state reset {spec}"):
        removed = store.reset([watermark_key(loaded, j) for j in chosen])
    names = [j.name for j in chosen if watermark_key(loaded, j) in removed]
    click.echo(f"cleared: {', '.join(names)}" if names else "nothing to clear")
