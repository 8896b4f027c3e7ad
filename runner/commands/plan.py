"""`segrun plan` (and `segrun run --dry-run`): the exact requests, nothing sent.

The executor runs each job with a transport that keeps the first request instead
of sending it, so the plan is what a run would send, not a re-implementation.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from runner import exitcodes
from runner.http.client import ApiClient, DryRunAdapter
from runner.http.target import SANDBOX_PLACEHOLDER_URL, open_target
from runner.jobspec import endpoint_map
from runner.jobspec.loading import load_for_run, select_jobs
from runner.jobspec.model import Spec
from runner.redaction.sink import current
from runner.run.execute import JobRunner
from runner.run.plan import PlannedJob
from runner.run.state import StateFile, state_path
from runner.system import strict_json


def plan_jobs(
    spec_path: str,
    only: tuple[str, ...] = (),
    environ=None,
    state: Path | None = None,
    endpoints_file: Path | None = None,
) -> tuple[Spec, list[PlannedJob]]:
    environ = os.environ if environ is None else environ
    spec = load_for_run(spec_path, environ)
    jobs = select_jobs(spec, only)
    endpoints = endpoint_map.for_spec(spec, endpoints_file)
    # The process's redactor: the plan is printed through it, like everything.
    with open_target(spec, environ, current().redactor, dry_run=True) as target:
        client = ApiClient(
            base_url=target.base_url,
            client_id=spec.client_id,
            endpoints=endpoints.endpoints,
            auth=target.auth,
            adapter=DryRunAdapter(),
        )
        state_file = StateFile(state_path(spec.path, state))
        runner = JobRunner(spec, client, state=state_file)
        planned = [runner.plan_job(job) for job in jobs]
    _mark_endpoints(spec, endpoints, planned)
    return spec, planned


def _mark_endpoints(spec, endpoints: endpoint_map.EndpointMap, planned: list[PlannedJob]) -> None:
    """A real environment's plan says which paths are only inferred: a run
    refuses them until the user confirms a map (runner/jobspec/endpoint_map.py)."""
    unconfirmed = spec.environment in endpoint_map.NEEDS_CONFIRMATION and not endpoints.confirmed
    for job in planned:
        for request in job.requests:
            request["endpoint_confirmed"] = not unconfirmed
        if unconfirmed:
            job.notes.append(
                f"UNCONFIRMED endpoint paths ({', '.join(endpoints.inferred_calls)}): inferred, "
                "not published; `segrun run` refuses them for "
                f"{spec.environment} until you confirm a map (`segrun endpoints`)"
            )


def endpoints_line(spec, endpoints: endpoint_map.EndpointMap) -> str:
    mark = (
        "UNCONFIRMED"
        if spec.environment in endpoint_map.NEEDS_CONFIRMATION and not endpoints.confirmed
        else "confirmed"
        if endpoints.confirmed
        else "served by the sandbox"
    )
    return f"endpoint map: {endpoints.source} ({mark})"


def render_text(spec, planned: list[PlannedJob], endpoints_file: Path | None = None) -> str:
    jobs = f"{len(planned)} job{'s' * (len(planned) != 1)}"
    lines = [f"plan for {spec.path}: {jobs}, in order; nothing is sent"]
    lines.append(endpoints_line(spec, endpoint_map.for_spec(spec, endpoints_file)))
    if spec.requests_per_second is not None:
        lines.append(
            f"rate limit: at most {spec.requests_per_second:g} requests in any second, every "
            "job's together (rate_limit)"
        )
    if spec.environment == "sandbox" and not spec.base_url:
        lines.append(
            "(environment sandbox: the embedded sandbox listens on a free port chosen at run "
            f"time; {SANDBOX_PLACEHOLDER_URL} stands for it)"
        )
    for number, job in enumerate(planned, 1):
        lines += [
            "",
            f"job {number} of {len(planned)}: {job.name} (segment group {job.segment_group!r})",
        ]
        effective = job.effective_last_datetime or "none: every profile of the segment group"
        lines.append(f"  effective LastDateTime: {effective}")
        lines += [
            f"  {note}" if note.startswith("warning: ") else f"  note: {note}" for note in job.notes
        ]
        for request in job.requests:
            mark = "" if request.get("endpoint_confirmed", True) else "  [UNCONFIRMED path]"
            lines.append(f"  {request['method']} {request['url']}{mark}")
            lines += [f"  {name}: {value}" for name, value in request["headers"].items()]
            if request["body"] is not None:
                lines += ["", f"  {request['body']}"]
        lines.append("  then:")
        lines += [f"    {step}" for step in job.then]
    return "\n".join(lines) + "\n"


def print_plan(
    spec_path: str,
    only: tuple[str, ...],
    fmt: str,
    state: Path | None,
    endpoints_file: Path | None = None,
) -> None:
    """What `segrun plan` and `segrun run --dry-run` both print."""
    loaded, planned = plan_jobs(spec_path, only, state=state, endpoints_file=endpoints_file)
    text = render_json(planned) if fmt == "json" else render_text(loaded, planned, endpoints_file)
    click.echo(text, nl=False)


def render_json(planned: list[PlannedJob]) -> str:
    document = {"jobs": [p.to_json() for p in planned]}
    return strict_json.dumps(document, indent=2, ensure_ascii=False) + "\n"


@click.command("plan", epilog=exitcodes.HELP)
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--only", multiple=True, metavar="NAME", help="Plan only this job (repeatable).")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
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
    help="An endpoint map file to plan with (as `segrun run --endpoints`).",
)
def command(
    spec: str, only: tuple[str, ...], fmt: str, state: Path | None, endpoints_file: Path | None
) -> None:
    """Show exactly which requests a run would send, in order, and send nothing.

    For each job: the Initiate request as it would go out (method, URL with
    percent-encoded path parameters, headers with Authorization redacted, the
    JSON body byte for byte), the Status / Retrieve / Commit calls after it, and
    the effective LastDateTime the server applies after its millisecond
    rounding. Opens no connection. Exits 2 on anything a run would fail on
    before sending: an invalid spec, an unset ${VAR}, an unreadable
    values_file, a missing secret. For production and staging, paths not
    confirmed by an endpoint map are marked UNCONFIRMED (a run refuses them).
    """
    print_plan(spec, only, fmt, state, endpoints_file)
