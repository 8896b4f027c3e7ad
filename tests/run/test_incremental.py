"""`last_datetime: last_success`: watermarks, the state file, its lock."""

from __future__ import annotations

import json
import textwrap

from runner.apifacts import timestamps
from runner.apifacts.timestamps import effective, parse_wire
from runner.run.execute import Progress
from runner.run.state import hold_lock
from tests.support.runs import job, read_jsonl, run
from tests.support.specs import write_spec

JOBS = """
    - name: delta
      segment_group: All Profiles
      last_datetime: last_success
      page_size: 50
    - name: delta-vip-ids
      segment_group: All Profiles
      last_datetime: last_success
      match_criteria: ProfileId
      values: [10000001, 10000002]
"""


class TouchWhileExporting(Progress):
    """Modifies profiles in the sandbox while the first page is being written."""

    def __init__(self, sandbox, profile_ids):
        self.sandbox, self.profile_ids, self.done = sandbox, profile_ids, False

    def advance(self, job, records):
        if not self.done and records:
            self.done = True
            for pid in self.profile_ids:
                self.sandbox.touch_profiles([pid])


def test_records_modified_during_an_export_are_in_the_next_run(sandbox, tmp_path, segrun):
    spec = write_spec(tmp_path, sandbox.base_url, JOBS)
    touched = ["10000007", "10000150", "10000299"]
    first = run(
        spec, tmp_path, out=tmp_path / "first", progress=TouchWhileExporting(sandbox, touched)
    )
    delta = job(first, "delta")
    assert delta.status == "succeeded"
    state_file = tmp_path / ".segrun" / "state.json"
    assert delta.notes == [
        f"warning: last_success: no watermark for this job in {state_file}, so a full export"
    ]
    assert delta.records == 300
    state = json.loads((tmp_path / ".segrun" / "state.json").read_text())
    assert len(state["watermarks"]) == 2  # same segment group, different criteria: two keys
    watermark = parse_wire(
        next(v for v in state["watermarks"].values() if v["job"] == "delta")["last_success"]
    )

    plan = segrun("plan", str(spec))
    assert f"watermark {timestamps.to_wire(watermark)}" in plan.stdout

    second = run(spec, tmp_path, out=tmp_path / "second")
    delta2 = job(second, "delta")
    assert delta2.status == "succeeded"
    assert f"watermark {timestamps.to_wire(watermark)}" in delta2.notes[0]
    ids = {str(r["ProfileId"]) for r in read_jsonl(tmp_path / "second" / "exports" / "delta.jsonl")}
    assert set(touched) <= ids  # modified while the first export ran: not lost
    # and nothing older than the watermark came back
    assert all(
        parse_wire(r["Edited"]["Date"]) >= watermark
        for r in read_jsonl(tmp_path / "second" / "exports" / "delta.jsonl")
    )


def test_the_lastdatetime_sent_cannot_round_past_the_watermark():
    from runner.run.state import last_datetime_for

    for ms in range(0, 1000):
        mark = parse_wire(f"2026-03-01T00:00:00.{ms:03d}Z")
        sent = last_datetime_for(mark)
        assert effective(sent) <= mark
        assert (mark - sent).total_seconds() * 1000 <= 4


def test_a_failed_job_stores_no_watermark(sandbox, tmp_path):
    sandbox.faults.script("commit", ["503"] * 4)
    spec = write_spec(
        tmp_path,
        sandbox.base_url,
        "- name: d\n  segment_group: VIP Customers\n  last_datetime: last_success\n",
    )
    assert run(spec, tmp_path).report.jobs[0].status == "failed"
    assert not (tmp_path / ".segrun" / "state.json").exists()


