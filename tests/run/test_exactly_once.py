"""Exactly once at every seam: each way v1 lost or mislabelled data silently.

Every test runs real exports over HTTP (the sandbox, or a lying server on
127.0.0.1) and reads back the files segrun wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from runner.commands.run import RunOptions, _run_directory
from runner.errors import SegrunError
from runner.jobspec.loading import load_for_run
from runner.records.report import RunReport
from runner.run.execute import Progress, StopFlag
from runner.sandbox import running_sandbox
from runner.system import durable
from tests.support.fake_server import envelope, lying_pages, record, serving_pages
from tests.support.processes import segrun_argv
from tests.support.runs import job, read_jsonl, run
from tests.support.specs import write_spec

DELTA = """
    - name: delta
      segment_group: All Profiles
      last_datetime: last_success
      page_size: 40
"""


def cli(
    *args: str, env: dict | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    full = {**os.environ, **(env or {})}
    full.pop("SEGRUN_DEBUG", None)
    return subprocess.run(
        [*segrun_argv(), *args], capture_output=True, text=True, timeout=120, env=full, cwd=cwd
    )


def state_entries(spec: Path) -> dict:
    path = spec.parent / ".segrun" / "state.json"
    return json.loads(path.read_text())["watermarks"] if path.exists() else {}


def test_a_crash_between_the_watermark_and_the_report_never_empties_the_export(tmp_path):
    """v1: the watermark was stored and the checkpoint cleared before the report said
    "succeeded"; --resume then ran the job as a delta and replaced the full export with
    an empty one."""
    with running_sandbox(profiles=300, seed=3) as sandbox:
        spec = write_spec(tmp_path, sandbox.base_url, DELTA)
        run_dir = tmp_path / "run"
        # report.json is written once at the start and once per job: #2 is the job's entry,
        # right after the watermark (its state.json write) is durable.
        killed = cli(
            "run",
            "-q",
            str(spec),
            "--out",
            str(run_dir),
            env={durable.CRASH_ENV: "write report.json#2"},
        )
        assert killed.returncode == -9, killed.stderr
        assert len(state_entries(spec)) == 1  # the watermark was stored...
        assert RunReport.load(run_dir / "report.json").jobs == []  # ...the report never said so
        initiates = sandbox.counters.requests("initiate")
        resumed = cli("run", "-q", str(spec), "--resume", str(run_dir))
        assert resumed.returncode == 0, resumed.stderr
        assert sandbox.counters.requests("initiate") == initiates  # finished, not re-exported
        assert read_jsonl(run_dir / "exports" / "delta.jsonl") == sandbox.expected_records(
            "All Profiles"
        )
        report = RunReport.load(run_dir / "report.json")
        assert [j.status for j in report.jobs] == ["succeeded"] and report.jobs[0].records == 300
        assert not (run_dir / "checkpoints" / "delta.json").exists()


def test_resume_with_only_never_downgrades_a_job_that_succeeded(tmp_path):
    """v1: `--resume R --only b` rewrote job a as "skipped"; a second `--resume R` then
    re-ran a as a delta from its new watermark and emptied its export."""
    with running_sandbox(profiles=200, seed=4) as sandbox:
        spec = write_spec(
            tmp_path,
            sandbox.base_url,
            DELTA
            + """
    - name: b
      segment_group: VIP Customers
