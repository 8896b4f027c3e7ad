"""Diagnostics with the source: plain words for YAML syntax errors, a caret at the
right column, and a help line, in the terminal form and in the one-line form."""

from __future__ import annotations

import subprocess

import pytest

from runner.http.client import CallFailed
from runner.records.hints import advice_for
from tests.support.processes import segrun_argv

HEAD = "version: 1\nclient_id: SanchezAssociates\njobs:\n"

# (file body, line, column of the caret, width, message, help) - the column is 1-based
CASES = {
    "tab": (
        HEAD + "\t- segment_group: VIP\n",
        4,
        1,
        4,
        "a tab indents this line; YAML indents with spaces only",
        "replace the tab with spaces",
    ),
    "colon-in-value": (
        HEAD + "  - segment_group: VIP: Gold Tier\n",
        4,
        20,
        3,
        "the value of segment_group holds ': ', which YAML reads as another key",
        'quote the value: segment_group: "VIP: Gold Tier"',
    ),
    "indented-under-a-value": (
        HEAD + "  - segment_group: VIP\n      page_size: 10\n",
        5,
        7,
        9,
        "page_size is indented under segment_group, which already has a value",
        "indent page_size like segment_group (4 spaces)",
    ),
    "unclosed-double-quote": (
        HEAD + '  - segment_group: "VIP\n    page_size: 10\n',
        4,
        20,
        4,
        'the quote " opened here is never closed',
        'end the value with ", on the same line',
    ),
    "unclosed-single-quote": (
        HEAD + "  - segment_group: 'VIP\n",
        4,
        20,
        4,
        "the quote ' opened here is never closed",
        "end the value with ', on the same line",
    ),
    "unclosed-bracket": (
        HEAD + "  - segment_group: VIP\n    match_criteria: ProfileId\n    values: [1, 2\n"
        "    page_size: 10\n",
        6,
        13,
        5,
        "the [ opened here is never closed",
        "close it with ]",
    ),
    "unclosed-brace": (
        HEAD + "  - segment_group: VIP\n    output: {format: csv\n",
        5,
        13,
        12,
        "the { opened here is never closed",
        "close it with }",
    ),
    "missing-dash": (
        HEAD + "  - segment_group: VIP\n  segment_group: Other\n",
        5,
        3,
        13,
        "this line is not an item of the list above",
        "start it with '- '",
    ),
    "yaml11-boolean": (
        HEAD + "  - name: no\n    segment_group: VIP\n",
        4,
        11,
        2,
        "jobs[0].name: must be a string, not true/false",
        'YAML 1.1 reads no as false; for text, quote it: name: "no"',
    ),
    "yaml11-on": (
        HEAD + "  - segment_group: on\n",
        4,
        20,
        2,
        "jobs[0].segment_group: must be a string, not true/false",
        'YAML 1.1 reads on as true; for text, quote it: segment_group: "on"',
    ),
    "enum-did-you-mean": (
        "version: 1\nclient_id: SanchezAssociates\nenvironment: prod\njobs:\n"
        "  - segment_group: VIP\n",
        3,
        14,
        4,
        "environment: 'prod' is not one of sandbox, production, staging",
        "did you mean 'production'?",
    ),
    "enum-misspelt-start": (
        HEAD + "  - segment_group: VIP\n    match_criteria: Emial\n    values: [a@b.example]\n",
        5,
        21,
        5,
        "jobs[0].match_criteria: 'Emial' is not one of ProfileId, AlternateId, PhoneNumber, "
        "EmailAddress",
        "did you mean 'EmailAddress'?",
    ),
    "key-one-level-down": (
        HEAD + "  - segment_group: VIP\n    format: csv\n",
        5,
        5,
        6,
        "jobs[0].format: unknown key 'format'",
        "format belongs one level down, under output:",
    ),
    "key-one-level-down-in-defaults": (
        "version: 1\nclient_id: SanchezAssociates\ndefaults:\n  interval: 5s\njobs:\n"
        "  - segment_group: VIP\n",
        4,
        3,
        8,
        "defaults.interval: unknown key 'interval'",
        "interval belongs one level down, under poll:",
    ),
}


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    """Every case in its own file, validated in one process per form (fast)."""
    folder = tmp_path_factory.mktemp("cases")
    for case, (body, *_) in CASES.items():
        (folder / f"{case}.yaml").write_text(body)
    files = [str(folder / f"{case}.yaml") for case in sorted(CASES)]
    argv = [*segrun_argv(), "validate"]
    human = subprocess.run([*argv, "--format", "human", *files], capture_output=True, text=True)
    text = subprocess.run([*argv, *files], capture_output=True, text=True)  # not a terminal
    assert human.returncode == text.returncode == 2
    return folder, human.stdout, text.stdout


