"""No credential of a run is found anywhere after it: not in the run directory, not
in the state folder, not on stdout or stderr, in any spelling (raw, URL-encoded,
JSON-escaped, base64). The credentials are the secret whatever its length, every
signature sent, the OAuth token and client secret; the fake server echoes them back
in messages, reason phrases, headers and pages, whole, escaped or cut short."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import textwrap

import pytest

from runner.sandbox import DEMO, running_sandbox
from tests.support.fake_server import (
    BASE64_PUNCTUATED_SECRET,
    FOUR_CHAR_SECRET,
    HANDED_OUT_TOKENS,
    LONG_SECRET,
    OAUTH_CLIENT_ID,
    OAUTH_TOKEN,
)
from tests.support.leaks import leaks
from tests.support.processes import (
    assert_nothing_leaked,
    assert_well_behaved,
    run_segrun,
    segrun_argv,
    segrun_environ,
)
from tests.support.runs import run
from tests.support.specs import spec_text, write_spec

SECRETS = [LONG_SECRET, FOUR_CHAR_SECRET, "\u00a7", LONG_SECRET[:12] + "\n"]


@pytest.mark.parametrize("secret", SECRETS, ids=["long", "four-chars", "one-char", "newline"])
@pytest.mark.parametrize("scenario", ["echo", "echo-retry"])
def test_echoed_credentials_are_found_nowhere(tmp_path, fake_server, secret, scenario):
    fake_server.secrets = [secret]
    outcome = run_segrun(tmp_path, spec_text(fake_server.url(scenario)), secret, "-v")
    assert outcome.code == 1, outcome.stderr
    assert fake_server.authorizations  # the server did get (and echo) signatures
    assert_well_behaved(outcome, fake_server, [secret])
    assert outcome.report()["status"] == "failed"
    assert outcome.report()["finished"]


def test_echoes_on_a_successful_run_are_found_nowhere(tmp_path, fake_server):
    fake_server.secrets = [LONG_SECRET]
    outcome = run_segrun(tmp_path, spec_text(fake_server.url("echo-ok")), LONG_SECRET, "-v")
    assert outcome.code == 0, outcome.stderr
    assert_nothing_leaked(outcome, fake_server, [LONG_SECRET])
    assert (outcome.state_dir / "state.json").exists()


@pytest.mark.parametrize("secret", [LONG_SECRET, FOUR_CHAR_SECRET], ids=["long", "four"])
def test_echoes_from_pages_and_jobs_in_flight_are_found_nowhere(tmp_path, fake_server, secret):
    """503s retried, a 400 that fails the job, the headers and reason phrases of
    good pages: all echo the credentials, to three jobs with pages in flight."""
    fake_server.secrets = [secret]
    jobs = "".join(
        f"- name: j{i}\n  segment_group: Group{i}\n  page_size: 5\n  concurrency: 8\n"
        for i in range(3)
    )
    outcome = run_segrun(
        tmp_path,
        spec_text(fake_server.url("paged-echo"), jobs=jobs),
        secret,
        "-v",
        "--jobs",
        "3",
        "--transcript-bodies",
        "full",
    )
    assert outcome.code == 1, outcome.stderr
    assert len(fake_server.authorizations) > 30
    assert_nothing_leaked(outcome, fake_server, [secret])
    report = outcome.report()
    assert [j["name"] for j in report["jobs"]] == ["j0", "j1", "j2"]
    assert all(
        "offset 41" in (j["error"] or "") or "400" in (j["error"] or "") for j in report["jobs"]
    ), [j["error"] for j in report["jobs"]]
    for i in range(3):
        part = outcome.run_dir / "exports" / f"j{i}.jsonl.part"
        lines = part.read_bytes().splitlines()
        assert lines == [json.dumps({"ProfileId": f"P{n}"}).encode() for n in range(1, 41)]


def test_a_short_secret_is_warned_about(tmp_path, fake_server):
    fake_server.secrets = [FOUR_CHAR_SECRET]
    outcome = run_segrun(tmp_path, spec_text(fake_server.url("echo")), FOUR_CHAR_SECRET)
    assert "shorter than 8 characters" in outcome.stderr
    assert_well_behaved(outcome, fake_server, [FOUR_CHAR_SECRET])


def test_an_oauth_token_with_a_trailing_newline_neither_crashes_nor_leaks(tmp_path, fake_server):
    fake_server.oauth_token = OAUTH_TOKEN
    fake_server.secrets = [LONG_SECRET, OAUTH_CLIENT_ID]
    outcome = run_segrun(
        tmp_path, spec_text(fake_server.url("oauth"), oauth=True), LONG_SECRET, "-v"
    )
    assert outcome.code == 1, outcome.stderr  # the API's 401, not a crash
    assert any(a.startswith("Bearer ") for a in fake_server.authorizations)  # the token was used
    assert_well_behaved(
        outcome, fake_server, [OAUTH_TOKEN, OAUTH_TOKEN + "\n", LONG_SECRET, OAUTH_CLIENT_ID]
    )
    assert "401" in outcome.report()["jobs"][0]["error"]


# -- the secret spelled back in a way a redactor might not expect ------------------------
def run_against(tmp_path, fake_server, scenario: str, secret: str = LONG_SECRET):
    """`segrun run` against one scenario of the fake server, which knows `secret`."""
    fake_server.secrets = [secret]
    spec = spec_text(fake_server.url(scenario), oauth=scenario.startswith("oauth"))
    return run_segrun(tmp_path, spec, secret, env={"COLUMNS": "80"}, timeout=90)


def leaked(outcome, fake_server, secret: str = LONG_SECRET) -> list[str]:
    """Where any credential of the run turned up, whole or in pieces of 8 characters."""
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
    not JSON); cut before the redactor saw it, the first half of the secret once
    survived in report.json, junit.xml, report.html and stdout."""
    outcome = run_against(tmp_path, fake_server, scenario)
    assert not leaked(outcome, fake_server)


