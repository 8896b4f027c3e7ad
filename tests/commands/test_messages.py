"""What the command line says about a spec or a flag: at the line to edit, in the
words the user gave, and exit 2 for combinations that would do nothing."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from tests.support import ROOT
from tests.support.processes import assert_no_traceback
from tests.support.specs import write_spec

AUTH_SPEC = """\
version: 1
client_id: SanchezAssociates
environment: staging
auth:
  scheme: {scheme}
  user_id: analyst
{keys}jobs:
  - segment_group: VIP Customers
"""
HMAC_KEYS = "  secret_env: SEGRUN_TEST_UNSET_SECRET\n"
OAUTH_KEYS = (
    "  token_url: https://auth.example.com/token\n"
    "  client_id_env: SEGRUN_TEST_UNSET_CLIENT\n"
    "  client_secret_env: SEGRUN_TEST_UNSET_CLIENT_SECRET\n"
)


def write(tmp_path, text: str, name: str = "spec.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("scheme", "keys", "lines"),
    [
        ("PNAUTHINFO3-HMAC-SHA256", HMAC_KEYS, {7: "SEGRUN_TEST_UNSET_SECRET"}),
        (
            "oauth2",
            OAUTH_KEYS,
            {8: "SEGRUN_TEST_UNSET_CLIENT", 9: "SEGRUN_TEST_UNSET_CLIENT_SECRET"},
        ),
    ],
)
def test_unset_auth_variables_warn_in_validate_and_stop_plan_at_their_line(
    segrun, tmp_path, scheme, keys, lines
):
    spec = write(tmp_path, AUTH_SPEC.format(scheme=scheme, keys=keys))
    result = segrun("validate", spec)
    assert result.returncode == 0, result.stdout
    for line, name in lines.items():
        assert re.search(
            rf"spec.yaml:{line}:\d+: warning: auth\.\w+: environment variable {name} ",
            result.stdout,
        )
    for command in (("plan",), ("run", "--dry-run"), ("run",)):
        result = segrun(*command, spec)
        assert result.returncode == 2, (command, result.stderr)
        assert_no_traceback(result)
        for line, name in lines.items():
            assert re.search(
                rf"spec.yaml:{line}:\d+: error: auth\.\w+: environment variable {name} ",
                result.stderr,
            )
        assert "nothing was sent" in result.stderr


def test_missing_values_file_warns_in_validate_and_is_an_error_for_plan(segrun, tmp_path):
    spec = write(
        tmp_path,
        "version: 1\nclient_id: X\njobs:\n  - segment_group: G\n"
        "    match_criteria: ProfileId\n    values_file: {path: ids.txt}\n",
    )
    result = segrun("validate", spec)
    assert result.returncode == 0
    assert (
        "spec.yaml:6:25: warning: jobs[0].values_file.path: 'ids.txt' does not exist"
        in result.stdout
    )
    result = segrun("plan", spec)
    assert result.returncode == 2
    assert (
        "spec.yaml:6:25: error: jobs[0].values_file.path: 'ids.txt' does not exist" in result.stderr
    )


def test_state_names_the_job_argument_not_only(segrun, tmp_path):
    spec = write(
        tmp_path,
        "version: 1\nclient_id: X\njobs:\n  - name: a\n    segment_group: G\n"
        "    last_datetime: last_success\n",
    )
    for action in ("reset", "show"):
        result = segrun("state", action, spec, "nosuchjob")
        assert result.returncode == 2
        assert_no_traceback(result)
        assert "--only" not in result.stderr
        assert "JOB 'nosuchjob': no such job" in result.stderr
    result = segrun("plan", "--only", "nosuchjob", spec)
    assert "--only 'nosuchjob': no such job" in result.stderr


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (("--format", "json"), "--format applies to --dry-run"),
        (("-q", "-v"), "--quiet and --verbose contradict each other"),
        (("--quiet", "--verbose"), "--quiet and --verbose contradict each other"),
        (("--dry-run", "-q"), "--quiet does nothing with --dry-run, which sends nothing: drop it"),
        (
            ("--dry-run", "--fail-fast", "--out", "x"),
            "--fail-fast, --out do nothing with --dry-run",
        ),
    ],
)
def test_run_flags_that_would_do_nothing_are_errors(segrun, tmp_path, flags, words):
    spec = write(tmp_path, "version: 1\nclient_id: X\njobs:\n  - segment_group: G\n")
    result = segrun("run", *flags, spec, cwd=tmp_path)
    assert result.returncode == 2
    assert_no_traceback(result)
    assert words in result.stderr
    assert not (tmp_path / "runs").exists()  # nothing ran


def test_twenty_thousand_bad_values_read_as_one_problem(segrun, tmp_path):
    count = 20_000
    spec = write(
        tmp_path,
        "version: 1\nclient_id: X\njobs:\n  - segment_group: G\n    match_criteria: EmailAddress\n"
        "    values:\n" + "".join(f"      - not-an-email-{i}\n" for i in range(count)),
    )
    result = segrun("validate", spec, timeout=60)  # a bound on hanging, not a speed target
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert len(lines) == 21
    assert lines[0].endswith(
        "jobs[0].values[0]: 'not-an-email-0' does not look like an e-mail address"
    )
    assert lines[-1] == (
        f"{spec}: note: and 19,980 more like this (error value-format); "
        "--format json lists them all"
    )
    assert "(20000 errors, 0 warnings)" in result.stderr
    result = segrun("validate", "--format", "json", spec, timeout=60)
    listed = json.loads(result.stdout)
    assert len(listed) == count
    assert listed[-1]["line"] == 6 + count


def test_options_that_would_do_nothing_for_this_spec_are_errors(segrun, sandbox, tmp_path):
    remote = write_spec(tmp_path, sandbox.base_url, "- segment_group: VIP Customers\n")
    for args, said in [
        (
            ["--sandbox-faults", "503=0.5", str(remote)],
            "--sandbox-faults only applies to the embedded sandbox (environment: sandbox without base_url); this spec runs against base_url",
        ),
        (
            ["--sandbox-seed", "3", "--sandbox-profiles", "9", str(remote)],
            "--sandbox-profiles, --sandbox-seed only applies",
        ),
        (["--format", "json", str(remote)], "--format applies to --dry-run"),
        (
            ["--dry-run", "--out", str(tmp_path / "o"), str(remote)],
            "--out does nothing with --dry-run",
        ),
        (["--dry-run", "-q", str(remote)], "--quiet does nothing with --dry-run"),
        (["-q", "-v", str(remote)], "--quiet and --verbose contradict each other"),
    ]:
        result = segrun("run", *args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert said in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()
    assert sandbox.counters.requests("initiate") == 0  # nothing was sent


def test_every_help_names_every_exit_code_and_the_fault_syntax_is_reachable(segrun):
    for command in (
        [],
        ["validate"],
        ["plan"],
        ["run"],
        ["report"],
        ["state"],
        ["state", "show"],
        ["state", "reset"],
        ["sandbox"],
        ["schema"],
    ):
        text = " ".join(segrun(*command, "--help").stdout.split())
        for code in (
            "0 every job succeeded",
            "1 a job failed",
            "2 the spec or the command line is invalid",
            "130 interrupted",
            "70 a bug in segrun",
        ):
            assert code in text, (command, code)
    faults = segrun("sandbox", "--help-faults")
    assert faults.returncode == 0
    assert "retrieve:503=0.1" in faults.stdout and "retry_after=N" in faults.stdout
    assert "--help-faults" in segrun("run", "--help").stdout


def test_run_sandbox_profiles_over_the_limit_is_exit_2(segrun, tmp_path):
    """`segrun sandbox --profiles 10000001` said exit 2 cleanly, but `segrun run
    --sandbox-profiles 10000001` was once exit 70: the sandbox's ValueError, raised
    inside the run after the run directory and its .lock were made."""
    shutil.copy(ROOT / "examples" / "quickstart.yaml", tmp_path / "q.yaml")
    r = segrun("run", "q.yaml", "--sandbox-profiles", "10000001", "--out", "r1", cwd=tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr)
