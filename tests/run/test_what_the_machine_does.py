"""What the machine does to a run: read-only and full file systems, a file where
a folder should be, files segrun wrote and a person then broke. Each ends with one
line and exit 1 or 2, never "internal error" (70), and report.json (when there is
one) never says the run is still running.

Read-only and full file systems are real: small tmpfs mounts (the tests run as
root in CI). Where mounting is not allowed they are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.fake_server import LONG_SECRET
from tests.support.processes import run_segrun, segrun_argv
from tests.support.specs import spec_text


@contextlib.contextmanager
def tmpfs(where: Path, options: str):
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'not permitted'})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def one_line_error(outcome_stderr: str) -> str:
    lines = [line for line in outcome_stderr.splitlines() if line.startswith("segrun: error:")]
    assert len(lines) == 1, outcome_stderr
    assert "Traceback" not in outcome_stderr and "internal error" not in outcome_stderr
    return lines[0]


def segrun(*args: str, cwd: Path | None = None, env: dict | None = None):
    full_env = {**os.environ, "HOSTILE_SECRET": LONG_SECRET, **(env or {})}
    full_env.pop("SEGRUN_DEBUG", None)
    return subprocess.run(
        [*segrun_argv(), *args], capture_output=True, text=True, timeout=60, cwd=cwd, env=full_env
    )


def test_a_read_only_out_folder_is_refused_before_a_send(tmp_path, fake_server):
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text(fake_server.url("fine")))
    with tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
        done = segrun(
            "run", str(spec), "--out", str(ro / "run"), "--state", str(tmp_path / "s.json")
        )
    assert done.returncode == 2, done.stderr
    assert "read-only" in one_line_error(done.stderr)
    assert not fake_server.requests  # nothing was sent


def test_an_out_folder_under_a_file_is_refused_before_a_send(tmp_path, fake_server):
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text(fake_server.url("fine")))
    (tmp_path / "afile").write_text("x")
    done = segrun(
        "run",
        str(spec),
        "--out",
        str(tmp_path / "afile" / "run"),
        "--state",
        str(tmp_path / "s.json"),
    )
    assert done.returncode == 2, done.stderr
    assert "not a folder" in one_line_error(done.stderr)
    assert not fake_server.requests


def test_a_read_only_state_folder_is_refused_before_a_send(tmp_path, fake_server):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        spec_text(fake_server.url("fine"))
    )  # its job is last_success: the state is locked
    with tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
        done = segrun(
            "run", str(spec), "--out", str(tmp_path / "run"), "--state", str(ro / "state.json")
        )
    assert done.returncode == 2, done.stderr
    assert "read-only" in one_line_error(done.stderr)
    assert not fake_server.requests


def test_a_full_disk_fails_the_run_and_the_report_says_so(tmp_path, fake_server):
    jobs = "- name: people\n  segment_group: VIP Customers\n"
    with tmpfs(tmp_path / "small", "size=256k") as small:
        outcome = run_segrun(
            tmp_path,
            spec_text(fake_server.url("big-page"), jobs=jobs),
            LONG_SECRET,
            "--out",
            str(small / "run"),
        )
        assert outcome.code == 1, outcome.stderr
        assert "Traceback" not in outcome.stderr and "internal error" not in outcome.stderr
        report = json.loads((small / "run" / "report.json").read_text())
    assert report["status"] == "failed" and report["finished"], report
    assert "disk is full" in outcome.stderr + json.dumps(report) or "No space" in json.dumps(report)


@pytest.mark.parametrize(
    "text",
    [
        "garbage",
        "[]",
        '{"status": 5, "started": "x", "spec": "s"}',
        '{"status": "failed", "started": "x", "spec": "s", "jobs": [{"name": 1}]}',
        '{"status": "failed", "started": "x", "spec": "s", "jobs": [{"name": "a", "segment_group": "b", "status": "failed", "records": "many"}]}',
        "[" * 100_000,
        b"\xff\xfe not utf-8",
    ],
    ids=lambda t: repr(t)[:30],
)
def test_a_corrupted_report_stops_the_resume_before_a_send(tmp_path, fake_server, text):
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text(fake_server.url("fine")))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    data = text if isinstance(text, bytes) else text.encode()
    (run_dir / "report.json").write_bytes(data)
    done = segrun("run", str(spec), "--resume", str(run_dir), "--state", str(tmp_path / "s.json"))
    assert done.returncode == 2, done.stderr
    assert "report.json" in one_line_error(done.stderr)
    assert not fake_server.requests


@pytest.mark.parametrize(
    "text",
    [
        "garbage",
        "[]",
        '{"job": "people", "access_token": "abc", "last_datetime": null, "initiated_at": "x"}',
        '{"job": "people", "access_token": 4242, "last_datetime": null, "initiated_at": "2026-01-01T00:00:00.000Z", "part_bytes": -5}',
        '{"job": "people", "access_token": 4242, "last_datetime": null, "initiated_at": "0000-99-99"}',
    ],
    ids=lambda t: t[:30],
)
def test_a_corrupted_checkpoint_on_resume_is_refused_before_a_send(tmp_path, fake_server, text):
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text(fake_server.url("fine")))
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    report = {
        "format": 1,
        "status": "running",
        "started": "2026-11-29T00:00:00.000Z",
        "finished": None,
        "spec": str(spec),
        "jobs": [],
    }
    (run_dir / "report.json").write_text(json.dumps(report))
    (run_dir / "checkpoints" / "people.json").write_text(text)
    done = segrun("run", str(spec), "--resume", str(run_dir), "--state", str(tmp_path / "s.json"))
    assert done.returncode == 2, done.stderr
    line = one_line_error(done.stderr)
    assert "checkpoints/people.json is not a checkpoint segrun wrote" in line
    assert "delete it to run job 'people' from the start" in line
    assert not (run_dir / "exports").exists()  # nothing was fetched


@pytest.mark.parametrize(
    "text",
    [
        "garbage",
        "[]",
        "{" * 100_000,
        "KEY-NOT-A-DICT",
        "KEY-BAD-TIME",
    ],
    ids=lambda t: t[:20],
)
def test_a_corrupted_state_file_is_exit_2_naming_it(tmp_path, fake_server, text):
    from runner.jobspec.loading import load_for_run
    from runner.run.state import FORMAT, watermark_key

    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text(fake_server.url("fine")))
    loaded = load_for_run(str(spec), {"HOSTILE_SECRET": LONG_SECRET})
    state = tmp_path / "state.json"
    key = watermark_key(loaded, loaded.jobs[0], state)
    if text == "KEY-NOT-A-DICT":
        text = json.dumps({"format": FORMAT, "watermarks": {key: "yesterday"}})
    elif text == "KEY-BAD-TIME":
        text = json.dumps(
            {"format": FORMAT, "watermarks": {key: {"last_success": "0000-13-45T99"}}}
        )
    state.write_text(text)
    commands = [["run", str(spec), "--out", str(tmp_path / "run")]]
    if text == "KEY-BAD-TIME":
        commands.append(["plan", str(spec)])
    for command in commands:
        done = segrun(*command, "--state", str(state))
        assert done.returncode == 2, done.stderr
        assert str(state) in one_line_error(done.stderr)
    assert not fake_server.requests
