"""A crash at every durable operation of a run, then --resume: exactly the exports,
report and watermarks of an uninterrupted run.

runner/system/durable.py counts the run's durable operations (fsyncs, atomic writes and
their renames, renames, unlinks) and, with SEGRUN_TEST_CRASH_AT=N, SIGKILLs the
process just before the N-th. The walk raises N until a run finishes uncrashed,
so it visits every operation the run performs, whatever their number.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

from runner.apifacts import timestamps
from runner.commands.run import RunOptions, run_spec
from runner.jobspec.loading import load_for_run
from runner.records.report import RunReport
from runner.run.state import FORMAT, last_datetime_for, watermark_fields, watermark_key
from runner.sandbox import FaultPlan, running_sandbox
from runner.system import durable
from tests.support.processes import segrun_argv
from tests.support.runs import crash_run, read_jsonl, run
from tests.support.specs import write_spec

JOBS = """
    - name: full
      segment_group: All Profiles
    - name: delta-csv
      segment_group: Email Subscribers
      last_datetime: last_success
      output: {format: csv}
    - name: delta
      segment_group: All Profiles
      last_datetime: last_success
      match_criteria: ProfileId
      values: [10000003, 10000004, 10000005, 10000006, 10000007, 10000090]
"""
#: the watermark an earlier run left: the delta jobs ask for what changed since
EARLIER = dt.datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=dt.timezone.utc)


def prepare(folder: Path, base_url: str, page_size: int = 25) -> Path:
    folder.mkdir()
    spec = write_spec(folder, base_url, JOBS)
    spec.write_text(
        spec.read_text()
        .replace("defaults:\n", f"defaults:\n  page_size: {page_size}\n")
        .replace("attempts: 4", "attempts: 12")
    )
    loaded = load_for_run(str(spec), {})
    state = folder / ".segrun" / "state.json"
    state.parent.mkdir()
    marks = {}
    for job in loaded.jobs:
        if job.incremental:
            marks[watermark_key(loaded, job, state)] = {
                **watermark_fields(loaded, job, state),
                "last_success": timestamps.to_wire(EARLIER),
                "stored": timestamps.to_wire(EARLIER),
            }
    state.write_text(json.dumps({"format": FORMAT, "watermarks": marks}))
    return spec


def expected(sandbox, job) -> list[dict]:
    body = {}
    if job.incremental:
        body["LastDateTime"] = timestamps.to_wire(last_datetime_for(EARLIER))
    if job.match_criteria:
        body.update(MatchCriteria=job.match_criteria, Values=list(job.values))
    return sandbox.expected_records(job.segment_group, body)


def assert_as_if_uninterrupted(sandbox, spec: Path, run_dir: Path, started: dt.datetime) -> None:
    loaded = load_for_run(str(spec), {})
    report = RunReport.load(run_dir / "report.json")
    assert report.status == "succeeded" and report.finished
    assert [(j.name, j.status) for j in report.jobs] == [(j.name, "succeeded") for j in loaded.jobs]
    for job, result in zip(loaded.jobs, report.jobs, strict=True):
        want = expected(sandbox, job)
        path = run_dir / result.output
        if job.output_format == "csv":
            with open(path, newline="", encoding="utf-8") as f:
                got = [row["ProfileId"] for row in csv.DictReader(f)]
            assert got == [str(r["ProfileId"]) for r in want], job.name
        else:
            assert read_jsonl(path) == want, job.name
        assert result.records == len(want)
    assert not list((run_dir / "exports").glob("*.part")) and not list(
        (run_dir / "exports").glob("*tmp")
    )
    assert not list((run_dir / "checkpoints").glob("*.json"))
    assert_nothing_left(run_dir, spec.parent / ".segrun")
    state = json.loads((spec.parent / ".segrun" / "state.json").read_text())["watermarks"]
    assert sorted(e["job"] for e in state.values()) == ["delta", "delta-csv"]
    for entry in state.values():  # moved on to this run's Initiate: never later than it
        mark = timestamps.parse_wire(entry["last_success"])
        assert started - dt.timedelta(seconds=1) <= mark <= dt.datetime.now(dt.timezone.utc)


def assert_nothing_left(run_dir: Path, state_folder: Path) -> None:
    """What the run that superseded a crash leaves: no temporary of an atomic write (a
    checkpoint's holds an AccessToken) in any folder that gets them, no lock, no
    empty folder."""
    temporaries = [str(p) for folder in (run_dir, state_folder) for p in folder.rglob(".*.tmp")]
    assert not temporaries, temporaries
    assert not (run_dir / ".lock").exists() and not (state_folder / "state.json.lock").exists()
    empty = [str(p) for p in run_dir.rglob("*") if p.is_dir() and not any(p.iterdir())]
    assert not empty, empty


def test_a_crash_at_every_durable_operation_then_resume(tmp_path):
    walked: list[str] = []
    with running_sandbox(profiles=120, seed=12) as sandbox:
        sandbox.faults.plan = FaultPlan.parse("slow_seconds=0.26")
        for n in range(1, 400):
            folder = tmp_path / f"crash-{n}"
            spec = prepare(folder, sandbox.base_url)
            run_dir = folder / "run"
            log = folder / "durable.log"
            # a slow second page: the job group-commits a checkpoint mid-retrieval
            sandbox.faults.clear()
            sandbox.faults.script("retrieve", ["ok", "slow"])
            started = dt.datetime.now(dt.timezone.utc)
            crashed = crash_run(spec, run_dir, n, log)
            if crashed == 0:
                break  # n is past the run's last durable operation: all were walked
            assert crashed == -signal.SIGKILL, crashed
            walked.append(log.read_text().splitlines()[-1])
            if n % 10:  # resumed in-process; every tenth through the CLI, as cron would
                outcome = run(spec, folder, out=None, resume=run_dir)
                assert outcome.report.exit_code == 0, [j.error for j in outcome.report.jobs]
            else:
                resumed = subprocess.run(
                    [*segrun_argv(), "run", "-q", str(spec), "--resume", str(run_dir)],
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert resumed.returncode == 0, resumed.stderr
            assert_as_if_uninterrupted(sandbox, spec, run_dir, started)
            shutil.rmtree(folder)
        else:
            raise AssertionError("the run never finished uncrashed")
    kinds = {line.split(" ", 1)[1].split(" ")[0] for line in walked}
    assert {"write", "rename", "fsync", "unlink"} <= kinds
    # every step of runner/run/lifecycle.py was a crash point, for both formats
    joined = "\n".join(walked)
    for step in (  # every atomic write was cut between its temporary and its rename
        "rename full.json",
        "rename report.json",
        "rename state.json",
        "rename junit.xml",
        "rename report.html",
    ):
        assert step in joined, step
    for step in (
        "write full.json",
        "fsync full.jsonl.part",
        "rename full.jsonl.part -> full.jsonl",
        "rename delta-csv.csv.csv-tmp -> delta-csv.csv",
        "unlink delta-csv.csv.part",
        "write state.json",
        "rename state.json",
        "write report.json",
        "unlink delta.json",
        "write junit.xml",
    ):
        assert step in joined, step
    assert joined.count("write full.json") >= 3  # initiated, mid-retrieval, complete
    print(f"walked {len(walked)} crash points")


def test_sigkill_at_random_moments_with_last_success_jobs_and_faults(tmp_path):
    """25 random SIGKILLs against a sandbox failing 20% of requests; resume each time."""
    rng = random.Random(20261129)
    plan = FaultPlan.parse("429=0.05,503=0.05,drop=0.05,truncate=0.05,seed=3,retry_after=0")
    with running_sandbox(profiles=600, seed=21, faults=plan) as sandbox:
        folder = tmp_path / "kill"
        spec, run_dir = prepare(folder, sandbox.base_url, page_size=20), folder / "run"
        started, kills, fresh, finished_early = dt.datetime.now(dt.timezone.utc), 0, True, 0

        def start(resume: bool) -> subprocess.Popen:
            where = ["--resume", str(run_dir)] if resume else ["--out", str(run_dir)]
            return subprocess.Popen(
                [*segrun_argv(), "run", "-q", str(spec), *where],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )

        for _ in range(200):
            if kills >= 25:
                break
            proc = start(resume=not fresh and run_dir.exists())  # killed before it made one
            fresh = False
            time.sleep(rng.uniform(0.15, 0.9))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                continue
            # it finished before the kill came: check it, then start over afresh
            assert proc.wait() == 0, proc.stderr.read()
            assert_as_if_uninterrupted(sandbox, spec, run_dir, started)
            finished_early += 1
            shutil.rmtree(folder)
            spec, started, fresh = (
                prepare(folder, sandbox.base_url, page_size=20),
                dt.datetime.now(dt.timezone.utc),
                True,
            )
        assert kills >= 25
        proc = start(resume=not fresh and run_dir.exists())
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
        assert_as_if_uninterrupted(sandbox, spec, run_dir, started)


HELD_JOBS = """
    - name: held-csv
      segment_group: Email Subscribers
      last_datetime: last_success
      output: {format: csv}
      expect: {min_records: 1000000}
    - name: held
      segment_group: All Profiles
      last_datetime: last_success
      expect: {max_records: 3}
"""


def crashing(crash_at: int, log: Path, work) -> int:
    """`work()` in a forked child that SIGKILLs itself at its `crash_at`-th durable
    operation; what os.waitpid says (-9 for the crash, else the exit code)."""
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            os.environ[durable.CRASH_ENV], os.environ[durable.LOG_ENV] = str(crash_at), str(log)
            durable._count, durable._named = 0, {}
            code = work()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def held_prepare(folder: Path, base_url: str) -> Path:
    spec = prepare(folder, base_url)
    spec.write_text(spec.read_text().split("jobs:")[0] + "jobs:" + HELD_JOBS)
    return spec


def accept_all(run_dir: Path) -> int:
    from runner.commands.accept import command

    for job in ("held-csv", "held"):
        command.callback(run_dir=run_dir, job=job, state=None, endpoints_file=None)
    return 0


def settled(folder: Path) -> dict:
    """What a finished accept leaves, less the moments that differ between two runs."""
    run_dir = folder / "run"
    report = json.loads((run_dir / "report.json").read_text())
    stable = ("name", "status", "kind", "error", "records", "row_count", "output", "sha256")
    jobs = [{k: job.get(k) for k in (*stable, "expectations")} for job in report["jobs"]]
    state = json.loads((folder / ".segrun" / "state.json").read_text())
    return {
        "status": report["status"],
        "jobs": jobs,
        "exports": {p.name: p.read_bytes() for p in (run_dir / "exports").iterdir()},
        "checkpoints": sorted(p.name for p in (run_dir / "checkpoints").glob("*")),
        "watermarks": sorted(e["job"] for e in state["watermarks"].values()),
        "history": sorted(len(h) for h in state.get("history", {}).values()),
    }


def test_a_crash_at_every_durable_operation_of_a_held_run_and_of_accept(tmp_path):
    """A run whose expectations fail, crashed at each durable operation and resumed, holds
    its exports aside exactly as an uncrashed one; `segrun accept` crashed at each of its
    own and run again places them exactly as an uncrashed accept."""
    with running_sandbox(profiles=60, seed=13) as sandbox:
        reference = tmp_path / "reference"
        spec = held_prepare(reference, sandbox.base_url)
        assert run(spec, reference, out=reference / "run").report.exit_code == 1
        held = settled(reference)
        assert held["watermarks"] == ["delta", "delta-csv"]  # the earlier ones, unmoved
        assert not any(name.endswith((".csv", ".jsonl")) for name in held["exports"])
        for n in range(1, 200):  # the held run, crashed at its n-th durable operation
            folder = tmp_path / f"run-crash-{n}"
            spec = held_prepare(folder, sandbox.base_url)
            crashed = crashing(
                n,
                folder / "durable.log",
                lambda spec=spec, folder=folder: (
                    run_spec(
                        str(spec), RunOptions(out=folder / "run", quiet=True), environ={}
                    ).report.exit_code
                ),
            )
            if crashed == 1:
                break
            assert crashed == -signal.SIGKILL, crashed
            outcome = run(spec, folder, out=None, resume=folder / "run")
            assert outcome.report.exit_code == 1
            assert settled(folder) == held, n
            assert_nothing_left(folder / "run", folder / ".segrun")
            shutil.rmtree(folder)
        else:
            raise AssertionError("the held run never finished uncrashed")
        pristine = reference  # a held run, copied for each accept below
        accepted_at = copied(pristine, tmp_path / "accepted")
        assert accept_all(accepted_at / "run") == 0
        accepted = settled(accepted_at)
        assert accepted["status"] == "succeeded" and accepted["checkpoints"] == []
        assert set(accepted["exports"]) == {"held-csv.csv", "held.jsonl"}
        assert accepted["watermarks"] == ["delta", "delta-csv", "held", "held-csv"]
        walked = []
        for n in range(1, 200):  # accept, crashed at its n-th durable operation
            folder = copied(pristine, tmp_path / f"accept-crash-{n}")
            log = folder / "durable.log"
            crashed = crashing(n, log, lambda folder=folder: accept_all(folder / "run"))
            if crashed == 0:
                break
            assert crashed == -signal.SIGKILL, crashed
            walked.append(log.read_text().splitlines()[-1])
            assert accept_all(folder / "run") == 0  # the same command again, uncrashed
            assert settled(folder) == accepted, n
            assert_nothing_left(folder / "run", folder / ".segrun")
            shutil.rmtree(folder)
        else:
            raise AssertionError("accept never finished uncrashed")
    joined = "\n".join(walked)
    for step in (
        "write held.json",
        "rename held.jsonl.part -> held.jsonl",
        "rename held-csv.csv.csv-tmp -> held-csv.csv",
        "write state.json",
        "write report.json",
        "unlink held.json",
    ):
        assert step in joined, step


def copied(run_folder: Path, to: Path) -> Path:
    """A spec's folder (spec, state, run) copied elsewhere, its report naming the copy's spec."""
    shutil.copytree(run_folder, to, symlinks=True)
    report = to / "run" / "report.json"
    data = json.loads(report.read_text())
    data["spec"] = str(to / "spec.yaml")
    data["state"] = str(to / ".segrun" / "state.json")
    report.write_text(json.dumps(data))
    return to
