"""Reconciliation over real HTTP: records written = TotalResults is the hard check;
a RowCount that differs is a warning (nothing public says RowCount counts
profiles), unless the spec asks for `reconcile: strict`."""

from __future__ import annotations

from runner.ui.terminal import summary
from tests.support.runs import job, read_jsonl, run
from tests.support.specs import write_spec

JOBS = """
    - name: victim
      segment_group: All Profiles
      page_size: 100
"""


def test_a_rowcount_lie_is_a_warning_in_the_report_and_the_summary(sandbox, tmp_path):
    sandbox.faults.script("status", ["miscount"])
    outcome = run(write_spec(tmp_path, sandbox.base_url, JOBS), tmp_path)
    victim = job(outcome, "victim")
    assert victim.status == "succeeded" and outcome.report.exit_code == 0
    assert victim.records == 300 and victim.row_count == 301
    warning = next(n for n in victim.notes if n.startswith("warning: reconcile"))
    assert "300 records written (= TotalResults), but Status said RowCount 301" in warning
    assert warning in summary(outcome.report, "run")
    assert read_jsonl(tmp_path / "run" / "exports" / "victim.jsonl") == sandbox.expected_records(
        "All Profiles"
    )


def test_reconcile_strict_makes_a_rowcount_lie_a_failure(sandbox, tmp_path):
    sandbox.faults.script("status", ["miscount"])
    spec = write_spec(tmp_path, sandbox.base_url, JOBS + "      reconcile: strict\n")
    outcome = run(spec, tmp_path)
    victim = job(outcome, "victim")
    assert victim.status == "failed" and outcome.report.exit_code == 1
    assert victim.error == (
        "reconcile: 300 records written (= TotalResults), but Status said RowCount 301 "
        "(reconcile: strict)"
    )
    assert not (tmp_path / "run" / "exports" / "victim.jsonl").exists()


def test_a_totalresults_lie_is_a_failure(sandbox, tmp_path):
    sandbox.faults.script("retrieve", ["badtotal"] * 3)  # every page claims one more
    outcome = run(write_spec(tmp_path, sandbox.base_url, JOBS), tmp_path)
    victim = job(outcome, "victim")
    assert victim.status == "failed" and outcome.report.exit_code == 1
    assert victim.error.startswith(
        "reconcile: 300 records written, but Retrieve said TotalResults 301"
    ), victim.error
    assert not (tmp_path / "run" / "exports" / "victim.jsonl").exists()


def test_a_totalresults_that_moves_is_a_failure_at_once(sandbox, tmp_path):
    sandbox.faults.script("retrieve", ["ok", "ok", "badtotal"])  # the last page lies
    outcome = run(write_spec(tmp_path, sandbox.base_url, JOBS), tmp_path)
    victim = job(outcome, "victim")
    assert victim.status == "failed" and outcome.report.exit_code == 1
    assert victim.error == (
        "Retrieve at offset 201: TotalResults changed from 300 to 301 during the export"
    )
    assert not (tmp_path / "run" / "exports" / "victim.jsonl").exists()
