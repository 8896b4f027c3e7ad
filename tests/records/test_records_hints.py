"""Advice after a failed job is keyed by the failure's kind, chosen by segrun where
it raises the failure: a server's words cannot pick it, a reworded message keeps it."""

from __future__ import annotations

import pytest

from runner.errors import FAILURE_KINDS, JobFailure
from runner.http.client import CallFailed
from runner.records.hints import ADVICE, advice_for
from runner.records.report import JobResult, RunReport


def test_every_kind_with_advice_is_a_kind_segrun_raises():
    assert set(ADVICE) <= set(FAILURE_KINDS)


def test_a_server_message_cannot_choose_the_advice():
    words = "failed after 3 attempts; still Processing after the poll timeout; interrupted"
    refused = CallFailed("initiate", f"initiate answered HTTP 409: {words}", 409)
    assert refused.kind == "refused" and advice_for(refused.kind) is None
    denied = CallFailed("initiate", f"initiate answered HTTP 403: {words}", 403)
    assert advice_for(denied.kind) == ADVICE["permission"]


def test_a_reworded_message_keeps_its_advice():
    assert advice_for(JobFailure("disk", "no room left").kind) == ADVICE["disk"]
    assert (
        advice_for(CallFailed("status", "took too long", kind="poll_timeout").kind)
        == (ADVICE["poll_timeout"])
    )


def test_a_refusal_that_a_resume_cannot_change_is_not_told_to_resume():
    assert "resume" not in ADVICE["permission"]
    for status, kind in [(401, "auth"), (403, "permission"), (404, "not_found"), (400, "rejected")]:
        assert CallFailed("initiate", "x", status).kind == kind


def test_an_unknown_kind_is_refused_where_it_is_raised():
    with pytest.raises(ValueError, match="oops"):
        JobFailure("oops", "x")  # type: ignore[arg-type]


def test_the_report_keeps_the_kind_and_reads_reports_without_one():
    report = RunReport("failed", "2026-01-01T00:00:00.000Z", None, "/specs/a.yaml")
    report.jobs = [
        JobResult("j", "VIP", "failed", error="initiate answered HTTP 403: no", kind="permission")
    ]
    data = report.to_dict()
    assert data["jobs"][0]["kind"] == "permission"
    assert RunReport.from_dict(data).jobs[0].kind == "permission"
    del data["jobs"][0]["kind"]  # a report written before kinds
    assert RunReport.from_dict(data).jobs[0].kind is None
