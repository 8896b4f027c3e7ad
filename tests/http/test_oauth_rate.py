"""The OAuth token request is a request like any other: it takes its place in the run's
rate budget, so a run whose tokens expire quickly still never sends more than
`rate_limit` requests in any second, token requests and API calls together."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap

import pytest

from tests.support.fake_server import FakeServer
from tests.support.processes import segrun_argv


def most_in_one_second(times: list[float]) -> tuple[int, list[float]]:
    """The most arrivals within one second of each other (any window [t, t + 1 s),
    sliding, not calendar seconds), and those arrivals."""
    times = sorted(times)
    best, first, worst = 0, 0, (0, 0)
    for last, t in enumerate(times):
        while t - times[first] >= 1.0:
            first += 1
        if last - first + 1 > best:
            best, worst = last - first + 1, (first, last + 1)
    return best, times[worst[0] : worst[1]]


def export_with_tokens(
    tmp_path, server: FakeServer, *, rate: int, jobs: int, records: int, expires_in: float
) -> None:
    """`segrun run` with `--jobs jobs` against the "oauth-rate" scenario
    (tests/support/fake_server.py): tokens that last `expires_in`, a flow that
    refuses any other bearer, and every arrival's time. Every job must export
    all `records`, pages of 5, 2 in flight."""
    server.expires_in, server.rowcount = expires_in, records
    url = server.url("oauth-rate")
    names = [chr(ord("a") + n) for n in range(jobs)]
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        textwrap.dedent(f"""\
            version: 1
            client_id: SanchezAssociates
            environment: sandbox
            base_url: {url}Profiles/v4/
            auth:
              scheme: oauth2
              user_id: demo-user
              token_url: {url}token
              client_id_env: OAUTH_ID
              client_secret_env: OAUTH_SECRET
            rate_limit: {{requests_per_second: {rate}}}
            defaults:
              page_size: 5
              concurrency: 2
              poll: {{interval: 50ms, timeout: 20s}}
              retry: {{attempts: 1}}
            jobs:
        """)
        + "".join(f"  - name: {name}\n    segment_group: VIP\n" for name in names)
    )
    env = {k: v for k, v in os.environ.items() if k != "SEGRUN_DEBUG"}
    env.update(OAUTH_ID="id-" + "i" * 45, OAUTH_SECRET="client-secret-" + "s" * 50)
    done = subprocess.run(  # its own process: the server's clock is not held up
        [*segrun_argv(), "run", str(spec), "--out", str(tmp_path / "run"), "-q"]
        + ["--jobs", str(jobs)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    for name in names:
        lines = (tmp_path / "run" / "exports" / f"{name}.jsonl").read_text().splitlines()
        assert [json.loads(line)["ProfileId"] for line in lines] == list(range(1, records + 1))
    assert server.refused == 0


def assert_never_above(server: FakeServer, rate: int) -> None:
    """What runner/http/pacing.py promises for R >= 1, measured where it matters: no
    window of one second, wherever it starts, holds more than floor(R) arrivals."""
    seen, bunch = most_in_one_second([t for t, _ in server.arrivals])
    first = min(t for t, _ in server.arrivals)
    assert seen <= rate, [round(t - first, 3) for t in bunch]


# The client fetches a token again 30 s before it expires. 30.5: due every half second,
# before a request waits for its place in the budget; 0.5: due at once, and expired
# again by the time the request is signed after its wait, so fetched while signing.
@pytest.mark.parametrize("expires_in", [30.5, 0.5])
def test_token_requests_count_against_the_rate_limit(tmp_path, fake_server, expires_in):
    export_with_tokens(tmp_path, fake_server, rate=4, jobs=2, records=30, expires_in=expires_in)
    kinds = [what for _, what in fake_server.arrivals]
    assert kinds.count("token") >= 3, kinds  # tokens expired and were fetched again mid-run
    assert_never_above(fake_server, 4)


def test_four_jobs_sharing_second_long_tokens_keep_the_limit_in_every_second(tmp_path, fake_server):
    """Four jobs in flight, each with pages in flight, wait for one token endpoint on
    the API's own server, whose tokens expire every second: token requests and API
    calls together, no one-second window at the server holds more than 2 of them."""
    export_with_tokens(tmp_path, fake_server, rate=2, jobs=4, records=5, expires_in=1.0)
    kinds = [what for _, what in fake_server.arrivals]
    assert kinds.count("token") >= 4, kinds
    assert {"initiate", "status", "retrieve", "commit"} <= set(kinds)
    assert_never_above(fake_server, 2)
