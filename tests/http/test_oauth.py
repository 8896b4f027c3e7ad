"""OAuth 2.0 client credentials: one token for every job in flight, and a token
endpoint's odd answers fail the job cleanly, never the process."""

from __future__ import annotations

import threading

from runner.apifacts import api
from runner.http.client import ApiClient
from runner.http.signing import OAuth2ClientCredentials
from runner.redaction.redact import Redactor
from tests.support.fake_server import LONG_SECRET, OAUTH_TOKEN
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
