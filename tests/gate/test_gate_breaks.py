"""A secret the server spells back in a way the redactor might not expect (JSON
escapes, a message cut short, base64, gzip, a header, a reason phrase) is found
nowhere after the run: not in the run directory, the state folder or either stream,
in any spelling, nor any piece of it of 8 characters."""

from __future__ import annotations

import base64
import re

import pytest

from tests.support.fake_server import LONG_SECRET, OAUTH_CLIENT_ID, OAUTH_TOKEN
from tests.support.leaks import leaks
from tests.support.processes import run_segrun
from tests.support.specs import spec_text


def run_against(tmp_path, fake_server, scenario: str, secret: str = LONG_SECRET):
    """`segrun run` against one scenario of the fake server, which knows `secret`."""
    fake_server.secrets = [secret]
    spec = spec_text(fake_server.url(scenario), oauth=scenario.startswith("oauth"))
    return run_segrun(tmp_path, spec, secret, env={"COLUMNS": "80"}, timeout=90)


def leaked(outcome, fake_server, secret: str = LONG_SECRET) -> list[str]:
    """Where any credential of the run turned up, whole or in pieces of 8."""
    where = [outcome.run_dir, outcome.state_dir]
    streams = [outcome.stdout, outcome.stderr]
    credentials = [secret, *fake_server.signatures(), OAUTH_TOKEN, OAUTH_CLIENT_ID]
    return [hit for s in credentials for hit in leaks(s, where, streams, fragment=8)]


@pytest.mark.parametrize("scenario", ["escaped-slash", "unicode-escapes"])
def test_a_secret_in_json_escapes_never_reaches_report_html(tmp_path, fake_server, scenario):
    """The transcript's text scan once passed a secret spelled with JSON's own escapes
    (\\/ or \\uXXXX), and report.html decoded it and wrote it raw."""
    outcome = run_against(tmp_path, fake_server, scenario, "h0stile-S3cr3t/noamp")
    assert not leaked(outcome, fake_server, "h0stile-S3cr3t/noamp")


@pytest.mark.parametrize("scenario", ["message-cut", "text-cut"])
def test_a_message_cut_short_never_leaks_half_a_secret(tmp_path, fake_server, scenario):
    """An API message is cut (500 characters of Message, 200 bytes of a body that is
    not JSON); cut before the redactor saw it, the first half of the secret survived
    in report.json, junit.xml, report.html and stdout."""
    outcome = run_against(tmp_path, fake_server, scenario)
    assert not leaked(outcome, fake_server)


def test_an_oauth_token_echoed_in_a_header_is_redacted(tmp_path, fake_server):
    """The token endpoint's answer headers were once recorded before the token was
    known to the redactor: a token echoed in X-Token or Set-Cookie was in the
    transcripts in full."""
    outcome = run_against(tmp_path, fake_server, "oauth-header")
    where = [outcome.run_dir, outcome.state_dir]
    assert not leaks(OAUTH_TOKEN, where, [outcome.stdout, outcome.stderr], fragment=8)


def test_an_oauth_expires_in_too_big_for_a_float_is_no_internal_error(tmp_path, fake_server):
    outcome = run_against(tmp_path, fake_server, "oauth-huge-expiry")
    assert outcome.code != 70, outcome.stderr


def test_echoed_basic_credentials_are_redacted(tmp_path, fake_server):
    """A token endpoint echoing the Basic credentials it received puts
    base64("client_id:client_secret") in the transcripts: the client secret, in base64."""
    outcome = run_against(tmp_path, fake_server, "oauth-basic")
    har = (outcome.run_dir / "transcript.har").read_text()
    decoded = [
        base64.b64decode(m + "=" * (-len(m) % 4))
        for m in re.findall(r"Basic ([A-Za-z0-9+/=]+)", har)
    ]
    assert not any(b"h0stile-S3cr3t" in d for d in decoded), decoded


@pytest.mark.parametrize("value", ['["Complete"]', '{"a": 1}'])
def test_status_non_string_is_not_exit_70(tmp_path, fake_server, value):
    fake_server.answer_call = "status"
    body = f'{{"AccessToken": 4242, "Status": {value}, "RowCount": 1}}'
    fake_server.answer = (200, body.encode(), "application/json")
    outcome = run_against(tmp_path, fake_server, "answer")
    assert outcome.code != 70, outcome.stderr
