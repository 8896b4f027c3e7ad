"""Crashes, interrupts and a faulty network: every record exactly once, in the end."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from runner.records.report import RunReport
from runner.sandbox import FaultPlan, running_sandbox
from tests.support.processes import segrun_argv
from tests.support.runs import job, read_jsonl, run
from tests.support.specs import write_spec

GROUPS = ["All Profiles", "Email Subscribers", "Loyalty Members", "VIP Customers"]


def multi_job_spec(tmp_path: Path, base_url: str, page_size: int) -> Path:
    jobs = "".join(
        f"- name: job-{i}\n  segment_group: {group}\n  page_size: {page_size}\n"
        + ("  output: {format: csv}\n" if i == 2 else "")
        for i, group in enumerate(GROUPS)
    )
    return write_spec(tmp_path, base_url, jobs)


def assert_exports_match(sandbox, run_dir: Path) -> None:
    report = RunReport.load(run_dir / "report.json")
    assert [j.status for j in report.jobs] == ["succeeded"] * len(GROUPS)
    for i, group in enumerate(GROUPS):
        expected = sandbox.expected_records(group)
        if i == 2:
            import csv

            with open(run_dir / "exports" / f"job-{i}.csv", newline="") as f:
                got_ids = [row["ProfileId"] for row in csv.DictReader(f)]
            assert got_ids == [str(r["ProfileId"]) for r in expected]
        else:
            assert read_jsonl(run_dir / "exports" / f"job-{i}.jsonl") == expected, group
    assert not list((run_dir / "exports").glob("*.part"))
    assert not list((run_dir / "checkpoints").glob("*.json"))


def start(spec: Path, run_dir: Path, resume: bool) -> subprocess.Popen:
    where = ["--resume", str(run_dir)] if resume else ["--out", str(run_dir)]
    return subprocess.Popen(
        [*segrun_argv(), "run", "-q", str(spec), *where],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_at_random_moments_then_resume(tmp_path):
    """At least 20 SIGKILLs across a run of four jobs of a few thousand records."""
    rng = random.Random(20261122)
    plan = FaultPlan.parse("retrieve:slow=1,slow_seconds=0.08")
    with running_sandbox(profiles=3000, seed=5, faults=plan) as sandbox:
        spec = multi_job_spec(tmp_path, sandbox.base_url, page_size=50)
        run_dir = tmp_path / "run"
        kills, finished = 0, False
        for _attempt in range(200):
            proc = start(spec, run_dir, resume=run_dir.exists())  # killed before it made one
            if kills < 20:
                time.sleep(rng.uniform(0.2, 1.0))
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    kills += 1
                    continue
            code = proc.wait(timeout=300)
            assert code == 0, proc.stderr.read()
            finished = True
            break
        assert finished and kills >= 20
        assert_exports_match(sandbox, run_dir)
        har = json.loads(
            (run_dir / "transcript.har").read_text()
        )  # readable, and kept across kills
        assert (
            len(har["log"]["entries"]) > sum(len(sandbox.expected_records(g)) for g in GROUPS) // 50
        )


def test_sigint_stops_after_the_page_in_hand_and_resume_finishes(tmp_path):
    plan = FaultPlan.parse("retrieve:slow=1,slow_seconds=0.1")
    with running_sandbox(profiles=1000, seed=2, faults=plan) as sandbox:
        spec = multi_job_spec(tmp_path, sandbox.base_url, page_size=100)
        run_dir = tmp_path / "run"
        proc = start(spec, run_dir, resume=False)
        text = run_dir / "transcript.txt"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
            text.exists() and "call=retrieve" in text.read_text()
        ):
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        report = RunReport.load(run_dir / "report.json")
        assert report.status == "interrupted"
        assert report.jobs[0].status == "interrupted"
        assert all(j.status == "interrupted" for j in report.jobs[1:])
        checkpoint = json.loads((run_dir / "checkpoints" / "job-0.json").read_text())
        part = run_dir / "exports" / "job-0.jsonl.part"
        assert part.stat().st_size == checkpoint["part_bytes"]  # the page in hand was written
        assert len(read_jsonl(part)) == checkpoint["records"] > 0
        entries_before = len(json.loads((run_dir / "transcript.har").read_text())["log"]["entries"])
        proc = start(spec, run_dir, resume=True)
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
        assert_exports_match(sandbox, run_dir)
        resumed = RunReport.load(run_dir / "report.json").jobs[0]
        assert any(
            n.startswith(f"resumed token {checkpoint['access_token']} at offset")
            for n in resumed.notes
        )
        assert (
            len(json.loads((run_dir / "transcript.har").read_text())["log"]["entries"])
            > entries_before
        )


def test_sigterm_is_graceful_too(tmp_path):
    with running_sandbox(profiles=200, processing_seconds=60) as sandbox:
        spec = write_spec(
            tmp_path,
            sandbox.base_url,
            "- segment_group: VIP Customers\n  poll: {interval: 30s, timeout: 10m}\n",
        )
        proc = start(spec, tmp_path / "run", resume=False)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sandbox.counters.requests("status") == 0:
            time.sleep(0.05)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 130  # woke from a 30 s poll wait, did not sit it out
        assert time.monotonic() - started < 15
        assert RunReport.load(tmp_path / "run" / "report.json").jobs[0].status == "interrupted"


def test_one_ctrl_c_ends_a_wait_on_a_slow_server_at_once(tmp_path):
    plan = FaultPlan.parse("retrieve:slow=1,slow_seconds=60")
    with running_sandbox(profiles=100, faults=plan) as sandbox:
        spec = write_spec(tmp_path, sandbox.base_url, "- segment_group: All Profiles\n")
        proc = start(spec, tmp_path / "run", resume=False)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sandbox.counters.requests("retrieve") == 0:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)  # no page in hand: the answer is 60 s away
        assert proc.wait(timeout=15) == 130
        assert "stopping" in proc.stderr.read()
        report = json.loads((tmp_path / "run" / "report.json").read_text())
        assert report["status"] == "interrupted" and report["finished"]


def test_soak_twenty_jobs_through_twenty_percent_faults(tmp_path):
    plan = FaultPlan.parse("429=0.05,503=0.05,drop=0.05,truncate=0.05,seed=7,retry_after=0")
    with running_sandbox(profiles=400, seed=9, faults=plan) as sandbox:
        jobs = "".join(
            f"- name: soak-{i:02d}\n  segment_group: {GROUPS[i % 4]}\n  page_size: {17 + 5 * i}\n"
            "  retry: {attempts: 12, backoff: 0s, max_backoff: 0s}\n"
            for i in range(20)
        )
        outcome = run(write_spec(tmp_path, sandbox.base_url, jobs), tmp_path)
        for i in range(20):
            result = job(outcome, f"soak-{i:02d}")
            assert result.status == "succeeded", result.error
            got = read_jsonl(tmp_path / "run" / "exports" / f"soak-{i:02d}.jsonl")
            assert got == sandbox.expected_records(GROUPS[i % 4])
        injected = sum(
            sandbox.counters.faults(call, kind)
            for call in ("initiate", "status", "retrieve", "commit")
            for kind in ("429", "503", "drop", "truncate")
        )
        # Commit answers with an empty body: a "truncated" one is still whole, so
        # the client rightly does not retry it. Every other fault costs one retry.
        harmless = sandbox.counters.faults("commit", "truncate")
        retries = sum(j.retries for j in outcome.report.jobs)
        assert injected > 20 and retries == injected - harmless
        report = json.loads((tmp_path / "run" / "report.json").read_text())
        assert sum(j["retries"] for j in report["jobs"]) == retries


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_insecure_flag_is_loud_for_remote_hosts(capsys):
    from runner.commands.run import _tls_verification

    assert _tls_verification("https://pm.example.invalid/Profiles/v4/", insecure=False) is True
    assert _tls_verification("https://pm.example.invalid/Profiles/v4/", insecure=True) is False
    assert (
        "WARNING: TLS verification is OFF for https://pm.example.invalid" in capsys.readouterr().err
    )