@pytest.mark.parametrize(
    "scenario", ["base64url", "gzip", "key", "headers", "reason", "busy", "chunked", "redirect"]
)
def test_a_secret_in_any_part_of_an_answer_is_found_nowhere(tmp_path, fake_server, scenario):
    """Unpadded URL-safe base64, a gzip body, a JSON key, Location, Set-Cookie and
    Retry-After, a reason phrase, a 503 retried, a chunked body split mid-secret,
    a redirect to itself."""
    outcome = run_against(tmp_path, fake_server, scenario)
    assert outcome.code == 1, outcome.stderr
    assert not leaked(outcome, fake_server)


@pytest.mark.parametrize(
    ("scenario", "secret"),
    [
        ("bom-escapes", LONG_SECRET),
        ("lower-hex", LONG_SECRET),
        ("base64url", BASE64_PUNCTUATED_SECRET),
        ("utf-16", LONG_SECRET),
        ("utf-16-bare", LONG_SECRET),
    ],
)
def test_a_secret_spelled_as_other_servers_spell_it_is_found_nowhere(
    tmp_path, fake_server, scenario, secret
):
    """JSON escapes in a body that starts with a byte-order mark, URL-encoding in
    lower-case hex, base64url without padding (the JWT spelling) of a secret whose
    base64 holds "+" and "/", UTF-16 with or without its byte-order mark: each is
    the secret, decoded before the gate compares."""
    outcome = run_against(tmp_path, fake_server, scenario, secret)
    assert outcome.code == 1, outcome.stderr
    assert not leaked(outcome, fake_server, secret)


@pytest.mark.parametrize("scenario", ["handed-out", "oauth-fragment"])
def test_tokens_handed_out_in_headers_are_found_nowhere(tmp_path, fake_server, scenario):
    """A token nobody registered, handed out in a Location fragment
    (`#access_token=`) or a cookie, by an API call or by the token endpoint
    itself, is hidden by its shape."""
    outcome = run_against(tmp_path, fake_server, scenario)
    assert outcome.code == 1, outcome.stderr
    where = [outcome.run_dir, outcome.state_dir]
    streams = [outcome.stdout, outcome.stderr]
    assert not [hit for t in HANDED_OUT_TOKENS for hit in leaks(t, where, streams, fragment=8)]
    har = json.loads((outcome.run_dir / "transcript.har").read_text())
    headers = [h for e in har["log"]["entries"] for h in e["response"]["headers"]]
    assert {"name": "Set-Cookie", "value": "session=<redacted>; Secure"} in headers
    assert any(
        h["name"] == "Location"
        and h["value"].endswith("#access_token=<redacted>&token_type=bearer")
        for h in headers
    ), headers