""",
        )
        run_dir = tmp_path / "run"
        first = run(spec, tmp_path, out=run_dir)
        a = job(first, "delta")
        assert a.status == "succeeded" and a.records == 200
        initiates = sandbox.counters.requests("initiate")
        again = run(spec, tmp_path, out=None, resume=run_dir, only=("b",))
        kept = job(again, "delta")
        assert (kept.status, kept.sha256, kept.output) == ("succeeded", a.sha256, a.output)
        third = run(spec, tmp_path, out=None, resume=run_dir)
        assert job(third, "delta").sha256 == a.sha256
        assert sandbox.counters.requests("initiate") == initiates  # nothing ran again
        assert read_jsonl(run_dir / "exports" / "delta.jsonl") == sandbox.expected_records(
            "All Profiles"
        )


class StopAfterFirstPage(Progress):
    def __init__(self, stop: StopFlag) -> None:
        self.stop = stop

    def advance(self, job, records):
        if records:
            self.stop.request()


def test_resume_after_the_spec_changed_starts_the_job_afresh(tmp_path):
    """v1: killed mid-export, spec edited (another segment group), --resume continued
    the old token, labelled its records with the new group and stored the watermark
    under the new key."""
    with running_sandbox(profiles=300, seed=6) as sandbox:
        spec = write_spec(tmp_path, sandbox.base_url, DELTA)
        run_dir = tmp_path / "run"
        stop = StopFlag()
        first = run_spec_with(spec, run_dir, stop=stop, progress=StopAfterFirstPage(stop))
        assert job(first, "delta").status == "interrupted"
        assert (run_dir / "checkpoints" / "delta.json").exists()
        spec.write_text(spec.read_text().replace("All Profiles", "VIP Customers"))
        resumed = run(spec, tmp_path, out=None, resume=run_dir)
        result = job(resumed, "delta")
        assert result.status == "succeeded", result.error
        assert any(
            "the spec changed since this job was checkpointed (the segment group" in n
            for n in result.notes
        )
        assert read_jsonl(run_dir / "exports" / "delta.jsonl") == sandbox.expected_records(
            "VIP Customers"
        )
        (entry,) = state_entries(spec).values()
        assert entry["segment_group"] == "VIP Customers"


def run_spec_with(spec: Path, run_dir: Path, **options):
    from runner.commands.run import run_spec

    stop = options.pop("stop")
    return run_spec(
        str(spec), RunOptions(out=run_dir, quiet=True, **options), environ={}, stop=stop
    )


def test_two_runs_in_the_same_second_get_two_directories(tmp_path, monkeypatch):
    import datetime as dt

    monkeypatch.chdir(tmp_path)
    spec = write_spec(tmp_path, None, "- segment_group: VIP Customers\n")
    loaded = load_for_run(str(spec), {})
    moment = dt.datetime(2026, 11, 29, 2, 0, 0, tzinfo=dt.timezone.utc)
    first, _ = _run_directory(loaded, RunOptions(), moment)
    second, _ = _run_directory(loaded, RunOptions(), moment)
    assert first != second and first.is_dir() and second.is_dir()
    # and through the CLI: two runs of the embedded sandbox, each its own directory
    for _ in range(2):
        assert cli("run", "-q", str(spec), cwd=tmp_path).returncode == 0
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 4
    assert len([r for r in runs if (r / "report.json").exists()]) == 2


def test_out_on_a_directory_that_holds_a_run_is_refused(tmp_path):
    spec = write_spec(tmp_path, None, "- segment_group: VIP Customers\n")
    assert cli("run", "-q", str(spec), "--out", str(tmp_path / "run")).returncode == 0
    before = (tmp_path / "run" / "exports" / "vip-customers.jsonl").read_bytes()
    again = cli("run", "-q", str(spec), "--out", str(tmp_path / "run"))
    assert again.returncode == 2
    assert "already holds a run" in again.stderr and f"--resume {tmp_path / 'run'}" in again.stderr
    assert (tmp_path / "run" / "exports" / "vip-customers.jsonl").read_bytes() == before


@pytest.mark.parametrize("planted", ["exports", "report.json", "transcript.har", "checkpoints"])
def test_nothing_is_written_through_a_planted_symlink(tmp_path, planted):
    spec = write_spec(tmp_path, None, "- segment_group: VIP Customers\n")
    run_dir, outside = tmp_path / "run", tmp_path / "outside"
    run_dir.mkdir()
    outside.mkdir()
    (run_dir / planted).symlink_to(outside / planted)
    result = cli("run", "-q", str(spec), "--resume", str(run_dir))
    assert result.returncode == 2, result.stderr
    assert "symlink" in result.stderr and "Traceback" not in result.stderr
    assert list(outside.iterdir()) == []


def test_a_symlinked_export_folder_inside_exports_is_refused(tmp_path):
    with running_sandbox(profiles=50) as sandbox:
        spec = write_spec(
            tmp_path,
            sandbox.base_url,
            """
    - name: nested
      segment_group: All Profiles
      page_size: 10
      output: {path: "sub/{job}.jsonl"}
