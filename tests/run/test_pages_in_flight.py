"""Pages in flight (`concurrency`): fetched at once, written strictly in offset
order, so the export, the checkpoints and --resume are those of one page at a
time. The window shrinks on 429/503 (AIMD) and grows back."""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time

import pytest

from runner.records.report import RunReport
from runner.run.inflight import PageStream
from runner.sandbox import FaultPlan, running_sandbox
from tests.support.fake_server import lying_pages, serving_pages
from tests.support.processes import segrun_argv, until_run_made
from tests.support.runs import crash_run, job, read_jsonl, run
from tests.support.specs import write_spec

JOBS = """
    - name: ahead
      segment_group: All Profiles
      page_size: 13
      concurrency: 8
    - name: picked
      segment_group: All Profiles
      page_size: 7
      concurrency: 5
      match_criteria: ProfileId
      values: [10000003, 10000004, 10000005, 10000006, 10000007, 10000090, 10000091, 10000150]
    - name: sheet
      segment_group: Email Subscribers
      page_size: 11
      concurrency: 8
      output: {format: csv}
"""


def expected(sandbox, spec_job) -> list[dict]:
    body = {}
    if spec_job.get("match_criteria"):
        body = {"MatchCriteria": spec_job["match_criteria"], "Values": spec_job["values"]}
    return sandbox.expected_records(spec_job["segment_group"], body)


def test_pages_in_flight_under_faults_export_exactly_the_records_in_order(tmp_path):
    """429s, 503s, dropped and cut answers arrive out of order among 8 pages in
    flight: every job still writes the sandbox's records, once each, in order."""
    with running_sandbox(profiles=400, seed=4) as sandbox:
        sandbox.faults.plan = FaultPlan.parse(
            "retrieve:429=0.08,retrieve:503=0.08,retrieve:drop=0.04,retrieve:truncate=0.04,"
            "retrieve:slow=0.1,slow_seconds=0.05,retry_after=0,seed=11"
        )
        spec = write_spec(tmp_path, sandbox.base_url, JOBS)
        spec.write_text(spec.read_text().replace("attempts: 4", "attempts: 20"))
        outcome = run(spec, tmp_path)
        assert outcome.report.exit_code == 0, [j.error for j in outcome.report.jobs]
        run_dir = tmp_path / "run"
        want = sandbox.expected_records("All Profiles", {})
        assert read_jsonl(run_dir / "exports" / "ahead.jsonl") == want
        picked = sandbox.expected_records(
            "All Profiles",
            {
                "MatchCriteria": "ProfileId",
                "Values": [
                    "10000003",
                    "10000004",
                    "10000005",
                    "10000006",
                    "10000007",
                    "10000090",
                    "10000091",
                    "10000150",
                ],
            },
        )
        assert read_jsonl(run_dir / "exports" / "picked.jsonl") == picked
        sheet = (run_dir / "exports" / "sheet.csv").read_text().splitlines()
        subscribers = sandbox.expected_records("Email Subscribers", {})
        assert len(sheet) == len(subscribers) + 1
        assert [line.split(",")[0] for line in sheet[1:]] == [
            str(r["ProfileId"]) for r in subscribers
        ]
        counters = sandbox.counters.snapshot()
        faulted = {k: n for k, n in counters.items() if k.startswith("faults.retrieve.")}
        assert len(faulted) >= 4, counters  # the plan did fault pages in flight
        assert job(outcome, "ahead").retries > 0


def test_the_bytes_do_not_depend_on_concurrency(tmp_path):
    with running_sandbox(profiles=300, seed=9) as sandbox:
        exports = []
        for concurrency in (1, 8, 32):
            folder = tmp_path / f"c{concurrency}"
            folder.mkdir()
            spec = write_spec(
                folder,
                sandbox.base_url,
                f"""
                - name: all
                  segment_group: All Profiles
                  page_size: 17
                  concurrency: {concurrency}
            """,
            )
            outcome = run(spec, folder)
            assert outcome.report.exit_code == 0
            exports.append((folder / "run" / "exports" / "all.jsonl").read_bytes())
        assert exports[0] == exports[1] == exports[2]
        assert exports[0].count(b"\n") == 300


