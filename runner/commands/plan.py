"""`segrun plan` (and `segrun run --dry-run`): the exact requests, nothing sent.

The executor runs each job with a transport that keeps the first request instead
of sending it, so the plan is what a run would send, not a re-implementation.

A job's match values are people (e-mail addresses, phone numbers, ids), and a plan
is read in CI logs and review threads: it shows how many there are and the first
few masked (runner/redaction/personal.py), in every format; `--show-values` prints
them all, as the run sends them.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from runner import exitcodes
from runner.http.client import ApiClient, DryRunAdapter
from runner.http.target import SANDBOX_PLACEHOLDER_URL, open_target
from runner.jobspec import endpoint_map, readiness
from runner.jobspec.check import CheckResult
from runner.jobspec.loading import load_checked, select_jobs, show_refusals
from runner.jobspec.model import Spec
from runner.redaction.personal import SAMPLES, masked
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
) -> tuple[CheckResult, list[PlannedJob]]:
    """The checked spec (with what `run` would refuse in it) and each job's requests.
    A map file that cannot be used stops the plan too (its URLs need the map)."""
    environ = os.environ if environ is None else environ
    result = load_checked(spec_path, environ, endpoints_file)
    spec, ready = result.spec, result.readiness
    assert spec is not None and ready is not None  # load_checked raises otherwise
    jobs = select_jobs(spec, only)
    endpoints = ready.endpoints
    if endpoints is None:
        raise next(r for r in ready.refusals if r.rule == readiness.MAP_FILE).as_error()
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
    return result, planned


def _unconfirmed(spec: Spec, endpoints: endpoint_map.EndpointMap) -> bool:
    return endpoint_map.refusal(spec.environment, endpoints, spec.base_url) is not None


def _mark_endpoints(spec, endpoints: endpoint_map.EndpointMap, planned: list[PlannedJob]) -> None:
    """A real environment's plan says which paths a person has not confirmed: a
    run refuses them until one does (runner/jobspec/endpoint_map.py)."""
    unconfirmed = _unconfirmed(spec, endpoints)
    for job in planned:
        for request in job.requests:
            request["endpoint_confirmed"] = not unconfirmed
        if unconfirmed:
            why = [f"{', '.join(endpoints.inferred_calls)} inferred"] * bool(
                endpoints.inferred_calls
            )
            why += [f"the map {endpoints.unconfirmed}"] * bool(endpoints.unconfirmed)
            job.notes.append(
                f"UNCONFIRMED endpoint paths ({'; '.join(why)}): `segrun run` refuses them "
                "for a real account until a person confirms the map (`segrun endpoints`)"
            )


def endpoints_line(spec, endpoints: endpoint_map.EndpointMap) -> str:
    if _unconfirmed(spec, endpoints):
        mark = "UNCONFIRMED"
    elif endpoints.confirmed:
        by = endpoints.confirmed_by
        mark = f"confirmed by {_printable(by)}" if by else "confirmed"
    else:
        mark = "served by the sandbox"
    return f"endpoint map: {endpoints.source} ({mark})"


def shown_request(request: dict, show_values: bool = False) -> dict:
    """A request as a plan prints it: an Initiate body's `Values` replaced by their count
    (the other fields byte for byte, as the client encodes them) unless `show_values`,
    and `values` saying how many there are, with the first few masked."""
    body = request.get("body")
    try:
        sent = strict_json.loads(body) if isinstance(body, str) else None
    except ValueError:
        sent = None
    if not isinstance(sent, dict) or not isinstance(sent.get("Values"), list):
        return request
    values = sent["Values"]
    shown = dict(request)
    shown["values"] = {
        "count": len(values),
        "masked": [masked(str(value)) for value in values[:SAMPLES]],
    }
    if not show_values:
        sent["Values"] = f"<{len(values)} values: not shown>"
        shown["body"] = strict_json.dumps(sent, separators=(",", ":"), ensure_ascii=False)
    return shown


def _values_line(values: dict, show_values: bool) -> str:
    count = values["count"]
    if show_values:
        return f"  Values: {count:,}, in full in the body above (personal data)"
    first = "" if count <= len(values["masked"]) else f"; the first {len(values['masked'])}"
    return (
        f"  Values: {count:,}{first}, masked: {', '.join(values['masked'])} "
        "(`segrun plan --show-values` prints them all: personal data)"
    )


def _printable(text: str) -> str:
    """A person's words from a map, on one line and unable to drive the terminal."""
    return "".join(c if c.isprintable() else "?" for c in " ".join(text.split()))


