"""The export flow end to end, over real HTTP against the sandbox."""

from __future__ import annotations

import csv
import hashlib
import json

import pytest
import requests

from runner.apifacts.api import endpoints
from runner.apifacts.timestamps import effective, parse_spec_datetime, to_wire
from runner.http.client import ApiClient, CallStats, RetryPolicy
from runner.http.signing import PnAuthInfo3
from runner.records.hints import advice_for
from runner.records.report import RunReport
from runner.sandbox import DEMO, Sandbox, running_sandbox
from tests.support.runs import job, read_jsonl, run
from tests.support.specs import write_spec


def test_jsonl_holds_exactly_the_sandbox_ground_truth(sandbox, tmp_path):
    spec = write_spec(
        tmp_path,
        sandbox.base_url,
        """
        - name: all
          segment_group: All Profiles
          page_size: 37
    """,
    )
    outcome = run(spec, tmp_path)
    result = job(outcome, "all")
    assert result.status == "succeeded", result.error
    records = read_jsonl(tmp_path / "run" / "exports" / "all.jsonl")
    assert records == sandbox.expected_records("All Profiles")
    assert result.records == result.row_count == 300
    assert result.attempts >= 1 + 1 + 9 + 1  # initiate, status, 9 pages of 37, commit
    assert not list((tmp_path / "run" / "exports").glob("*.part"))
    data = (tmp_path / "run" / "exports" / "all.jsonl").read_bytes()
    assert result.sha256 == hashlib.sha256(data).hexdigest()