def test_an_oauth_token_echoed_in_a_header_is_redacted(tmp_path, fake_server):
    """The token endpoint's answer headers were once recorded before the token was
    known to the redactor: a token echoed in X-Token or Set-Cookie was in the
    transcripts in full."""
    outcome = run_against(tmp_path, fake_server, "oauth-header")
    where = [outcome.run_dir, outcome.state_dir]
    assert not leaks(OAUTH_TOKEN, where, [outcome.stdout, outcome.stderr], fragment=8)


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


# -- runs against the sandbox, and specs that never run -------------------------------------
def test_no_secret_reaches_a_file_or_the_verbose_output(tmp_path):
    """The demo secret, and every Authorization value sent, appear nowhere."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        textwrap.dedent("""\
        version: 1
        client_id: SanchezAssociates
        defaults: {poll: {interval: 50ms}, retry: {attempts: 3, backoff: 0s}}
        jobs:
          - segment_group: VIP Customers
          - segment_group: Finance Audit
    """)
    )
    result = subprocess.run(
        [
            *segrun_argv(),
            "run",
            "-v",
            str(spec),
            "--out",
            str(tmp_path / "run"),
            "--sandbox-faults",
            "503=0.2,seed=3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr  # Finance Audit is refused
    assert "[vip-customers] POST http://127.0.0.1" in result.stderr  # -v did print requests
    har = json.loads((tmp_path / "run" / "transcript.har").read_text())
    assert {
        h["value"]
        for e in har["log"]["entries"]
        for h in e["request"]["headers"]
        if h["name"] == "Authorization"
    } == {"<redacted>"}
    outputs = [result.stdout, result.stderr] + [
        p.read_text(errors="replace") for p in (tmp_path / "run").rglob("*") if p.is_file()
    ]
    for text in outputs:
        assert DEMO.secret not in text
        assert "Signature=" not in text and "Credential=" not in text


def test_oauth_client_secret_and_tokens_never_reach_a_file(tmp_path, fake_server):
    """The fake server's token endpoint issues a token; the sandbox (PNAUTHINFO3
    only) refuses it, and neither token nor client secret is written anywhere."""
    token = "tok-" + "x7" * 20
    fake_server.oauth_token = token
    with running_sandbox(profiles=10) as sb:
        top = textwrap.dedent(f"""\
            auth:
              scheme: oauth2
              user_id: demo-user
              token_url: {fake_server.url("oauth-token")}token
              client_id_env: OAUTH_ID
              client_secret_env: OAUTH_SECRET
            """)
        spec = write_spec(tmp_path, sb.base_url, "- segment_group: VIP Customers\n", top)
        secret = "client-secret-" + "s" * 50
        outcome = run(
            spec, tmp_path, environ={"OAUTH_ID": "id-" + "i" * 45, "OAUTH_SECRET": secret}
        )
    assert outcome.report.jobs[0].error.startswith("initiate answered HTTP 401")
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert token not in text and secret not in text, path
    har = (tmp_path / "run" / "transcript.har").read_text()
    assert '"_call": "oauth-token"' in har or '"_call":"oauth-token"' in har


def test_a_secret_quoted_by_an_invalid_spec_is_redacted(tmp_path):
    """The secret (the variable auth.secret_env names) was once registered with the
    redactor only once the spec was valid: an invalid spec whose diagnostic quotes a
    ${VAR} holding the secret printed it raw on validate, plan and run."""
    (tmp_path / "v.yaml").write_text(
        "version: 1\nclient_id: X\nenvironment: staging\nauth:\n"
        "  scheme: PNAUTHINFO3-HMAC-SHA256\n  user_id: u\n  secret_env: S\n"
        "jobs:\n  - segment_group: VIP\n    match_criteria: EmailAddress\n"
        '    values: ["${S}"]\n'
    )
    for cmd in (
        ["validate", "v.yaml"],
        ["validate", "--format", "json", "v.yaml"],
        ["plan", "v.yaml"],
        ["run", "v.yaml", "--out", "r"],
    ):
        r = subprocess.run(
            [*segrun_argv(), *cmd],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env=segrun_environ(S="sup3r-s3cret/value+x"),
        )
        assert "sup3r-s3cret" not in r.stdout + r.stderr, (cmd, r.stdout + r.stderr)