@pytest.mark.parametrize("case", sorted(CASES))
def test_terminal_form_shows_the_line_a_caret_and_help(validated, case):
    folder, out, _ = validated
    body, line, column, width, message, advice = CASES[case]
    path = folder / f"{case}.yaml"
    lines = out.splitlines()
    gutter = " " * len(str(line))
    arrow = lines.index(f"{gutter}--> {path}:{line}:{column}")
    assert lines[arrow - 1] == f"error: {message}"
    assert lines[arrow + 1] == f"{gutter} |"
    source = body.split("\n")[line - 1]
    assert lines[arrow + 2] == f"{line} | {source.expandtabs(4)}"
    caret = lines[arrow + 3]
    assert caret == f"{gutter} | " + " " * len(source[: column - 1].expandtabs(4)) + "^" * width
    assert lines[arrow + 4].startswith(f"{gutter} = help: {advice}")


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_line_form_keeps_one_line_with_the_help(validated, case):
    folder, _, out = validated
    _, line, column, _, message, advice = CASES[case]
    wanted = f"{folder / case}.yaml:{line}:{column}: error: {message} (help: {advice}"
    assert any(text.startswith(wanted) for text in out.splitlines()), out
    assert "-->" not in out


def test_control_characters_in_a_spec_never_reach_the_terminal(segrun, tmp_path):
    path = tmp_path / "jobs.yaml"
    path.write_bytes(HEAD.encode() + b"  - segment_group: VIP\n    format: \x1b[2Jcsv\n")
    result = segrun("validate", "--format", "human", str(path))
    assert "\x1b" not in result.stdout


@pytest.mark.parametrize(
    ("failure", "advice"),
    [
        (
            CallFailed(
                "initiate", "initiate answered HTTP 401: Unable to authenticate request", 401
            ),
            "check auth.user_id and that the variable named by auth.secret_env",
        ),
        (
            CallFailed(
                "initiate",
                "initiate answered HTTP 403: User demo-user may not export segment group 'X'",
                403,
            ),
            "the user lacks permission for this segment group",
        ),
        (
            CallFailed("initiate", "initiate answered HTTP 404: no such client", 404),
            "check client_id and segment_group (spelling and case); if both are right, the "
            "endpoint path may be wrong",
        ),
        (
            CallFailed(
                "retrieve",
                "retrieve failed after 5 attempts: HTTP 503: later",
                kind="retries_exhausted",
            ),
            "the server kept refusing",
        ),
    ],
)
def test_runtime_errors_carry_what_to_do(failure, advice):
    assert advice_for(failure.kind).startswith(advice)


def test_a_401_says_to_check_the_user_and_the_secret(segrun, tmp_path):
    from runner.sandbox import running_sandbox

    with running_sandbox(profiles=10) as sandbox:
        path = tmp_path / "jobs.yaml"
        path.write_text(
            f"version: 1\nclient_id: SanchezAssociates\nenvironment: sandbox\n"
            f"base_url: {sandbox.base_url}\nauth:\n  scheme: PNAUTHINFO3-HMAC-SHA256\n"
            "  user_id: demo-user\n  secret_env: WRONG_SECRET\n"
            "defaults: {retry: {attempts: 1}}\njobs:\n  - segment_group: VIP Customers\n"
        )
        result = segrun(
            "run", str(path), "--out", str(tmp_path / "r"), env={"WRONG_SECRET": "not-the-secret"}
        )
    assert result.returncode == 1
    assert (
        "help: vip-customers: check auth.user_id and that the variable named by "
        "auth.secret_env holds that user's secret" in result.stdout
    )
    assert "not-the-secret" not in result.stdout + result.stderr
