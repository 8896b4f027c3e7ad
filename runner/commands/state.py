"""`segrun state`: see and clear the watermarks of `last_success` jobs."""

from __future__ import annotations

from pathlib import Path

import click

from runner import exitcodes
from runner.errors import SegrunError
from runner.jobspec.loading import load_for_run, select_jobs
from runner.run.state import StateFile, spec_identity, state_path, watermark_key
from runner.system import strict_json


def _state_for(spec_path: str, state: Path | None):
    spec = load_for_run(spec_path)
    return spec, StateFile(state_path(spec.path, state))


@click.group("state", epilog=exitcodes.HELP)
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


@command.command("show", epilog=exitcodes.HELP)
@click.argument("spec", type=click.Path(dir_okay=False))
@click.argument("jobs", nargs=-1)
@_STATE_OPTION
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one object with each job's watermark and recent results, for scripts and checks.",
)
def show(spec: str, jobs: tuple[str, ...], state: Path | None, fmt: str) -> None:
    """Print the watermark of each last_success job of SPEC (or of JOBS), for
    the spec's target, each job's recent successful results, and the spec's
    watermarks stored for other targets."""
    loaded, store = _state_for(spec, state)
    chosen = select_jobs(loaded, jobs, given_as="JOB")
    mine = store.entries(spec_identity(loaded, store.path))
    shown = []
    for job in chosen:
        key = watermark_key(loaded, job, store.path)
        entry = mine.pop(key, None)
        shown.append(
            {
                "job": job.name,
                "incremental": job.incremental,
                "watermark": entry["last_success"] if entry else None,
                "stored": entry["stored"] if entry else None,
                "history": store.history(key),
            }
        )
    names = {job.name for job in chosen}
    others = [
        {
            "job": entry["job"],
            "watermark": entry["last_success"],
            "target": entry.get("base_url") or entry.get("environment"),
            "client_id": entry.get("client_id"),
            "segment_group": entry.get("segment_group"),
        }
        for entry in mine.values()
        if entry.get("job") in names
    ]
    if fmt == "json":
        document = {
            "state": str(store.path),
            "notes": store.notes,
            "jobs": shown,
            "other_targets": others,
        }
        click.echo(strict_json.dumps(document, indent=2, ensure_ascii=False))
        return
    for note in store.notes:
        click.echo(f"note: {note}")
    click.echo(f"state file: {store.path}")
    for row in shown:
        if row["incremental"]:
            told = (
                f"{row['watermark']} (stored {row['stored']})"
                if row["watermark"]
                else "none: the next run is a full export"
            )
            click.echo(f"{row['job']}: {told}")
        if row["history"]:
            last = row["history"][-1]
            click.echo(
                f"{row['job']}: last success {last['records']:,} records "
                f"(Initiate {last['initiated']}; {len(row['history'])} kept)"
            )
    for other in others:
        click.echo(
            f"{other['job']}: {other['watermark']} for {other['target']} "
            f"(client {other['client_id']}, segment group {other['segment_group']!r}; "
            "not this spec's current target or request)"
        )


@command.command("reset", epilog=exitcodes.HELP)
@click.argument("spec", type=click.Path(dir_okay=False))
@click.argument("jobs", nargs=-1)
@_STATE_OPTION
def reset(spec: str, jobs: tuple[str, ...], state: Path | None) -> None:
    """Forget the watermarks of SPEC (or of its JOBS), for every target: their
    next run is a full export. Other specs' watermarks are never touched."""
    loaded, store = _state_for(spec, state)
    chosen = select_jobs(loaded, jobs, given_as="JOB")
    if jobs and not all(j.incremental for j in chosen):
        plain = ", ".join(j.name for j in chosen if not j.incremental)
        raise SegrunError(f"{plain}: not a last_success job, so it has no watermark")
    names = {j.name for j in chosen}
    with store.locked(f"segrun state reset {spec}"):
        mine = store.entries(spec_identity(loaded, store.path))
        keys = [k for k, e in mine.items() if not jobs or e.get("job") in names]
        removed = store.reset(keys)
    cleared = sorted({mine[k]["job"] for k in removed if isinstance(mine[k].get("job"), str)})
    click.echo(f"cleared: {', '.join(cleared)}" if cleared else "nothing to clear")