# -- a crash with 8 pages in flight -------------------------------------------------
ONE_JOB = """
    - name: ahead
      segment_group: All Profiles
      page_size: 10
      concurrency: 8
"""


def test_a_crash_at_every_durable_operation_with_8_pages_in_flight(tmp_path):
    """Pages arrive out of order, but a checkpoint only ever names a durable
    prefix: a crash anywhere, then --resume, gives exactly the records."""
    walked = 0
    with running_sandbox(profiles=150, seed=6) as sandbox:
        sandbox.faults.plan = FaultPlan.parse("slow_seconds=0.3")
        want = sandbox.expected_records("All Profiles", {})
        for n in range(1, 200):
            folder = tmp_path / f"crash-{n}"
            folder.mkdir()
            spec = write_spec(folder, sandbox.base_url, ONE_JOB)
            sandbox.faults.clear()
            # slow pages among fast ones: later pages wait for them (group commits
            # happen while pages are in flight)
            sandbox.faults.script("retrieve", ["ok", "ok", "slow", "ok", "ok", "ok", "slow"])
            crashed = crash_run(spec, folder / "run", n, folder / "durable.log")
            if crashed == 0:
                break
            assert crashed == -signal.SIGKILL, crashed
            walked += 1
            outcome = run(spec, folder, out=None, resume=folder / "run")
            assert outcome.report.exit_code == 0, [j.error for j in outcome.report.jobs]
            assert read_jsonl(folder / "run" / "exports" / "ahead.jsonl") == want, n
            assert not list((folder / "run" / "checkpoints").glob("*.json"))
        else:
            raise AssertionError("the run never finished uncrashed")
    assert walked >= 5


def test_sigkill_at_random_moments_with_pages_in_flight(tmp_path):
    rng = random.Random(7)
    with running_sandbox(profiles=2000, seed=8) as sandbox:
        sandbox.faults.plan = FaultPlan.parse("retrieve:slow=0.2,slow_seconds=0.02,seed=3")
        spec = write_spec(
            tmp_path, sandbox.base_url, ONE_JOB.replace("page_size: 10", "page_size: 9")
        )
        run_dir = tmp_path / "run"
        argv = [*segrun_argv(), "run", "-q", str(spec)]
        proc = subprocess.Popen([*argv, "--out", str(run_dir)])
        for _ in range(6):
            time.sleep(rng.uniform(0.5, 1.5))
            until_run_made(run_dir, proc)  # a kill before the run made its folder leaves none
            if proc.poll() is not None:
                break
            proc.kill()
            proc.wait()
            proc = subprocess.Popen([*argv, "--resume", str(run_dir)])
        assert proc.wait(timeout=120) == 0
        report = RunReport.load(run_dir / "report.json")
        assert report.status == "succeeded"
        assert read_jsonl(run_dir / "exports" / "ahead.jsonl") == sandbox.expected_records(
            "All Profiles", {}
        )


# -- the window --------------------------------------------------------------------
class _Server:
    """A fetch that holds each page until released, and counts how many are
    held at once: the stream's window seen from the server's side."""

    def __init__(self, throttle: set[int]) -> None:
        self.lock = threading.Condition()
        self.in_flight = 0
        self.sent: list[tuple[int, int]] = []  # (offset, pages in flight when it came)
        self.throttle = throttle
        self.released: set[int] = set()

    def fetch(self, offset: int, throttled) -> int:
        with self.lock:
            self.in_flight += 1
            self.sent.append((offset, self.in_flight))
            self.lock.notify_all()
            self.lock.wait_for(lambda: offset in self.released, timeout=10)
            self.in_flight -= 1
        if offset in self.throttle:
            throttled()  # the client retried it after a 429; it succeeded
        return offset

    def release(self, offsets) -> None:
        with self.lock:
            self.released.update(offsets)
            self.lock.notify_all()

    def wait_sent(self, count: int) -> None:
        with self.lock:
            assert self.lock.wait_for(lambda: len(self.sent) >= count, timeout=10), self.sent


