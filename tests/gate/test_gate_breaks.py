"""Breaks of the redaction gate and exit codes found by attacking it; each runs tests/gate/evil_server.py (a hostile loopback
server + segrun run + a leak scan of the run dir, state dir and both streams)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EVIL = Path(__file__).with_name("evil_server.py")


def evil(scenario: str, secret: str | None = None, **env) -> subprocess.CompletedProcess:
    argv = [sys.executable, str(EVIL), scenario, *([secret] if secret else [])]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "EVIL_NOREPORT": "1", **env},
    )


# F1: a JSON body that spells the secret with JSON's own escapes (\/ or \uXXXX)
# passes the transcript's text scan; report.html decodes it and writes it raw
# (html.py writes bytes without the sink).
@pytest.mark.parametrize("scenario", ["slash", "uesc"])
def test_a_secret_in_json_escapes_never_reaches_report_html(scenario):
    r = evil(scenario, "h0stile-S3cr3t/noamp")
    assert "LEAKS" not in r.stdout, r.stdout


# F2: the API message is cut (500 chars of Message / 200 bytes of a non-JSON body)
# BEFORE the redactor sees it: the first half of the secret survives in
# report.json, junit.xml, report.html and stdout.
@pytest.mark.parametrize("scenario", ["msg500", "text200"])
def test_a_message_cut_short_never_leaks_half_a_secret(scenario):
    r = evil(scenario)
    assert "LEAKS" not in r.stdout, r.stdout


def run_dir(r: subprocess.CompletedProcess) -> Path:
    return Path(r.stdout.split(" dir ", 1)[1].split()[0]) / "run"


# F3: the token endpoint's response headers are recorded before the token is
# registered with the redactor (signing.py: transcript.record before redactor.add):
# a token echoed in a header (X-Token, Set-Cookie) is in transcript.har/txt in full.
def test_an_oauth_token_echoed_in_a_header_is_redacted():
    r = evil("oauth_hdr")
    assert "LEAKS:\n  " not in r.stdout or "tok_5e4d3c2b1a09f8e7d6c5" not in r.stdout, r.stdout


# F4: "expires_in": 1000...0 (401 digits) -> float() OverflowError -> exit 70.
def test_an_oauth_expires_in_too_big_for_a_float_is_not_exit_70():
    r = evil("oauth_bigexp")
    assert not r.stdout.startswith("exit 70"), r.stdout


# F5: a token endpoint echoing the Basic credentials it received puts
# base64("client_id:client_secret") in the transcripts: the client secret, base64.
def test_echoed_basic_credentials_are_redacted():
    import base64
    import re

    r = evil("oauth_basic")
    har = (run_dir(r) / "transcript.har").read_text()
    decoded = [
        base64.b64decode(m + "=" * (-len(m) % 4))
        for m in re.findall(r"Basic ([A-Za-z0-9+/=]+)", har)
    ]
    assert not any(b"h0stile-S3cr3t" in d for d in decoded), decoded


# F6: a Status answer whose "Status" is a list or an object -> exit 70
# (execute.py:319 `status not in known` on an unhashable value).
@pytest.mark.parametrize("value", ['["Complete"]', '{"a": 1}'])
def test_status_non_string_is_not_exit_70(value):
    body = f'{{"AccessToken": 4242, "Status": {value}, "RowCount": 1}}'
    r = evil("gen", EVIL_CALL="status", EVIL_BODY=body)
    assert not r.stdout.startswith("exit 70"), r.stdout
