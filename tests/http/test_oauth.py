"""OAuth 2.0 client credentials: one token for every job in flight, and a token
endpoint's odd answers fail the job cleanly, never the process."""

from __future__ import annotations

import threading

from runner.apifacts import api
from runner.http.client import ApiClient
from runner.http.signing import OAuth2ClientCredentials
from runner.redaction.redact import Redactor
from tests.support.fake_server import LONG_SECRET, OAUTH_TOKEN, FakeServer
from tests.support.processes import assert_well_behaved, run_segrun
from tests.support.specs import spec_text


def test_threads_wanting_a_token_at_once_fetch_it_once(fake_server):
    fake_server.oauth_token = "tok-abcdefgh-123"
    fake_server.token_delay = 0.3  # a slow token endpoint: every thread asks while it thinks
    url = fake_server.url("oauth-token") + "token"
    auth = OAuth2ClientCredentials(url, "cid", "client-secret-value", "X/u", Redactor())
    client = ApiClient(  # the token request goes through the client that signs with it
        base_url=fake_server.url("oauth-token"),
        client_id="X",
        endpoints=api.endpoints(),
        auth=auth,
    )
    tokens: list[str] = []
    threads = [threading.Thread(target=lambda: tokens.append(auth.token())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    client.close()
    assert tokens == ["tok-abcdefgh-123"] * 8
    assert fake_server.requests == [("POST", "/oauth-token/token")]


def test_an_oauth_token_with_control_characters_fails_the_job_cleanly(tmp_path, fake_server):
    fake_server.oauth_token = OAUTH_TOKEN
    spec = spec_text(fake_server.url("oauth-bad"), oauth=True)
    outcome = run_segrun(tmp_path, spec, LONG_SECRET)
    assert outcome.code == 1, outcome.stderr
    assert "cannot be sent in a header" in outcome.report()["jobs"][0]["error"]
    assert_well_behaved(outcome, fake_server, [OAUTH_TOKEN, LONG_SECRET])


def test_an_oauth_expires_in_too_big_for_a_float_is_no_internal_error(tmp_path, fake_server):
    spec = spec_text(fake_server.url("oauth-huge-expiry"), oauth=True)
    outcome = run_segrun(tmp_path, spec, LONG_SECRET, env={"COLUMNS": "80"}, timeout=90)
    assert outcome.code != 70, outcome.stderr


def flaky_token_spec(server: FakeServer, jobs: int, attempts: int, backoff: str) -> str:
    """`jobs` jobs against the "oauth-flaky" token endpoint, each call tried
    `attempts` times with a back-off of `backoff` (and no more)."""
    names = "".join(f"- name: j{n}\n  segment_group: VIP Customers\n" for n in range(jobs))
    spec = spec_text(server.url("oauth-flaky"), oauth=True, jobs=names)
    retry = f"retry: {{attempts: {attempts}, backoff: {backoff}, max_backoff: {backoff}}}"
    return spec.replace("retry: {attempts: 2, backoff: 0s, max_backoff: 0s}", retry)


def token_arrivals(server: FakeServer) -> list[float]:
    return [t for t, call in server.arrivals if call == "token"]


def test_jobs_waiting_for_one_token_share_each_failed_request_and_back_off(tmp_path, fake_server):
    """A token endpoint that trickles: the token request ends at --request-timeout,
    and the four jobs waiting for that token all take its failure (one request, one
    deadline, not four one after another); each then backs off as after any failed
    attempt, and the first back asks again for all of them. Two attempts: two token
    requests for the whole run, the second a back-off after the first one's end."""
    fake_server.token_failures, fake_server.trickle_pause = 100, 0.3
    spec = flaky_token_spec(fake_server, jobs=4, attempts=2, backoff="1s")
    outcome = run_segrun(tmp_path, spec, LONG_SECRET, "--jobs", "4", "--request-timeout", "2")
    assert outcome.code == 1, outcome.stderr
    for job in outcome.report()["jobs"]:
        assert job["kind"] == "token", job
        assert "failed after 2 attempts" in job["error"], job
        assert "within the request deadline of 2s" in job["error"], job
    first, second = token_arrivals(fake_server)
    # the deadline (2 s), then a back-off of half to all of retry.backoff (1 s)
    assert second - first >= 2 + 0.5 - 0.1, second - first
    assert outcome.seconds < 20
    assert_well_behaved(outcome, fake_server, [OAUTH_TOKEN, LONG_SECRET])


def test_a_token_request_that_failed_is_tried_again_and_every_job_goes_on(tmp_path, fake_server):
    """The first token request trickles until --request-timeout ends it; the jobs
    waiting for it retry after their back-off, one new request serves them all, and
    the run succeeds."""
    fake_server.token_failures, fake_server.trickle_pause = 1, 0.3
    spec = flaky_token_spec(fake_server, jobs=3, attempts=3, backoff="200ms")
    outcome = run_segrun(tmp_path, spec, LONG_SECRET, "--jobs", "3", "--request-timeout", "2")
    assert outcome.code == 0, (outcome.stderr, outcome.report()["jobs"])
    assert [job["status"] for job in outcome.report()["jobs"]] == ["succeeded"] * 3
    assert len(token_arrivals(fake_server)) == 2
    assert_well_behaved(outcome, fake_server, [OAUTH_TOKEN, LONG_SECRET])