def render_text(
    spec,
    planned: list[PlannedJob],
    endpoints: endpoint_map.EndpointMap,
    *,
    show_values: bool = False,
) -> str:
    jobs = f"{len(planned)} job{'s' * (len(planned) != 1)}"
    lines = [f"plan for {spec.path}: {jobs}, in order; nothing is sent"]
    lines.append(endpoints_line(spec, endpoints))
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
            request = shown_request(request, show_values)
            mark = "" if request.get("endpoint_confirmed", True) else "  [UNCONFIRMED path]"
            lines.append(f"  {request['method']} {request['url']}{mark}")
            lines += [f"  {name}: {value}" for name, value in request["headers"].items()]
            if request["body"] is not None:
                lines += ["", f"  {request['body']}"]
            if "values" in request:
                lines.append(_values_line(request["values"], show_values))
        lines.append("  then:")
        lines += [f"    {step}" for step in job.then]
    return "\n".join(lines) + "\n"


def print_plan(
    spec_path: str,
    only: tuple[str, ...],
    fmt: str,
    state: Path | None,
    endpoints_file: Path | None = None,
    *,
    show_values: bool = False,
) -> None:
    """What `segrun plan` and `segrun run --dry-run` both print."""
    checked, planned = plan_jobs(spec_path, only, state=state, endpoints_file=endpoints_file)
    assert checked.spec is not None and checked.readiness is not None
    endpoints = checked.readiness.endpoints
    assert endpoints is not None  # plan_jobs raises otherwise
    show_refusals(checked)  # on stderr: what `run` refuses in this spec
    if fmt == "json":
        text = render_json(planned, show_values=show_values)
    else:
        text = render_text(checked.spec, planned, endpoints, show_values=show_values)
    click.echo(text, nl=False)


def render_json(planned: list[PlannedJob], *, show_values: bool = False) -> str:
    jobs = []
    for job in planned:
        shown = job.to_json()
        shown["requests"] = [shown_request(r, show_values) for r in shown["requests"]]
        jobs.append(shown)
    return strict_json.dumps({"jobs": jobs}, indent=2, ensure_ascii=False) + "\n"


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
@click.option(
    "--show-values",
    is_flag=True,
    help="Print every match value in the Initiate body, as sent (personal data: e-mail "
    "addresses, phone numbers, ids); by default their count and the first 3, masked.",
)
def command(
    spec: str,
    only: tuple[str, ...],
    fmt: str,
    state: Path | None,
    endpoints_file: Path | None,
    show_values: bool,
) -> None:
    """Show exactly which requests a run would send, in order, and send nothing.

    For each job: the Initiate request as it would go out (method, URL with
    percent-encoded path parameters, headers with Authorization redacted, the
    JSON body byte for byte but for its Values, which are personal data: their
    count and the first 3 masked, all of them with --show-values), the Status /
    Retrieve / Commit calls after it, and the effective LastDateTime the server
    applies after its millisecond rounding. Opens no connection. Exits 2 on
    anything a run would fail on before sending: an invalid spec, an unset
    ${VAR}, an unreadable values_file, a missing secret, an endpoint map file it
    cannot use. What else a run would refuse (for production and staging, an
    endpoint map a person has not confirmed; its paths are marked UNCONFIRMED)
    is a warning on stderr, at the spec's line.
    """
    print_plan(spec, only, fmt, state, endpoints_file, show_values=show_values)
