"""`segrun sandbox`: serve the local simulator until Ctrl-C."""

from __future__ import annotations

import ipaddress
import socket

import click

from runner import exitcodes
from runner.apifacts import api
from runner.commands.numbers import number
from runner.errors import UsageError
from runner.jobspec.endpoint_map import load_file
from runner.sandbox import DEMO, FaultPlan, FaultSyntaxError, Sandbox, SandboxDataError
from runner.sandbox.faults import FAULT_HELP
from runner.sandbox.latency import Latency, LatencyError, parse_latency
from runner.sandbox.profiles import MAX_PROFILES
from runner.sandbox.sandbox import DEFAULT_PROFILES, DEFAULT_TOKEN_LIFETIME
from runner.sandbox.server import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS
from runner.sandbox.workers import PageWorkers, default_count
from runner.system.memory import reuse_page_buffers
from runner.system.numbers import MAX_COUNT, MIN_RATE


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(info[4][0]).is_loopback
                for info in socket.getaddrinfo(host, None)
            )
        except OSError:
            return False


class LatencyType(click.ParamType):
    """`--latency 100ms:20ms`: a bad value is click's usage error (exit 2)."""

    name = "LATENCY[:JITTER]"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, Latency):
            return value
        try:
            return parse_latency(str(value))
        except LatencyError as e:
            self.fail(str(e), param, ctx)


def _print_fault_help(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(FAULT_HELP, nl=False)
        ctx.exit(exitcodes.OK)


@click.command("sandbox", epilog=exitcodes.HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    type=number(int, 0, 65535),
    default=0,
    show_default=True,
    help="Port to bind; 0 picks a free one.",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a non-loopback --host (the demo secret is public: anyone could call it).",
)
@click.option("--data", type=click.Path(dir_okay=False), help="Segment groups YAML file.")
@click.option(
    "--profiles",
    type=number(int, 0, MAX_PROFILES),
    default=DEFAULT_PROFILES,
    show_default=True,
    help="Profile count.",
)
@click.option(
    "--seed",
    type=number(int, -MAX_COUNT),
    default=0,
    show_default=True,
    help="Seed of the synthetic profiles.",
)
@click.option(
    "--faults",
    default="",
    metavar="PLAN",
    help='Fault plan, e.g. "429=0.05,retrieve:503=0.1,drop=0.02,expire=0.1,seed=7" '
    "(the syntax: --help-faults).",
)
@click.option(
    "--help-faults",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_print_fault_help,
    help="Print the fault plan syntax and exit.",
)
@click.option(
    "--endpoints",
    "endpoints_file",
    type=click.Path(dir_okay=False),
    help="Serve this endpoint map (as `segrun endpoints` prints it) instead of the inferred one.",
)
@click.option(
    "--rate-limit",
    type=number(float, MIN_RATE, 1_000_000),
    metavar="RPS",
    help="Requests per second per client (at least one a day).",
)
@click.option(
    "--processing-seconds",
    type=number(float, 0, 86400),
    default=2.0,
    show_default=True,
    help="How long exports Process.",
)
@click.option(
    "--token-lifetime",
    type=number(float, 0, 10**7),
    default=DEFAULT_TOKEN_LIFETIME,
    show_default=True,
    help="Seconds until an access token expires.",
)
@click.option(
    "--latency",
    type=LatencyType(),
    default="0",
    help="Delay every API answer by this much, to rehearse the internet: 50ms, 0.2s, "
    "or 100ms:20ms for 100 ms +/- up to 20 ms (uniform, never negative). Concurrent "
    "requests wait out their delays side by side.",
)
@click.option(
    "--page-workers",
    type=number(int, 0, 64),
    default=None,
    metavar="N",
    help="Build pages in N worker processes, so concurrent readers use every core "
    "(default: one per CPU, at most 4; none on one CPU). 0 builds them in the server.",
)
@click.option(
    "--idle-timeout",
    type=number(float, above=0, high=86400),
    default=DEFAULT_IDLE_TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    help="Close a connection that sends nothing for this long, between requests or in the "
    "middle of one, or that takes longer than this to take an answer.",
)
@click.option(
    "--max-connections",
    type=number(int, 1, 65536),
    default=DEFAULT_MAX_CONNECTIONS,
    show_default=True,
    metavar="N",
    help="Serve at most N connections at once (a thread each); more wait to be accepted, "
    "and the one idle the longest is closed to make room.",
)
def command(
    host: str,
    port: int,
    allow_remote: bool,
    data: str | None,
    profiles: int,
    seed: int,
    faults: str,
    rate_limit: float | None,
    processing_seconds: float,
    token_lifetime: float,
    endpoints_file: str | None,
    latency: Latency,
    page_workers: int | None,
    idle_timeout: float,
    max_connections: int,
) -> None:
    """Serve a local simulator of the MyPreferences export API.

    Prints the base URL and the demo account's environment variables, then
    serves until Ctrl-C. The demo secret is public: it protects nothing.
    """
    if not allow_remote and not _is_loopback(host):
        raise UsageError(f"--host {host} is not a loopback address; add --allow-remote to mean it")
    served = api.endpoints(load_file(endpoints_file).calls) if endpoints_file else None
    # every page is built as one string: reuse its memory (runner/system/memory.py)
    reuse_page_buffers()
    # Forked first, before the sandbox starts a thread or opens its socket.
    workers = PageWorkers(default_count() if page_workers is None else page_workers)
    try:
        try:
            plan = FaultPlan.parse(faults)
            sandbox = Sandbox(
                profiles=profiles,
                seed=seed,
                data=data,
                faults=plan,
                rate_limit=rate_limit,
                processing_seconds=processing_seconds,
                token_lifetime_seconds=token_lifetime,
                endpoints=served,
                latency=latency,
                workers=workers if workers.count else None,
                idle_timeout=idle_timeout,
                max_connections=max_connections,
            )
            sandbox.bind(host, port)
        except (FaultSyntaxError, SandboxDataError, ValueError, OverflowError) as e:
            raise UsageError(f"sandbox: {e}") from None
        except OSError as e:
            raise UsageError(
                f"sandbox: cannot listen on {host}:{port}: {e.strerror or e}"
            ) from None
        click.echo(f"segrun sandbox serving {sandbox.base_url}")
        if latency:
            click.echo(f"# every answer is delayed by {latency}", err=True)
        if workers.count:
            click.echo(f"# pages are built by {workers.count} worker processes", err=True)
        click.echo("# the demo account (a published demo secret):")
        for name, value in DEMO.environment().items():
            click.echo(f"export {name}={value}")
        click.echo("# Ctrl-C stops it", err=True)
        try:
            sandbox.serve_forever()
        except KeyboardInterrupt:
            click.echo("segrun sandbox stopped", err=True)
            raise SystemExit(exitcodes.OK) from None
    finally:
        workers.close()
