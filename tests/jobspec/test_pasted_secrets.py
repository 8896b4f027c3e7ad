"""A secret pasted into a spec is refused, and never shown back: not in the
picture of any diagnostic (the source line under the message), whichever problem
that line is drawn for, nor in a message, a help line, the one-line or the JSON
form; on validate, plan and run, on a terminal and off it."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.processes import on_a_terminal, segrun_argv, segrun_environ

SECRET = "Zx9!pa55w0rd-v3ry-s3cret"
TOP = "version: 1\nclient_id: X\n"
JOBS = "jobs:\n  - segment_group: VIP\n"
PASTED = {
    "plain": f"auth:\n  scheme: PNAUTHINFO3-HMAC-SHA256\n  user_id: u\n  secret: {SECRET}\n",
    "quoted with escapes": (
        "auth:\n  scheme: PNAUTHINFO3-HMAC-SHA256\n  user_id: u\n"
        '  secret: "Zx9\\x21pa55w0rd-v3ry-s3cret"\n'
    ),
    "in a flow mapping": (
        f"auth: {{scheme: PNAUTHINFO3-HMAC-SHA256, secret: {SECRET}, user_id: u, bogus: 1}}\n"
    ),
    "over lines": (
        "auth:\n  scheme: PNAUTHINFO3-HMAC-SHA256\n  user_id: u\n"
        "  password: |\n    Zx9!pa55w0rd-v3ry-s3cret\n    and-a-second-line\n"
    ),
    "where its variable's name belongs": (
        f"auth:\n  scheme: PNAUTHINFO3-HMAC-SHA256\n  user_id: u\n  secret_env: {SECRET}\n"
    ),
    "on a line YAML cannot read": (
        "auth:\n  scheme: PNAUTHINFO3-HMAC-SHA256\n  user_id: u\n"
        "  secret: Zx9!pa55: w0rd-v3ry-s3cret\n"
    ),
    "with its quote never closed": (
        "auth:\n  scheme: PNAUTHINFO3-HMAC-SHA256\n  user_id: u\n"
        '  token: "Zx9!pa55w0rd-v3ry-s3cret\n'
    ),
}
#: what must not be shown: the secret, any 8 characters of it, its escaped spelling
PIECES = [SECRET[i : i + 8] for i in range(len(SECRET) - 7)] + ["\\x21pa55", "second-line"]


def shown(text: str) -> list[str]:
    return [piece for piece in PIECES if piece in text]


@pytest.mark.parametrize("spelling", PASTED)
def test_a_secret_pasted_into_a_spec_is_never_shown(tmp_path, spelling):
    (tmp_path / "spec.yaml").write_text(TOP + PASTED[spelling] + JOBS)
    commands = [
        ["validate", "--format", "human", "spec.yaml"],
        ["validate", "--format", "text", "spec.yaml"],
        ["validate", "--format", "json", "spec.yaml"],
        ["plan", "spec.yaml"],
        ["run", "spec.yaml", "--out", "run"],
    ]
    for command in commands:
        off = subprocess.run(
            [*segrun_argv(), *command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env=segrun_environ(),
        )
        assert off.returncode == 2, (command, off.stdout, off.stderr)
        assert not shown(off.stdout + off.stderr), (command, off.stdout + off.stderr)
        code, seen = on_a_terminal([*segrun_argv(), *command], tmp_path)
        text = seen.decode("utf-8", "replace")
        assert code == 2, (command, text)
        if "text" not in command and "json" not in command:  # a picture was drawn
            assert "<redacted>" in text, (command, text)
        assert not shown(text), (command, text)
    assert not (tmp_path / "run").exists()


def test_the_picture_masks_the_value_and_keeps_its_caret(tmp_path):
    """The source line shows `<redacted>` where the secret was, and a caret drawn
    for a later key on the same line still points at that key."""
    (tmp_path / "spec.yaml").write_text(TOP + PASTED["in a flow mapping"] + JOBS)
    result = subprocess.run(
        [*segrun_argv(), "validate", "--format", "human", "spec.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=segrun_environ(),
    )
    lines = result.stdout.splitlines()
    at = lines.index(next(line for line in lines if "unknown key 'bogus'" in line))
    source, caret = lines[at + 3], lines[at + 4]
    assert source.endswith(
        "auth: {scheme: PNAUTHINFO3-HMAC-SHA256, secret: <redacted>, user_id: u, bogus: 1}"
    )
    assert source[caret.index("^") :].startswith("bogus")


def test_a_placeholder_under_a_secret_key_hides_no_words(tmp_path):
    """`token: no` is refused like any pasted value, but "no" is YAML's false, not
    a secret: the gate does not learn it, so "not" and "unknown" still read."""
    (tmp_path / "spec.yaml").write_text(
        TOP + "auth:\n  scheme: PNAUTHINFO3-HMAC-SHA256\n  user_id: u\n  secret_env: S\n"
        "  token: no\n  bogus: 1\n" + JOBS
    )
    result = subprocess.run(
        [*segrun_argv(), "validate", "--format", "text", "spec.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=segrun_environ(),
    )
    assert "is not set" in result.stdout and "unknown key 'bogus'" in result.stdout, result.stdout
    assert "auth.token: never write a secret" in result.stdout