""",
        )
        run_dir, outside = tmp_path / "run", tmp_path / "outside"
        outside.mkdir()
        stop = StopFlag()
        first = run_spec_with(spec, run_dir, stop=stop, progress=StopAfterFirstPage(stop))
        assert job(first, "nested").status == "interrupted"
        part = run_dir / "exports" / "sub"
        for child in part.iterdir():
            child.unlink()
        part.rmdir()
        part.symlink_to(outside)
        with pytest.raises(SegrunError, match="exports/sub is a symlink") as refused:
            run(spec, tmp_path, out=None, resume=run_dir)
        assert refused.value.exit_code == 2
        assert list(outside.iterdir()) == []


def test_a_watermark_belongs_to_its_target_and_its_spec(tmp_path):
    """v1: a sandbox rehearsal's watermark was used by the first run against another
    target; two specs in one folder shared watermarks, and `state reset` of one
    cleared the other's."""
    with running_sandbox(profiles=120, seed=8) as one, running_sandbox(profiles=120, seed=8) as two:
        first = write_spec(tmp_path, one.base_url, DELTA)
        other = tmp_path / "other.yaml"
        other.write_text(first.read_text())
        assert job(run(first, tmp_path, out=tmp_path / "r1"), "delta").records == 120
        assert len(state_entries(first)) == 1
        # the same spec aimed at another target: no watermark applies, a full export
        first.write_text(first.read_text().replace(one.base_url, two.base_url))
        plan = cli("plan", str(first))
        assert "warning: last_success: no watermark for this job in" in plan.stdout, plan.stdout
        retarget = job(run(first, tmp_path, out=tmp_path / "r2"), "delta")
        assert retarget.records == 120
        # another spec in the same folder: its own watermarks
        assert job(run(other, tmp_path, out=tmp_path / "r3"), "delta").records == 120
        entries = state_entries(first)
        assert len(entries) == 3
        assert {e["spec"] for e in entries.values()} == {"path:../spec.yaml", "path:../other.yaml"}
        reset = cli("state", "reset", str(other))
        assert reset.returncode == 0 and "cleared: delta" in reset.stdout
        assert {e["spec"] for e in state_entries(first).values()} == {"path:../spec.yaml"}
        shown = cli("state", "show", str(first))
        assert "delta: 20" in shown.stdout  # this target's watermark
        assert "not this spec's current target" in shown.stdout  # and the rehearsal's, told apart


def test_a_top_level_name_is_the_spec_identity(tmp_path):
    with running_sandbox(profiles=60) as sandbox:
        spec = write_spec(tmp_path, sandbox.base_url, DELTA, top="name: nightly-crm\n")
        run(spec, tmp_path, out=tmp_path / "r1")
        (entry,) = state_entries(spec).values()
        assert entry["spec"] == "name:nightly-crm"
        moved = tmp_path / "elsewhere"
        moved.mkdir()
        (moved / "renamed.yaml").write_text(spec.read_text())
        again = run(
            moved / "renamed.yaml",
            tmp_path,
            out=tmp_path / "r2",
            state=tmp_path / ".segrun" / "state.json",
        )
        assert any("watermark" in n and "sent as" in n for n in job(again, "delta").notes)


def test_an_older_state_file_is_ignored_with_a_note(tmp_path):
    with running_sandbox(profiles=60) as sandbox:
        spec = write_spec(tmp_path, sandbox.base_url, DELTA)
        state = tmp_path / ".segrun" / "state.json"
        state.parent.mkdir()
        state.write_text(
            json.dumps(
                {
                    "format": 1,
                    "watermarks": {
                        "SanchezAssociates/All Profiles/0123456789abcdef": {
                            "job": "delta",
                            "segment_group": "All Profiles",
                            "last_success": "2099-01-01T00:00:00.000Z",
                            "stored": "2099-01-01T00:00:00.000Z",
                        }
                    },
                }
            )
        )
        result = job(run(spec, tmp_path), "delta")
        assert result.records == 60  # a full export, not a delta from a foreign watermark
        assert any("older segrun (format 1)" in n for n in result.notes)


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("hasmore_forever", "HasMore is true, but the next offset 26 passes TotalResults 25"),
        ("growing_total", "TotalResults changed from 20 to 30"),
        ("beyond_total", "more than TotalResults 25"),
        ("same_records", "ProfileId 'P000001' at record 11 was already exported at record 1"),
    ],
)
def test_a_server_that_lies_about_the_records_fails_the_job_naming_the_call(tmp_path, mode, words):
    with serving_pages(lying_pages(mode, total=25), rowcount=25) as (base_url, liar):
        spec = write_spec(
            tmp_path, base_url, "- name: lie\n  segment_group: VIP Customers\n  page_size: 10\n"
        )
        outcome = run(spec, tmp_path)
        result = job(outcome, "lie")
        assert result.status == "failed"
        assert result.error.startswith("Retrieve at offset") and words in result.error, result.error
        assert len(liar.retrieves) <= 4 and liar.commits == 0
        assert not (tmp_path / "run" / "exports" / "lie.jsonl").exists()
        assert outcome.report.exit_code == 1