def test_a_429_burst_halves_the_window_once_and_it_grows_back():
    server = _Server(throttle={1, 2, 3, 4, 5, 6, 7, 8})  # the first round: all throttled
    stream = PageStream(
        server.fetch, start=1, page_size=1, concurrency=8, bound=200, stopped=lambda: False
    )
    try:
        server.wait_sent(8)
        assert max(n for _, n in server.sent) == 8  # the whole window at once
        server.release(range(1, 9))
        for offset in range(1, 9):
            assert stream.take(offset) == offset
            stream.next(offset + 1, 200)
        # eight 429s of one round cut the window once: 8 -> 4, not 8 -> 1
        assert stream.window == 4
        server.wait_sent(12)
        time.sleep(0.2)  # nothing more goes out while four are held
        assert len(server.sent) == 12
        assert max(n for _, n in server.sent[8:]) <= 4
        # additive increase: each answer adds 1/window; a window's worth adds one page
        for offset in range(9, 200):
            server.release([offset])
            assert stream.take(offset) == offset
            stream.next(offset + 1, 200)
        assert stream.window == 8
        assert max(n for _, n in server.sent[-20:]) <= 8
    finally:
        server.release(range(1, 300))
        stream.close()


def test_pages_in_flight_ask_for_each_offset_once_and_none_past_the_bound():
    server = _Server(throttle={1, 20})
    stream = PageStream(
        server.fetch, start=1, page_size=1, concurrency=8, bound=100, stopped=lambda: False
    )
    try:
        server.release(range(1, 101))
        for offset in range(1, 101):
            assert stream.take(offset) == offset
            stream.next(offset + 1, 100)
        assert server.sent[-1][0] == 100  # nothing past the bound was asked for
        assert len({o for o, _ in server.sent}) == len(server.sent) == 100
    finally:
        stream.close()


def test_a_short_page_moves_every_later_offset():
    """A page with fewer records than the page size (HasMore still true): pages
    fetched for the old plan are dropped, the rest is planned from where the job is."""
    asked: list[int] = []
    lock = threading.Lock()

    def fetch(offset: int, throttled) -> int:
        with lock:
            asked.append(offset)
        return offset

    stream = PageStream(
        fetch, start=1, page_size=10, concurrency=4, bound=100, stopped=lambda: False
    )
    try:
        assert stream.take(1) == 1
        stream.next(6, 100)  # the first page held only 5 records
        assert stream.take(6) == 6
        stream.next(16, 100)
        assert stream.take(16) == 16
    finally:
        stream.close()
    assert 6 in asked and 16 in asked


def test_an_error_comes_when_its_offset_is_taken_not_before():
    def fetch(offset: int, throttled) -> int:
        if offset == 3:
            raise RuntimeError("page 3 failed")
        return offset

    stream = PageStream(fetch, start=1, page_size=1, concurrency=8, bound=10, stopped=lambda: False)
    try:
        assert stream.take(1) == 1
        stream.next(2, 10)
        assert stream.take(2) == 2
        stream.next(3, 10)
        with pytest.raises(RuntimeError, match="page 3"):
            stream.take(3)
    finally:
        stream.close()


# -- more records than RowCount said: the table of seen ids is rebuilt ------------
@pytest.mark.parametrize("mode", ["honest", "repeat_last"])
def test_an_export_past_its_rowcount_still_catches_a_repeat(tmp_path, mode):
    """The seen-ids table is sized by RowCount; 9,000 records where Status said
    2 outgrow it (rebuilt from the part file), and a repeat of record 1 at the
    very end is still caught."""
    with serving_pages(lying_pages(mode, total=9000), rowcount=2) as (base_url, _):
        spec = write_spec(
            tmp_path,
            base_url,
            """
            - name: many
              segment_group: All Profiles
              page_size: 1000
              concurrency: 4
        """,
        )
        result = job(run(spec, tmp_path), "many")
    if mode == "honest":
        assert result.status == "succeeded", result.error
        assert result.records == 9000
        assert any("RowCount" in note for note in result.notes), result.notes
    else:
        assert result.status == "failed"
        assert "'P000001' at record 9000 was already exported at record 1" in result.error