def test_a_second_run_is_refused_while_the_state_is_locked(sandbox, tmp_path, segrun):
    spec = write_spec(tmp_path, sandbox.base_url, JOBS)
    with hold_lock(tmp_path / ".segrun" / "state.json.lock", "a test holding it"):
        result = segrun("run", str(spec), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "is locked by pid" in result.stderr and "(a test holding it)" in result.stderr
    assert sandbox.counters.requests("initiate") == 0  # nothing was sent


def test_state_show_and_reset(sandbox, tmp_path, segrun):
    spec = write_spec(tmp_path, sandbox.base_url, JOBS)
    run(spec, tmp_path)
    shown = segrun("state", "show", str(spec))
    assert shown.returncode == 0
    assert "delta: 20" in shown.stdout and "delta-vip-ids: 20" in shown.stdout
    cleared = segrun("state", "reset", str(spec), "delta")
    assert cleared.stdout.strip() == "cleared: delta"
    shown = segrun("state", "show", str(spec)).stdout
    assert "delta: none: the next run is a full export" in shown and "delta-vip-ids: 20" in shown
    custom = tmp_path / "elsewhere.json"
    run(spec, tmp_path, out=tmp_path / "r2", state=custom)
    assert json.loads(custom.read_text())["watermarks"]


def test_hostile_names_never_leave_the_run_directory(sandbox, tmp_path, segrun):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        textwrap.dedent(f"""\
        version: 1
        client_id: SanchezAssociates
        base_url: {sandbox.base_url}
        defaults: {{retry: {{attempts: 1}}}}
        jobs:
          - segment_group: "../../../../tmp/escape"
          - segment_group: "a/b\\0c\\x01d"
          - segment_group: "..\\\\..\\\\windows"
    """)
    )
    result = segrun("run", str(spec), "--out", str(tmp_path / "run"))
    assert result.returncode == 1  # unknown segment groups: 404, but cleanly
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert [j["name"] for j in report["jobs"]] == ["tmp-escape", "a-b-c-d", "windows"]
    har = json.loads((tmp_path / "run" / "transcript.har").read_text())
    urls = [e["request"]["url"] for e in har["log"]["entries"]]
    assert urls[0].endswith("/Export/Segment/..%2F..%2F..%2F..%2Ftmp%2Fescape")
    assert urls[1].endswith("/Export/Segment/a%2Fb%00c%01d")
    every = [p.resolve() for p in tmp_path.rglob("*")]
    assert all(p.is_relative_to(tmp_path.resolve()) for p in every)
    assert not list(tmp_path.parent.glob("escape*"))


def test_plan_says_when_there_is_no_watermark(sandbox, tmp_path, segrun):
    spec = write_spec(tmp_path, sandbox.base_url, JOBS)
    out = segrun("plan", str(spec)).stdout
    said = f"  warning: last_success: no watermark for this job in {tmp_path / '.segrun' / 'state.json'}"
    assert out.count(said + ", so a full export") == 2
    assert "effective LastDateTime: none" in out


def test_resume_from_a_committed_export_meets_status_retrieved(sandbox, tmp_path):
    """The Retrieved status path: a retrieving checkpoint whose token was committed
    elsewhere (another client, by hand) is not reused: the job re-initiates."""
    from runner.jobspec import endpoint_map
    from runner.jobspec.loading import load_for_run
    from runner.run.checkpoint import Checkpoint, Checkpoints
    from runner.run.lifecycle import fingerprint

    spec = write_spec(tmp_path, sandbox.base_url, "- name: vip\n  segment_group: VIP Customers\n")
    first = run(spec, tmp_path, out=tmp_path / "run")
    token = first.report.jobs[0].access_token
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    report["jobs"][0]["status"] = "interrupted"  # as if killed before the report said otherwise
    (tmp_path / "run" / "report.json").write_text(json.dumps(report))
    (tmp_path / "run" / "exports" / "vip.jsonl").unlink()  # a retrieving job has no export yet
    loaded = load_for_run(str(spec), {})
    endpoints = endpoint_map.for_spec(loaded, None).endpoints
    Checkpoints(tmp_path / "run").save(
        Checkpoint(
            "vip",
            token,
            None,
            "2026-11-22T00:00:00.000Z",
            fingerprint(loaded, loaded.jobs[0], endpoints),
        )
    )
    resumed = run(spec, tmp_path, out=None, resume=tmp_path / "run")
    result = resumed.report.jobs[0]
    assert result.status == "succeeded"
    assert result.access_token != token
    assert any(
        "the export ended with status Retrieved" in n and "re-initiated" in n for n in result.notes
    )
    assert read_jsonl(tmp_path / "run" / "exports" / "vip.jsonl") == sandbox.expected_records(
        "VIP Customers"
    )