def test_a_repeat_within_one_page_is_caught_too(tmp_path):
    with serving_pages(lying_pages("repeat_in_page", total=25), rowcount=25) as (base_url, _):
        spec = write_spec(
            tmp_path, base_url, "- name: lie\n  segment_group: VIP Customers\n  page_size: 10\n"
        )
        result = job(run(spec, tmp_path), "lie")
        assert result.status == "failed"
        assert result.error == (
            "Retrieve at offset 1: ProfileId 'P000001' at record 10 was already exported at record 1"
        )


def test_text_with_no_utf8_form_is_written_through(tmp_path):
    with serving_pages(lying_pages("surrogates", total=12), rowcount=12) as (base_url, _):
        spec = write_spec(
            tmp_path,
            base_url,
            """
    - name: odd
      segment_group: VIP Customers
      page_size: 5
    - name: odd-csv
      segment_group: VIP Customers
      page_size: 5
      output: {format: csv}
""",
        )
        outcome = run(spec, tmp_path)
        assert [j.status for j in outcome.report.jobs] == ["succeeded", "succeeded"]
        lines = (tmp_path / "run" / "exports" / "odd.jsonl").read_bytes().splitlines()
        assert len(lines) == 12
        assert json.loads(lines[0])["Name"] == "lone \ud800 surrogate \udfff"
        csv_text = (tmp_path / "run" / "exports" / "odd-csv.csv").read_text(encoding="utf-8")
        assert "\\ud800" in csv_text and csv_text.count("\n") == 13


@pytest.mark.parametrize(
    "damage",
    [
        lambda c: "{not json",
        lambda c: json.dumps({**c, "job": "../../escape"}),
        lambda c: json.dumps({**c, "part_bytes": -5}),
        lambda c: json.dumps({**c, "phase": "complete"}),  # complete without a sha256
        lambda c: json.dumps([c]),
        lambda c: "[" * 100000,
    ],
)
def test_a_checkpoint_segrun_did_not_write_stops_the_resume_before_a_send(tmp_path, damage):
    with running_sandbox(profiles=200) as sandbox:
        spec = write_spec(
            tmp_path,
            sandbox.base_url,
            "- name: vip\n  segment_group: All Profiles\n  page_size: 10\n",
        )
        stop = StopFlag()
        run_spec_with(spec, tmp_path / "run", stop=stop, progress=StopAfterFirstPage(stop))
        checkpoint = tmp_path / "run" / "checkpoints" / "vip.json"
        checkpoint.write_text(damage(json.loads(checkpoint.read_text())))
        requests_before = sum(
            sandbox.counters.requests(c) for c in ("initiate", "status", "retrieve", "commit")
        )
        result = cli("run", "-q", str(spec), "--resume", str(tmp_path / "run"))
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert "checkpoints/vip.json is not a checkpoint segrun wrote" in result.stderr
        assert (
            sum(sandbox.counters.requests(c) for c in ("initiate", "status", "retrieve", "commit"))
            == requests_before
        )


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: "{torn",
        lambda r: json.dumps({**r, "jobs": [{**r["jobs"][0], "name": "../../etc/passwd"}]}),
        lambda r: json.dumps({**r, "jobs": "nope"}),
        lambda r: json.dumps({**r, "status": "bogus"}),
    ],
)
def test_a_report_segrun_did_not_write_stops_the_resume(tmp_path, damage):
    spec = write_spec(tmp_path, None, "- name: vip\n  segment_group: VIP Customers\n")
    assert cli("run", "-q", str(spec), "--out", str(tmp_path / "run")).returncode == 0
    report = tmp_path / "run" / "report.json"
    report.write_text(damage(json.loads(report.read_text())))
    result = cli("run", "-q", str(spec), "--resume", str(tmp_path / "run"))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "report.json" in result.stderr


def test_a_damaged_partial_export_is_fetched_again_not_trusted(tmp_path):
    with running_sandbox(profiles=200, seed=2) as sandbox:
        spec = write_spec(
            tmp_path,
            sandbox.base_url,
            "- name: vip\n  segment_group: All Profiles\n  page_size: 10\n",
        )
        stop = StopFlag()
        run_spec_with(spec, tmp_path / "run", stop=stop, progress=StopAfterFirstPage(stop))
        part = tmp_path / "run" / "exports" / "vip.jsonl.part"
        data = bytearray(part.read_bytes())
        data[0:1] = b"#"  # same length, no longer JSON
        part.write_bytes(bytes(data))
        result = job(run(spec, tmp_path, out=None, resume=tmp_path / "run"), "vip")
        assert result.status == "succeeded"
        assert any("does not match its checkpoint; re-initiated" in n for n in result.notes)
        assert read_jsonl(tmp_path / "run" / "exports" / "vip.jsonl") == sandbox.expected_records(
            "All Profiles"
        )