def test_csv_flattens_and_json_encodes_lists(sandbox, tmp_path):
    spec = write_spec(
        tmp_path,
        sandbox.base_url,
        """
        - name: vip
          segment_group: VIP Customers
          output: {format: csv}
    """,
    )
    run(spec, tmp_path)
    with open(tmp_path / "run" / "exports" / "vip.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    expected = sandbox.expected_records("VIP Customers")
    assert [r["ProfileId"] for r in rows] == [str(e["ProfileId"]) for e in expected]
    assert json.loads(rows[0]["Emails"]) == expected[0]["Emails"]
    assert rows[0]["IsActive"] == "true"
    data = (tmp_path / "run" / "exports" / "vip.csv").read_bytes()
    assert (
        RunReport.load(tmp_path / "run" / "report.json").jobs[0].sha256
        == hashlib.sha256(data).hexdigest()
    )


def test_match_on_alternate_ids_from_a_csv_file(sandbox, tmp_path):
    wanted = [
        a["AlternateId"]
        for r in sandbox.expected_records("Loyalty Members")[:5]
        for a in r["AlternateIds"]
        if a["AlternateIdType"] == "LoyaltyNumber"
    ]
    (tmp_path / "ids.csv").write_text("loyalty_id\n" + "\n".join(wanted) + "\nLY-nobody\n")
    spec = write_spec(
        tmp_path,
        sandbox.base_url,
        """
        - name: loyal
          segment_group: Loyalty Members
          match_criteria: alternateid
          match_type: LoyaltyNumber
          values_file: {path: ids.csv, column: loyalty_id}
    """,
    )
    run(spec, tmp_path)
    body = {
        "MatchCriteria": "AlternateId",
        "MatchType": "LoyaltyNumber",
        "Values": [*wanted, "LY-nobody"],
    }
    got = read_jsonl(tmp_path / "run" / "exports" / "loyal.jsonl")
    assert got == sandbox.expected_records("Loyalty Members", body)
    assert len(got) == 5


def test_last_datetime_is_applied_with_the_rounding_rule(sandbox, tmp_path):
    moment = "2025-09-01T12:00:00.000Z"
    spec = write_spec(
        tmp_path,
        sandbox.base_url,
        f"""
        - name: recent
          segment_group: All Profiles
          last_datetime: {moment}
    """,
    )
    run(spec, tmp_path)
    got = read_jsonl(tmp_path / "run" / "exports" / "recent.jsonl")
    assert got == sandbox.expected_records("All Profiles", {"LastDateTime": moment})
    floor = to_wire(effective(parse_spec_datetime(moment)))
    assert all(r["Edited"]["Date"] >= floor for r in got) and 0 < len(got) < 300


@pytest.mark.parametrize(
    ("segment_group", "expected_error", "kind"),
    [
        ("Finance Audit", "initiate answered HTTP 403", "permission"),
        ("No Such Group", "initiate answered HTTP 404", "not_found"),
        ("Partner Share", "the export ended with status Failed", "permission"),
    ],
)
def test_api_refusals_fail_the_job_with_the_api_message(
    sandbox, tmp_path, segment_group, expected_error, kind
):
    spec = write_spec(
        tmp_path,
        sandbox.base_url,
        f"""
        - name: refused
          segment_group: {segment_group}
        - name: after
          segment_group: VIP Customers
    """,
    )
    outcome = run(spec, tmp_path)
    refused = job(outcome, "refused")
    assert refused.status == "failed"
    assert expected_error in refused.error
    assert refused.kind == kind
    if kind == "permission":  # the same request by the same user: resuming changes nothing
        assert advice_for(kind).startswith("the user lacks permission for this segment group")
        assert "resume" not in advice_for(kind)
    if "HTTP 40" in expected_error:
        assert refused.attempts == 1  # 4xx is never retried
        assert segment_group in refused.error or "segment group" in refused.error.lower()
    assert job(outcome, "after").status == "succeeded"  # a failure does not stop the rest
    assert outcome.report.exit_code == 1
    assert not (tmp_path / "run" / "exports" / "refused.jsonl").exists()


def test_unknown_client_id_is_404(sandbox, tmp_path):
    spec = write_spec(tmp_path, sandbox.base_url, "- segment_group: VIP Customers\n")
    spec.write_text(
        spec.read_text().replace("client_id: SanchezAssociates", "client_id: NoSuchClient")
    )
    result = run(spec, tmp_path).report.jobs[0]
    assert result.status == "failed" and "HTTP 404" in result.error


def test_wrong_secret_is_401_with_the_documented_message(sandbox, tmp_path):
    top = (
        "auth:\n  scheme: PNAUTHINFO3-HMAC-SHA256\n  user_id: demo-user\n  secret_env: MY_SECRET\n"
    )
    spec = write_spec(tmp_path, sandbox.base_url, "- segment_group: VIP Customers\n", top)
    result = run(spec, tmp_path, environ={"MY_SECRET": "not-the-secret"}).report.jobs[0]
    assert result.status == "failed"
    assert result.error == "initiate answered HTTP 401: Unable to authenticate request"
    assert result.kind == "auth"
    assert result.attempts == 1


def test_export_ending_in_error(sandbox, tmp_path):
    sandbox.faults.error_next_export()
    spec = write_spec(tmp_path, sandbox.base_url, "- segment_group: VIP Customers\n")
    result = run(spec, tmp_path).report.jobs[0]
    assert result.status == "failed" and result.error == "the export ended with status Error"
    assert result.kind == "server_failed"


def test_export_expiring_mid_retrieve(sandbox, tmp_path):
    sandbox.faults.expire_next_export(after_retrieves=1)
    spec = write_spec(
        tmp_path, sandbox.base_url, "- segment_group: All Profiles\n  page_size: 50\n"
    )
    result = run(spec, tmp_path).report.jobs[0]
    assert result.status == "failed"
    assert "retrieve" in result.error
    assert result.records == 50  # the first page, kept aside as a .part file
    assert not (tmp_path / "run" / "exports" / "all-profiles.jsonl").exists()
    assert (tmp_path / "run" / "exports" / "all-profiles.jsonl.part").exists()


def test_poll_timeout_while_processing(tmp_path):
    with running_sandbox(profiles=50, processing_seconds=30) as slow:
        spec = write_spec(
            tmp_path,
            slow.base_url,
            "- segment_group: VIP Customers\n  poll: {interval: 50ms, timeout: 300ms}\n",
        )
        result = run(spec, tmp_path).report.jobs[0]
    assert result.status == "failed"
    assert result.error.startswith("still Processing after the poll timeout of 0.3s")


@pytest.mark.parametrize(
    "answers",
    [["503", "503", "503"], ["drop", "drop"], ["truncate", "truncate"], ["429", "503", "drop"]],
)
def test_transient_faults_are_survived_within_the_budget(sandbox, tmp_path, answers):
    sandbox.faults.script("retrieve", answers)
    spec = write_spec(tmp_path, sandbox.base_url, "- segment_group: VIP Customers\n")
    result = run(spec, tmp_path).report.jobs[0]
    assert result.status == "succeeded", result.error
    assert result.retries == len(answers)
    assert read_jsonl(
        tmp_path / "run" / "exports" / "vip-customers.jsonl"
    ) == sandbox.expected_records("VIP Customers")


@pytest.mark.parametrize(
    ("call", "answer", "reason"),
    [
        ("retrieve", "503", "HTTP 503"),
        ("status", "drop", "the connection failed or was dropped"),
        ("initiate", "truncate", "the response body was cut short"),
        ("commit", "429", "HTTP 429"),
    ],
)
def test_faults_beyond_the_budget_fail_cleanly(sandbox, tmp_path, call, answer, reason):
    sandbox.faults.script(call, [answer] * 4)
    spec = write_spec(
        tmp_path,
        sandbox.base_url,
        """
        - name: doomed
          segment_group: VIP Customers
        - name: next
          segment_group: Email Subscribers
    """,
    )
    outcome = run(spec, tmp_path)
    doomed = job(outcome, "doomed")
    assert doomed.status == "failed"
    assert doomed.error.startswith(f"{call} failed after 4 attempts: {reason}")
    assert not (tmp_path / "run" / "exports" / "doomed.jsonl").exists()
    assert job(outcome, "next").status == "succeeded"


def test_only_and_fail_fast(sandbox, tmp_path):
    spec = write_spec(
        tmp_path,
        sandbox.base_url,
        """
        - name: first
          segment_group: Finance Audit
        - name: second
          segment_group: VIP Customers
        - name: third
          segment_group: Email Subscribers
    """,
    )
    outcome = run(spec, tmp_path, fail_fast=True)
    assert [j.status for j in outcome.report.jobs] == ["failed", "skipped", "skipped"]
    assert "--fail-fast" in outcome.report.jobs[1].notes[0]
    outcome = run(spec, tmp_path, only=("third",), out=tmp_path / "run2")
    assert [j.status for j in outcome.report.jobs] == ["skipped", "skipped", "succeeded"]
    assert outcome.report.exit_code == 0
    assert RunReport.load(tmp_path / "run2" / "report.json").jobs[2].sha256


def client_for(sandbox: Sandbox, sleeps: list) -> ApiClient:
    return ApiClient(
        base_url=sandbox.base_url,
        client_id=DEMO.client_id,
        endpoints=endpoints(),
        auth=PnAuthInfo3(DEMO.scheme, DEMO.client_id, DEMO.user_id, DEMO.secret),
        sleep=sleeps.append,
    )


def test_429_honours_retry_after(sandbox):
    sleeps: list[float] = []
    sandbox.faults.script("initiate", ["429", "429"])
    client = client_for(sandbox, sleeps)
    answer = client.call(
        "initiate",
        job="j",
        policy=RetryPolicy(3, 0.001, 0.001),
        stats=CallStats(),
        params={"segmentGroupName": "VIP Customers"},
        body={},
    )
    assert answer.status == 200
    assert sleeps == [1.0, 1.0]  # the sandbox says Retry-After: 1


def test_429_without_retry_after_backs_off_exponentially_with_jitter():
    from runner.sandbox import FaultPlan

    with running_sandbox(profiles=10, faults=FaultPlan(retry_after=None)) as sb:
        sleeps: list[float] = []
        sb.faults.script("initiate", ["429", "429", "429"])
        stats = CallStats()
        client_for(sb, sleeps).call(
            "initiate",
            job="j",
            policy=RetryPolicy(4, 0.2, 0.5),
            stats=stats,
            params={"segmentGroupName": "VIP Customers"},
            body={},
        )
    assert 0.1 <= sleeps[0] <= 0.2 and 0.2 <= sleeps[1] <= 0.4 and 0.25 <= sleeps[2] <= 0.5
    assert (stats.attempts, stats.retries) == (4, 3)


def test_each_attempt_is_signed_afresh(sandbox):
    seen = []
    sandbox.faults.script("status", ["503"])
    client = client_for(sandbox, [])
    client.session.hooks["response"].append(
        lambda r, *a, **k: seen.append(r.request.headers["Authorization"])
    )
    token = client.call(
        "initiate",
        job="j",
        policy=RetryPolicy(1, 0, 0),
        stats=CallStats(),
        params={"segmentGroupName": "VIP Customers"},
        body={},
    ).json()["AccessToken"]
    client.call(
        "status",
        job="j",
        policy=RetryPolicy(2, 0, 0),
        stats=CallStats(),
        params={"accessToken": token},
    )
    assert len(seen) == 3 and all(
        h.startswith("PNAUTHINFO3-HMAC-SHA256 Credential=demo-user/") for h in seen
    )
    assert requests  # the client is requests underneath


def test_an_initiate_without_an_answer_is_noted(sandbox, tmp_path):
    sandbox.faults.script("initiate", ["drop"])
    spec = write_spec(tmp_path, sandbox.base_url, "- segment_group: VIP Customers\n")
    result = run(spec, tmp_path).report.jobs[0]
    assert result.status == "succeeded" and result.retries == 1
    assert result.notes == [
        "1 Initiate attempt(s) got no answer after being sent; an export the server may "
        "have created then expires unretrieved"
    ]


def test_an_initiate_that_never_connected_is_not_ambiguous(tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = write_spec(
        tmp_path, f"http://127.0.0.1:{port}/Profiles/v4/", "- segment_group: VIP Customers\n"
    )
    result = run(spec, tmp_path).report.jobs[0]
    assert result.status == "failed"
    assert result.error == "initiate failed after 4 attempts: the connection failed or was dropped"
    assert result.notes == []


def test_a_disk_failure_fails_the_job_not_the_run(sandbox, tmp_path):
    # The first job's export is a file where the second needs a folder.
    spec = write_spec(
        tmp_path,
        sandbox.base_url,
        """
        - name: fine
          segment_group: VIP Customers
          output: {path: "sub"}
        - name: blocked
          segment_group: VIP Customers
          output: {path: "sub/{job}.jsonl"}
    """,
    )
    outcome = run(spec, tmp_path)
    blocked = job(outcome, "blocked")
    assert blocked.status == "failed"
    assert blocked.error.startswith("writing the export failed: ")
    assert job(outcome, "fine").status == "succeeded"
    assert outcome.report.exit_code == 1
