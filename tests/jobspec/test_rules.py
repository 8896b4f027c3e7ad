"""Each validation rule, and what a valid spec becomes."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import pytest

from runner.jobspec.check import check_file
from tests.support.fake_server import LONG_SECRET
from tests.support.specs import spec_text

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def check(tmp_path, text, **kwargs):
    kwargs.setdefault("environ", {})
    kwargs.setdefault("now", NOW)
    return check_file(write(tmp_path, text), **kwargs)


def job_spec(job_lines: str, top: str = "") -> str:
    body = textwrap.indent(textwrap.dedent(job_lines).strip("\n"), "    ")
    return f"version: 1\nclient_id: SanchezAssociates\n{top}jobs:\n  - segment_group: VIP Customers\n{body}\n"


def messages(result) -> list[str]:
    return [f"{d.severity}: {d.path}: {d.message}" for d in result.diagnostics]


@pytest.mark.parametrize(
    "written",
    ["2026-11-21T10:20:30.5Z", "'2026-11-21T10:20:30.5Z'", '"2026-11-21T10:20:30.500Z"'],
)
def test_quoted_and_unquoted_timestamps_are_read_alike(tmp_path, written):
    result = check(tmp_path, job_spec(f"last_datetime: {written}"))
    assert result.ok, messages(result)
    assert result.spec.jobs[0].last_datetime == dt.datetime(
        2026, 11, 21, 10, 20, 30, 500000, tzinfo=UTC
    )


def test_offset_is_converted_to_utc_and_bare_date_is_midnight(tmp_path):
    result = check(tmp_path, job_spec("last_datetime: 2026-11-21T01:30:00+02:00"))
    assert result.spec.jobs[0].last_datetime == dt.datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    result = check(tmp_path, job_spec("last_datetime: 2026-11-21"))
    assert result.spec.jobs[0].last_datetime == dt.datetime(2026, 11, 21, tzinfo=UTC)


def test_zoneless_time_is_utc(tmp_path):
    result = check(tmp_path, job_spec("last_datetime: 2026-11-21T08:00:00"))
    assert result.spec.jobs[0].last_datetime == dt.datetime(2026, 11, 21, 8, tzinfo=UTC)


def test_unquoted_timestamp_with_four_fraction_digits_is_an_error(tmp_path):
    # PyYAML alone would silently read this as 100 microseconds.
    result = check(tmp_path, job_spec("last_datetime: 2026-11-21T00:00:00.0001Z"))
    assert messages(result) == [
        "error: jobs[0].last_datetime: '2026-11-21T00:00:00.0001Z' has 4 fractional digits; "
        "the API takes milliseconds (at most 3)"
    ]


def test_future_is_measured_against_the_given_clock(tmp_path):
    text = job_spec("last_datetime: 2026-11-22T12:00:01Z")
    assert not check(tmp_path, text).ok
    assert check(tmp_path, text, now=NOW + dt.timedelta(seconds=1)).ok


def test_last_success_and_null_are_accepted(tmp_path):
    assert check(tmp_path, job_spec("last_datetime: last_success")).spec.jobs[0].incremental
    assert check(tmp_path, job_spec("last_datetime: null")).spec.jobs[0].last_datetime is None


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("profileid", "ProfileId"),
        ("ProfileID", "ProfileId"),
        ("ALTERNATEID", "AlternateId"),
        ("phonenumber", "PhoneNumber"),
        ("EmailADDRESS", "EmailAddress"),
    ],
)
def test_match_criteria_any_case_is_normalised(tmp_path, written, canonical):
    values = {
        "ProfileId": "[1001]",
        "AlternateId": "[A1]",
        "PhoneNumber": "['4045550100']",
        "EmailAddress": "[a@example.com]",
    }[canonical]
    result = check(
        tmp_path, job_spec(f"match_criteria: {written}\nmatch_type: T\nvalues: {values}")
    )
    assert result.ok, messages(result)
    assert result.spec.jobs[0].match_criteria == canonical


def test_integer_profile_ids_become_strings(tmp_path):
    result = check(tmp_path, job_spec("match_criteria: ProfileId\nvalues: [1001, '1002']"))
    assert result.spec.jobs[0].values == ("1001", "1002")


def test_integer_alternate_ids_are_rejected(tmp_path):
    result = check(tmp_path, job_spec("match_criteria: AlternateId\nmatch_type: X\nvalues: [1001]"))
    assert messages(result) == [
        "error: jobs[0].values[0]: each AlternateId value must be a non-empty string"
    ]


@pytest.mark.parametrize(
    "phone", ["+1 (404) 555-0100", "404.555.0100", "5550100", "+441234567890123"]
)
def test_phone_numbers_that_fit(tmp_path, phone):
    assert check(tmp_path, job_spec(f"match_criteria: PhoneNumber\nvalues: ['{phone}']")).ok


def test_duplicate_value_is_a_warning_not_an_error(tmp_path):
    result = check(tmp_path, job_spec("match_criteria: ProfileId\nvalues: [1001, '1001']"))
    assert result.ok
    assert messages(result) == ["warning: jobs[0].values[1]: duplicate value '1001' (also item 0)"]


def test_auth_scheme_any_case_is_normalised(tmp_path):
    top = "environment: production\nauth:\n  scheme: pnauthinfo3-hmac-sha384\n  user_id: u\n  secret_env: S\n"
    result = check(tmp_path, job_spec("page_size: 5", top))
    assert result.ok, messages(result)
    assert result.spec.auth.scheme == "PNAUTHINFO3-HMAC-SHA384"


def test_oauth2_complete(tmp_path):
    top = textwrap.dedent("""\
        environment: staging
        auth:
          scheme: oauth2
          user_id: u
          token_url: https://auth.example.invalid/token
          client_id_env: MYPREF_OAUTH_ID
          client_secret_env: MYPREF_OAUTH_SECRET
        """)
    assert check(tmp_path, job_spec("page_size: 5", top)).ok


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/Profiles/v4/", "http://localhost/x/", "http://[::1]:9/"]
)
def test_plain_http_is_fine_on_loopback(tmp_path, url):
    assert check(tmp_path, job_spec("page_size: 5", f"base_url: {url}\n")).ok


def test_unknown_key_without_a_close_match_gives_no_guess(tmp_path):
    result = check(tmp_path, job_spec("frobnicate: 1"))
    assert messages(result) == ["error: jobs[0].frobnicate: unknown key 'frobnicate'"]


def test_environment_variables_are_substituted(tmp_path):
    text = "version: 1\nclient_id: ${CID}\nbase_url: ${URL:-https://example.invalid/v4/}\njobs:\n  - segment_group: '$${literal}'\n"
    result = check(tmp_path, text, environ={"CID": "Acme"})
    assert result.ok
    assert result.spec.client_id == "Acme"
    assert result.spec.base_url == "https://example.invalid/v4/"
    assert result.spec.jobs[0].segment_group == "${literal}"


def test_unset_variable_is_a_warning_for_validate_and_an_error_for_run(tmp_path):
    text = "version: 1\nclient_id: ${MISSING_CID}\njobs:\n  - segment_group: VIP\n"
    lenient = check(tmp_path, text)
    assert lenient.ok
    assert [str(d) for d in lenient.diagnostics] == [
        f"{tmp_path / 'spec.yaml'}:2:12: warning: client_id: environment variable MISSING_CID is not set"
    ]
    strict = check(tmp_path, text, unset_is_error=True)
    assert not strict.ok and strict.spec is None


def test_defaults_merge_key_by_key_and_jobs_override(tmp_path):
    text = textwrap.dedent("""\
        version: 1
        client_id: SanchezAssociates
        defaults:
          page_size: 250
          poll: {interval: 2s, timeout: 5m}
          output: {format: csv}
        jobs:
          - segment_group: VIP Customers
            poll: {timeout: 10m}
          - segment_group: Email Subscribers
            page_size: 10
            output: {path: "mail/{job}.csv"}
        """)
    result = check(tmp_path, text)
    assert result.ok, messages(result)
    first, second = result.spec.jobs
    assert (first.page_size, first.poll_interval, first.poll_timeout) == (250, 2.0, 600.0)
    assert (first.output_format, first.output_path) == ("csv", "vip-customers.csv")
    assert (second.page_size, second.output_path) == (10, "mail/email-subscribers.csv")


def test_built_in_defaults(tmp_path):
    job = check(tmp_path, job_spec("name: vip")).spec.jobs[0]
    assert (job.page_size, job.poll_interval, job.poll_timeout) == (1000, 5.0, 1800.0)
    assert (job.retry_attempts, job.retry_backoff, job.retry_max_backoff) == (5, 1.0, 60.0)
    assert (job.output_format, job.output_path) == ("jsonl", "vip.jsonl")


def test_values_file_plain_text_and_csv(tmp_path):
    (tmp_path / "ids.txt").write_text("# ids\n1001\n\n1002\n")
    (tmp_path / "ids.csv").write_text("id,x\n1001,a\n,b\n1003,c\n")
    result = check(tmp_path, job_spec("match_criteria: ProfileId\nvalues_file: {path: ids.txt}"))
    assert result.spec.jobs[0].values == ("1001", "1002")
    result = check(
        tmp_path, job_spec("match_criteria: ProfileId\nvalues_file: {path: ids.csv, column: id}")
    )
    assert result.spec.jobs[0].values == ("1001", "1003")


def test_validate_json_format_and_quiet(segrun, tmp_path):
    path = write(tmp_path, job_spec("match_criteria: ProfileId\nvalues: [1, 1]\npage_size: 0"))
    result = segrun("validate", "--format", "json", str(path))
    assert result.returncode == 2
    rows = json.loads(result.stdout)
    assert {r["severity"] for r in rows} == {"error", "warning"}
    assert set(rows[0]) == {"file", "line", "column", "path", "severity", "message", "rule", "help"}
    quiet = segrun("validate", "-q", str(path))
    assert "warning" not in quiet.stdout and "error" in quiet.stdout and quiet.stderr == ""


def test_validate_many_files_sorted_and_exit_zero_with_warnings(segrun, tmp_path):
    a = write(tmp_path, "version: 1\nclient_id: ${NOPE_A}\njobs: [{segment_group: A}]\n", "b.yaml")
    b = write(tmp_path, "version: 1\nclient_id: ${NOPE_B}\njobs: [{segment_group: A}]\n", "a.yaml")
    result = segrun("validate", str(a), str(b))
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [str(b), str(a)]


@pytest.mark.parametrize(
    "base_url",
    ["http://[::1/", "http://127.0.0.1:99999/", "http://127.0.0.1:-1/", "http://127.0.0.1:abc/"],
)
def test_an_impossible_base_url_is_exit_2_for_validate_plan_and_run(segrun, tmp_path, base_url):
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text(base_url).replace(f"base_url: {base_url}", f'base_url: "{base_url}"'))
    for command in (["validate"], ["plan"], ["run", "--out", str(tmp_path / "run")]):
        done = segrun(*command, str(spec), env={"HOSTILE_SECRET": LONG_SECRET})
        assert done.returncode == 2, (command, done.stderr)
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr
        assert "base_url" in done.stderr + done.stdout
