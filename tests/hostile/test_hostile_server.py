"""segrun against a server that leaks, stalls, floods and lies, on 127.0.0.1.

For each behaviour: the exit code, a bounded time (a generous "did not hang"
limit, not a speed target), bounded memory where size is the attack, and every
credential of the run (the secret, whatever its length, every signature, the
OAuth token and client secret) found nowhere: not in the run directory, not in
the state folder, not on stdout or stderr, in any spelling.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import stat

import pytest
import requests

from runner.http.client import MAX_RETRY_AFTER, retry_after
from tests.support.fake_server import FOUR_CHAR_SECRET, LONG_SECRET, OAUTH_CLIENT_ID, OAUTH_TOKEN
from tests.support.leaks import leaks
from tests.support.processes import run_segrun
from tests.support.specs import spec_text

SECRETS = [LONG_SECRET, FOUR_CHAR_SECRET, "\u00a7", LONG_SECRET[:12] + "\n"]


def assert_nothing_leaked(outcome, secrets, fake_server) -> None:
    signatures = [
        a.rpartition("Signature=")[2] for a in fake_server.authorizations if "Signature=" in a
    ]
    everything = [*secrets, *signatures]
    where = [outcome.run_dir, outcome.state_dir]
    found = [hit for s in everything for hit in leaks(s, where, [outcome.stdout, outcome.stderr])]
    assert not found, found


def report(outcome) -> dict:
    return json.loads((outcome.run_dir / "report.json").read_text())


@pytest.mark.parametrize("secret", SECRETS, ids=["long", "four-chars", "one-char", "newline"])
@pytest.mark.parametrize("scenario", ["echo", "echo-retry"])
def test_echoed_credentials_are_found_nowhere(tmp_path, fake_server, secret, scenario):
    fake_server.secrets = [secret]
    outcome = run_segrun(tmp_path, spec_text(fake_server.url(scenario)), secret, "-v")
    assert outcome.code == 1, outcome.stderr
    assert fake_server.authorizations  # the server did get (and echo) signatures
    assert_well_behaved(outcome, fake_server, [secret])
    assert report(outcome)["status"] == "failed"
    assert report(outcome)["finished"]


def test_echoes_on_a_successful_run_are_found_nowhere(tmp_path, fake_server):
    fake_server.secrets = [LONG_SECRET]
    outcome = run_segrun(tmp_path, spec_text(fake_server.url("echo-ok")), LONG_SECRET, "-v")
    assert outcome.code == 0, outcome.stderr
    assert_nothing_leaked(outcome, [LONG_SECRET], fake_server)
    assert (outcome.state_dir / "state.json").exists()


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
    assert "401" in report(outcome)["jobs"][0]["error"]


def test_an_oauth_token_with_control_characters_fails_the_job_cleanly(tmp_path, fake_server):
    fake_server.oauth_token = OAUTH_TOKEN
    outcome = run_segrun(tmp_path, spec_text(fake_server.url("oauth-bad"), oauth=True), LONG_SECRET)
    assert outcome.code == 1, outcome.stderr
    assert "cannot be sent in a header" in report(outcome)["jobs"][0]["error"]
    assert_well_behaved(outcome, fake_server, [OAUTH_TOKEN, LONG_SECRET])


def test_a_trickling_answer_is_cut_at_the_request_deadline(tmp_path, fake_server):
    outcome = run_segrun(
        tmp_path, spec_text(fake_server.url("trickle")), LONG_SECRET, "--request-timeout", "3"
    )
    assert outcome.code == 1, outcome.stderr
    job = report(outcome)["jobs"][0]
    assert "within the request deadline of 3s" in job["error"], job
    assert outcome.seconds < 60
    assert_well_behaved(outcome, fake_server)


@pytest.mark.parametrize("where", ["pages in flight", "jobs in flight", "main thread"])
def test_headers_trickled_a_byte_at_a_time_are_cut_at_the_deadline(tmp_path, fake_server, where):
    """No socket read times out, so only the request deadline ends it: the alarm
    in the main thread, a timer that shuts the connection in a worker thread."""
    jobs = "- name: people\n  segment_group: VIP Customers\n"
    args = ["--request-timeout", "3"]
    if where == "pages in flight":
        jobs += "  concurrency: 4\n"
    elif where == "jobs in flight":
        jobs += "- name: others\n  segment_group: VIP Customers\n"
        args += ["--jobs", "2"]
    outcome = run_segrun(
        tmp_path, spec_text(fake_server.url("trickle-headers"), jobs=jobs), LONG_SECRET, *args
    )
    assert outcome.code == 1, outcome.stderr
    for job in report(outcome)["jobs"]:
        assert "within the request deadline of 3s" in job["error"], job
    assert outcome.seconds < 45
    assert_well_behaved(outcome, fake_server)


def test_one_stop_signal_ends_pages_in_flight_stuck_on_the_server(tmp_path, fake_server):
    jobs = "- name: people\n  segment_group: VIP Customers\n  concurrency: 4\n"
    outcome = run_segrun(
        tmp_path,
        spec_text(fake_server.url("trickle-headers"), jobs=jobs),
        LONG_SECRET,
        signal_after=(3.0, signal.SIGINT),
    )
    assert outcome.code == 130, (outcome.stderr, report(outcome)["jobs"][0]["error"])
    assert outcome.seconds < 3.0 + 10  # a few seconds after the signal, not the deadline
    assert report(outcome)["status"] == "interrupted"
    assert_well_behaved(outcome, fake_server)


@pytest.mark.parametrize("scenario", ["trickle", "silent"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_one_stop_signal_ends_a_run_stuck_on_the_server(tmp_path, fake_server, scenario, signum):
    outcome = run_segrun(
        tmp_path, spec_text(fake_server.url(scenario)), LONG_SECRET, signal_after=(3.0, signum)
    )
    assert outcome.code == 130, outcome.stderr
    assert outcome.seconds < 3.0 + 10  # a few seconds after the signal, not the server's 60
    assert report(outcome)["status"] == "interrupted"
    assert report(outcome)["finished"]
    assert_well_behaved(outcome, fake_server)


@pytest.mark.parametrize("scenario", ["huge", "huge-chunked", "huge-declared"])
def test_a_500_mb_answer_is_refused_in_bounded_memory(tmp_path, fake_server, scenario):
    outcome = run_segrun(tmp_path, spec_text(fake_server.url(scenario)), LONG_SECRET)
    assert outcome.code == 1, outcome.stderr
    job = report(outcome)["jobs"][0]
    assert "over the cap" in job["error"], job
    assert_well_behaved(outcome, fake_server)  # peak memory under 250 MiB among the rest


@pytest.mark.parametrize("scenario", ["deep", "deep-error"])
def test_json_nested_200000_deep_fails_the_job_naming_the_call(tmp_path, fake_server, scenario):
    outcome = run_segrun(tmp_path, spec_text(fake_server.url(scenario)), LONG_SECRET)
    assert outcome.code == 1, outcome.stderr
    assert_well_behaved(outcome, fake_server)
    error = report(outcome)["jobs"][0]["error"]
    if scenario == "deep":
        assert error.startswith("Status:") and "nested too deeply" in error, error
    else:
        assert error.startswith("initiate answered HTTP 400"), error


ODD_RETRY_AFTER = [
    "\u00b2",
    "-5",
    "garbage",
    "1e309",
    "NaN",
    "inf",
    "0x10",
    "",
    " ",
    "\u0661",
    "Wed, 21 Oct 2015 07:28:00 GMT",
    "Sun, 31 Feb 2026 25:61:61 GMT",
    "Mon, 01 Jan 0001 00:00:00 GMT",
]


def test_odd_retry_after_values_are_survived(tmp_path, fake_server):
    fake_server.retry_after = list(ODD_RETRY_AFTER)
    jobs = (
        "- name: people\n  segment_group: VIP Customers\n"
        "  retry: {attempts: 20, backoff: 0s, max_backoff: 0s}\n"
    )
    outcome = run_segrun(
        tmp_path, spec_text(fake_server.url("retry-after"), jobs=jobs), LONG_SECRET
    )
    assert outcome.code == 0, outcome.stderr + outcome.stdout
    assert report(outcome)["jobs"][0]["retries"] == len(ODD_RETRY_AFTER)
    assert outcome.seconds < 60
    assert_well_behaved(outcome, fake_server)


def test_a_retry_after_of_ages_is_clamped_and_a_signal_ends_the_wait(tmp_path, fake_server):
    fake_server.retry_after = ["9" * 40]
    outcome = run_segrun(
        tmp_path,
        spec_text(fake_server.url("retry-after")),
        LONG_SECRET,
        signal_after=(3.0, signal.SIGTERM),
    )
    assert outcome.code == 130, outcome.stderr
    assert outcome.seconds < 15
    assert_well_behaved(outcome, fake_server)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("\u00b2", None),
        ("-5", None),
        ("garbage", None),
        ("12", 12.0),
        ("1.5", 1.5),
        ("9" * 5000, MAX_RETRY_AFTER),
        ("86400", MAX_RETRY_AFTER),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Mon, 01 Jan 0001 00:00:00 GMT", 0.0),
    ],
)
def test_retry_after_parses_to_a_bounded_wait(value, expected):
    response = requests.Response()
    response.headers["Retry-After"] = value
    assert retry_after(response, dt.datetime(2026, 11, 29, tzinfo=dt.timezone.utc)) == expected


def test_files_are_the_owners_only_and_transcripts_keep_no_records(tmp_path, fake_server):
    outcome = run_segrun(tmp_path, spec_text(fake_server.url("fine")), LONG_SECRET)
    assert outcome.code == 0, outcome.stderr
    assert_well_behaved(outcome, fake_server)
    for folder in (outcome.run_dir, outcome.state_dir):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for path in folder.rglob("*"):
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    export = (outcome.run_dir / "exports" / "people.jsonl").read_text()
    assert "ann@example.com" in export
    for name in ("transcript.har", "transcript.txt"):
        text = (outcome.run_dir / name).read_text()
        assert "ann@example.com" not in text and "ProfileId" not in text
        assert '"TotalResults": 1' in text or '\\"TotalResults\\": 1' in text
        assert "1 records in a" in text


def test_transcript_bodies_full_keeps_the_records_and_share_with_group_opens_them(
    tmp_path, fake_server
):
    outcome = run_segrun(
        tmp_path,
        spec_text(fake_server.url("fine")),
        LONG_SECRET,
        "--transcript-bodies",
        "full",
        "--share-with-group",
    )
    assert outcome.code == 0, outcome.stderr
    assert "ann@example.com" in (outcome.run_dir / "transcript.har").read_text()
    assert stat.S_IMODE(outcome.run_dir.stat().st_mode) == 0o750
    assert stat.S_IMODE((outcome.run_dir / "report.json").stat().st_mode) == 0o640


def assert_well_behaved(outcome, fake_server, secrets=(LONG_SECRET,)) -> None:
    """What every run against the hostile server must show, whatever it was fed:
    no traceback, no internal error, bounded memory, and no credential anywhere."""
    assert "Traceback" not in outcome.stderr + outcome.stdout, outcome.stderr
    assert "internal error" not in outcome.stderr, outcome.stderr
    assert outcome.peak_rss_mib < 250, outcome.peak_rss_mib
    assert_nothing_leaked(outcome, list(secrets), fake_server)
