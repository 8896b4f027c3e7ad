"""A folder the user typed is never created on the spot: a mistyped or unmounted `--state`
or `--out` is exit 2 before anything is sent, not a fresh, empty place where an incremental
job silently becomes a full export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.processes import assert_no_traceback

INCREMENTAL = """\
version: 1
client_id: SanchezAssociates
environment: sandbox
jobs:
  - name: changes
    segment_group: VIP Customers
    last_datetime: last_success
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(INCREMENTAL)
    return path


def records(run_dir: Path) -> int:
    return sum(j["records"] for j in json.loads((run_dir / "report.json").read_text())["jobs"])


def test_an_unmounted_state_folder_is_refused_not_a_full_export(segrun, spec, tmp_path):
    """The first night stores a watermark; a mistyped --state folder the next night used to
    start a new state there and export all 184 records again with exit 0."""
    state = tmp_path / "state" / "state.json"
    state.parent.mkdir()
    first = segrun("run", str(spec), "--out", str(tmp_path / "night1"), "--state", str(state))
    assert first.returncode == 0, first.stderr
    assert records(tmp_path / "night1") > 0
    typo = tmp_path / "stat" / "state.json"
    for command in (["run", "--out", str(tmp_path / "night2")], ["plan"], ["state", "show"]):
        args = [command[0], *(["show"] if command[0] == "state" else []), str(spec)]
        args += command[1:] if command[0] == "run" else []
        result = segrun(*args, "--state", str(typo))
        assert_no_traceback(result)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "does not exist" in result.stderr and str(typo.parent) in result.stderr
    assert not typo.parent.exists()
    assert not (tmp_path / "night2" / "exports").exists()
    second = segrun("run", str(spec), "--out", str(tmp_path / "night3"), "--state", str(state))
    assert second.returncode == 0, second.stderr
    assert records(tmp_path / "night3") == 0  # the real state: nothing changed since


def test_an_out_folder_whose_parent_is_missing_is_refused(segrun, spec, tmp_path):
    out = tmp_path / "mnt" / "exports" / "tonight"
    result = segrun("run", str(spec), "--out", str(out))
    assert_no_traceback(result)
    assert result.returncode == 2, result.stderr
    assert "does not exist" in result.stderr
    assert not (tmp_path / "mnt").exists()


def test_an_out_folder_whose_parent_exists_is_made(segrun, spec, tmp_path):
    out = tmp_path / "tonight"
    result = segrun("run", str(spec), "--out", str(out), "--state", str(tmp_path / "s.json"))
    assert result.returncode == 0, result.stderr
    assert (out / "report.json").is_file()


def test_state_show_json_prints_each_watermark_and_its_history(segrun, spec, tmp_path):
    state = tmp_path / "state.json"
    for night in ("one", "two"):
        done = segrun("run", str(spec), "--out", str(tmp_path / night), "--state", str(state))
        assert done.returncode == 0, done.stderr
    shown = segrun("state", "show", str(spec), "--state", str(state), "--format", "json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    (row,) = document["jobs"]
    assert row["job"] == "changes" and row["incremental"] is True
    stored = json.loads(state.read_text())
    (mark,) = stored["watermarks"].values()
    assert row["watermark"] == mark["last_success"]
    assert [h["records"] for h in row["history"]] == [records(tmp_path / "one"), 0]
    assert row["history"][-1]["initiated"] == row["watermark"]
    assert document["state"] == str(state)
