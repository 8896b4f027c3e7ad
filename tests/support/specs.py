"""Job specs the tests write: aimed at a sandbox or at the fake server."""

from __future__ import annotations

import textwrap
from pathlib import Path

from runner.apifacts import api


def write_spec(tmp_path: Path, base_url: str | None, jobs: str, top: str = "") -> Path:
    """`tmp_path/spec.yaml` aimed at a running sandbox or server (the demo account
    signs), or at the embedded sandbox without a base_url; quick polls and retries."""
    head = "version: 1\nclient_id: SanchezAssociates\nenvironment: sandbox\n"
    if base_url:
        head += f"base_url: {base_url}\n"
    head += textwrap.dedent(top)
    head += (
        "defaults:\n  poll: {interval: 50ms, timeout: 20s}\n"
        "  retry: {attempts: 4, backoff: 0s, max_backoff: 0s}\n"
    )
    path = tmp_path / "spec.yaml"
    path.write_text(
        head + "jobs:\n" + textwrap.indent(textwrap.dedent(jobs).strip("\n"), "  ") + "\n"
    )
    return path


def one_job(page_size: int = 5, concurrency: int = 1, extra: str = "") -> str:
    """The jobs of a spec holding one job, `one`."""
    return (
        f"- name: one\n  segment_group: VIP Customers\n  page_size: {page_size}\n"
        f"  concurrency: {concurrency}\n{extra}"
    )


#: a staging run needs an endpoint map a person confirmed: the paths the fake server
#: and the sandbox serve, written out and marked confirmed, saying where from
CONFIRMED_ENDPOINTS = "".join(
    f'  {call}: {{method: {e.method}, path: "{e.path}"}}\n' for call, e in api.endpoints().items()
).join(
    (
        "endpoints:\n  confirmed: true\n"
        "  confirmed_by: the paths the test servers serve (tests/support)\n",
        "",
    )
)


def spec_text(base_url: str, *, oauth: bool = False, jobs: str | None = None) -> str:
    """A staging spec aimed at the fake server (http is allowed for loopback), its
    secret in HOSTILE_SECRET (the OAuth client's id in HOSTILE_CLIENT_ID)."""
    if oauth:
        auth = (
            "auth:\n  scheme: oauth2\n  user_id: hostile-user\n"
            f"  token_url: {base_url}token\n"
            "  client_id_env: HOSTILE_CLIENT_ID\n  client_secret_env: HOSTILE_SECRET\n"
        )
    else:
        auth = (
            "auth:\n  scheme: PNAUTHINFO3-HMAC-SHA256\n  user_id: hostile-user\n"
            "  secret_env: HOSTILE_SECRET\n"
        )
    jobs = jobs or (
        "- name: people\n  segment_group: VIP Customers\n  last_datetime: last_success\n"
    )
    return (
        "version: 1\nclient_id: HostileCo\nenvironment: staging\n"
        f"base_url: {base_url}\n{auth}{CONFIRMED_ENDPOINTS}"
        "defaults:\n  poll: {interval: 50ms, timeout: 20s}\n"
        "  retry: {attempts: 2, backoff: 0s, max_backoff: 0s}\n"
        "jobs:\n" + textwrap.indent(jobs, "  ")
    )
