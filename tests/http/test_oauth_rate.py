"""The OAuth token request is a request like any other: it takes its place in the run's
rate budget, so a run whose tokens expire quickly still never sends more than
`rate_limit` requests in any second, token requests and API calls together."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap

import pytest

from tests.support.processes import segrun_argv

RATE = 4
RECORDS, PAGE = 30, 5


def most_in_one_second(times: list[float]) -> tuple[int, list[float]]:
    """The most arrivals within one second of each other, and those arrivals."""
    times = sorted(times)
    best, first, worst = 0, 0, (0, 0)
    for last, t in enumerate(times):
        while t - times[first] >= 1.0:
            first += 1
        if last - first + 1 > best:
            best, worst = last - first + 1, (first, last + 1)
    return best, times[worst[0] : worst[1]]


# The client fetches a token again 30 s before it expires. 30.5: due every half second,
# before a request waits for its place in the budget; 0.5: due at once, and expired
# again by the time the request is signed after its wait, so fetched while signing.
@pytest.mark.parametrize("expires_in", [30.5, 0.5])
def test_token_requests_count_against_the_rate_limit(tmp_path, fake_server, expires_in):
    # the "oauth-rate" scenario (tests/support/fake_server.py): tokens that last
    # expires_in, a flow that refuses any other bearer, and every arrival's time
    server = fake_server
    server.expires_in, server.rowcount = expires_in, RECORDS
    url = server.url("oauth-rate")
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
            rate_limit: {{requests_per_second: {RATE}}}
            defaults:
              page_size: {PAGE}
              concurrency: 2
              poll: {{interval: 50ms, timeout: 20s}}
              retry: {{attempts: 1}}
            jobs:
              - name: a
                segment_group: VIP
              - name: b
                segment_group: VIP
        """)
    )
    env = {k: v for k, v in os.environ.items() if k != "SEGRUN_DEBUG"}
    env.update(OAUTH_ID="id-" + "i" * 45, OAUTH_SECRET="client-secret-" + "s" * 50)
    done = subprocess.run(  # its own process: the server's clock is not held up
        [*segrun_argv(), "run", str(spec), "--out", str(tmp_path / "run"), "-q", "--jobs", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    for name in ("a", "b"):
        lines = (tmp_path / "run" / "exports" / f"{name}.jsonl").read_text().splitlines()
        assert [json.loads(line)["ProfileId"] for line in lines] == list(range(1, RECORDS + 1))
    kinds = [what for _, what in server.arrivals]
    assert kinds.count("token") >= 3, kinds  # tokens expired and were fetched again mid-run
    assert server.refused == 0
    seen, bunch = most_in_one_second([t for t, _ in server.arrivals])
    first = min(t for t, _ in server.arrivals)
    assert seen <= RATE, [round(t - first, 3) for t in bunch]