# -- more seams of the lifecycle ------------------------------------------------------------


def test_an_export_named_like_another_jobs_part_file_is_refused_by_validate(tmp_path):
    spec = write_spec(
        tmp_path,
        None,
        """
    - name: y
      segment_group: VIP Customers
      output: {path: a.jsonl.part}
    - name: a
      segment_group: VIP Customers
""",
    )
    result = cli("validate", str(spec))
    assert result.returncode == 2
    assert "must not end with .part or .csv-tmp or .xlsx-tmp" in result.stdout


def test_a_spec_renamed_between_a_crash_and_the_resume_starts_the_job_afresh(tmp_path):
    """The spec's identity keys the watermark: a resume under another identity must not
    finish a delta taken from the old identity's watermark and store it under the new."""
    from runner.run.state import FORMAT, watermark_fields, watermark_key

    earlier = "2026-01-01T00:00:00.123Z"
    with running_sandbox(profiles=200, seed=3) as sandbox:
        spec = write_spec(tmp_path, sandbox.base_url, DELTA)
        state = tmp_path / ".segrun" / "state.json"
        loaded = load_for_run(str(spec), {})
        state.parent.mkdir()
        state.write_text(
            json.dumps(
                {
                    "format": FORMAT,
                    "watermarks": {
                        watermark_key(loaded, loaded.jobs[0], state): {
                            **watermark_fields(loaded, loaded.jobs[0], state),
                            "last_success": earlier,
                            "stored": earlier,
                        }
                    },
                }
            )
        )
        run_dir = tmp_path / "run"
        killed = cli(
            "run",
            "-q",
            str(spec),
            "--out",
            str(run_dir),
            env={durable.CRASH_ENV: "rename delta.jsonl.part -> delta.jsonl#1"},
        )
        assert killed.returncode == -9, killed.stderr
        spec.write_text("name: nightly\n" + spec.read_text())
        assert cli("run", "-q", str(spec), "--resume", str(run_dir)).returncode == 0
        result = RunReport.load(run_dir / "report.json").jobs[0]
        assert any("the watermark's identity" in n for n in result.notes), result.notes
        # under its new identity the job has no watermark: a full export, as uninterrupted
        assert read_jsonl(run_dir / "exports" / "delta.jsonl") == sandbox.expected_records(
            "All Profiles"
        )


def test_a_job_removed_from_the_spec_keeps_its_entry_and_is_never_exported_over(tmp_path):
    with running_sandbox(profiles=100) as sandbox:
        both = (
            "- name: a\n  segment_group: VIP Customers\n- name: b\n  segment_group: All Profiles\n"
        )
        spec = write_spec(tmp_path, sandbox.base_url, both)
        run_dir = tmp_path / "run"
        first = job(run(spec, tmp_path, out=run_dir), "a")
        spec.write_text(
            spec.read_text().replace("  - name: a\n    segment_group: VIP Customers\n", "")
        )
        middle = run(spec, tmp_path, out=None, resume=run_dir)
        kept = job(middle, "a")
        assert (kept.status, kept.sha256) == ("succeeded", first.sha256)
        assert any("no longer in the spec" in n for n in kept.notes)
        spec.write_text(
            spec.read_text().replace(
                "jobs:\n", "jobs:\n  - name: a\n    segment_group: VIP Customers\n"
            )
        )
        last = job(run(spec, tmp_path, out=None, resume=run_dir), "a")
        assert (last.status, last.sha256) == ("succeeded", first.sha256)


def test_float_profile_ids_repeated_are_caught(tmp_path):
    def float_id(n: int, **extra) -> dict:
        return {**record(n, **extra), "ProfileId": float(n)}

    pages = lying_pages("same_records", total=25, record=float_id)
    with serving_pages(pages, rowcount=25) as (base_url, _):
        spec = write_spec(
            tmp_path, base_url, "- name: lie\n  segment_group: VIP Customers\n  page_size: 10\n"
        )
        result = job(run(spec, tmp_path), "lie")
    assert result.status == "failed" and "ProfileId 1.0 at record 11" in result.error


def test_strict_reconcile_stops_a_server_that_sends_past_rowcount(tmp_path):
    with serving_pages(lying_pages("hasmore_forever", total=25), rowcount=12) as (base_url, liar):
        spec = write_spec(
            tmp_path,
            base_url,
            "- name: lie\n  segment_group: VIP Customers\n  page_size: 10\n  reconcile: strict\n",
        )
        result = job(run(spec, tmp_path), "lie")
    assert result.status == "failed" and "more than RowCount 12 (reconcile: strict)" in result.error
    assert len(liar.retrieves) == 2


def test_two_specs_cannot_share_an_identity_through_a_file_name(tmp_path):
    from runner.jobspec.model import Spec
    from runner.run.state import spec_identity

    named = Spec(tmp_path / "a.yaml", 1, "c", "sandbox", None, None, declared_name="nightly")
    odd = Spec(tmp_path / "name:nightly", 1, "c", "sandbox", None, None)
    state = tmp_path / "state.json"
    assert spec_identity(named, state) != spec_identity(odd, state)


@pytest.mark.parametrize("where", ["checkpoints/vip.json", "report.json", ".lock"])
def test_a_fifo_or_link_planted_in_the_run_directory_never_hangs(tmp_path, where):
    with running_sandbox(profiles=100) as sandbox:
        spec = write_spec(
            tmp_path,
            sandbox.base_url,
            "- name: vip\n  segment_group: All Profiles\n  page_size: 10\n",
        )
        stop = StopFlag()
        run_spec_with(spec, tmp_path / "run", stop=stop, progress=StopAfterFirstPage(stop))
        target = tmp_path / "run" / where
        target.unlink(missing_ok=True)  # an interrupted run leaves no .lock
        if where == ".lock":
            target.symlink_to(tmp_path / "elsewhere")
        else:
            os.mkfifo(target)
        result = cli("run", "-q", str(spec), "--resume", str(tmp_path / "run"))
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
        assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize(
    "entry",
    [
        {"job": ["x"]},
        {"stored": None},
        {"last_success": "0001-01-01T00:00:00.000Z"},
        {"last_success": "9999-12-31T23:59:59.999Z"},
    ],
)
def test_a_state_entry_segrun_did_not_write_is_exit_2_for_run_plan_and_state(tmp_path, entry):
    from runner.run.state import FORMAT, watermark_fields, watermark_key

    spec = write_spec(tmp_path, None, DELTA)
    loaded = load_for_run(str(spec), {})
    state = tmp_path / ".segrun" / "state.json"
    state.parent.mkdir()
    good = {
        **watermark_fields(loaded, loaded.jobs[0], state),
        "last_success": "2026-01-01T00:00:00.000Z",
        "stored": "2026-01-01T00:00:00.000Z",
    }
    state.write_text(
        json.dumps(
            {
                "format": FORMAT,
                "watermarks": {watermark_key(loaded, loaded.jobs[0], state): {**good, **entry}},
            }
        )
    )
    for command in (["run", "-q"], ["plan"], ["state", "show"]):
        result = cli(*command, str(spec), cwd=tmp_path)
        assert result.returncode == 2, (command, result.stderr)
        assert str(state) in result.stderr and "internal error" not in result.stderr


@pytest.mark.parametrize(
    ("first", "again", "one_id"),
    [
        (b"1", b"1.0", True),
        (b"0", b"-0.0", True),
        (b"1e22", b"10000000000000000000000", True),
        (b"12", b"1.2e1", True),
        (b"1e23", b"100000000000000000000000", True),
        (b"1", b'"1"', False),
        (b"1", b"true", False),
        (b"0", b"false", False),
        (b"1e23", b"99999999999999991611392", False),
    ],
)
def test_profile_ids_equal_as_json_numbers_are_one_id(tmp_path, first, again, one_id):
    """A reader that loads the export as numbers sees `1` and `1.0` as one id twice: the
    export fails; a number and its text, or a boolean, stay two ids."""

    def page(offset: int, limit: int):
        records = [b'{"ProfileId": %s, "n": 1}' % first, b'{"ProfileId": %s, "n": 2}' % again]
        return 200, envelope(records, offset, limit, 2, False), {}

    with serving_pages(page, rowcount=2) as (base_url, _):
        spec = write_spec(tmp_path, base_url, "- name: ids\n  segment_group: VIP Customers\n")
        result = job(run(spec, tmp_path), "ids")
    if one_id:
        assert result.status == "failed" and "at record 2" in result.error, result.error
    else:
        assert result.status == "succeeded", result.error
