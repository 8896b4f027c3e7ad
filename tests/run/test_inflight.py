"""Pages in flight (`concurrency`, runner/run/inflight.py): fetched at once, written
strictly in offset order, so the export, the checkpoints and --resume are those of
one page at a time, whatever order and shape the answers come in. The window
shrinks on 429/503 (AIMD) and grows back; the pages held stay within two windows
and within the byte budget."""

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
from tests.support import MEASURED
from tests.support.fake_server import Counting, envelope, lying_pages, serving_pages
from tests.support.processes import segrun_argv, segrun_environ, until_run_made
from tests.support.runs import crash_run, export_peak_mb, job, read_jsonl, run
from tests.support.specs import one_job, write_spec

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


# -- answers that interleave, short pages, lies on a page ahead --------------------------
RECORDS = 300


def _record(n: int) -> bytes:
    return b'{"ProfileId":"P%05d","n":%d}' % (n, n)


def _want(n: int = RECORDS) -> bytes:
    return b"".join(_record(i) + b"\n" for i in range(1, n + 1))


def _short_pages(seed: int, fail_every: int = 0):
    """Each offset's page holds a random number of records (the same on a retry),
    arrives after a random delay, and now and then is a 503 first."""
    tries: dict[int, int] = {}

    def page(offset: int, limit: int):
        rnd = random.Random(seed * 100_003 + offset)
        time.sleep(rnd.random() * 0.02)
        tries[offset] = tries.get(offset, 0) + 1
        if fail_every and rnd.randrange(fail_every) == 0 and tries[offset] == 1:
            return 503, b'{"Message":"busy"}', {}
        if offset > RECORDS:
            return 200, envelope([], offset, limit, RECORDS, False), {}
        count = rnd.randint(1, limit)
        last = min(offset + count - 1, RECORDS)
        records = [_record(i) for i in range(offset, last + 1)]
        return 200, envelope(records, offset, limit, RECORDS, last < RECORDS), {}

    return page


@pytest.mark.parametrize("concurrency", [3, 32])
@pytest.mark.parametrize("seed", [1])
def test_short_pages_of_random_length_among_pages_in_flight_give_every_record_once(
    tmp_path, concurrency, seed
):
    with serving_pages(_short_pages(seed, fail_every=5), RECORDS) as (base_url, _):
        spec = write_spec(tmp_path, base_url, one_job(10, concurrency))
        outcome = run(spec, tmp_path)
    result = outcome.report.jobs[0]
    assert result.status == "succeeded", result.error
    assert (tmp_path / "run" / "exports" / "one.jsonl").read_bytes() == _want()


def _lie_ahead(kind: str, at: int):
    def page(offset: int, limit: int):
        if offset != at:
            time.sleep(0.05)  # the honest pages come later than the lying one
        last = min(offset + limit - 1, RECORDS)
        records = [_record(i) for i in range(offset, last + 1)]
        total, more, count = RECORDS, last < RECORDS, None
        if offset == at:
            if kind == "total":
                total = RECORDS + 1
            elif kind == "count":
                count = len(records) + 1
            elif kind == "offset":
                offset += 1
            elif kind == "garbage":
                return 200, b"{not json", {}
            elif kind == "repeat":
                records[-1] = _record(1)
        body = envelope(records, offset, limit, total, more)
        if count is not None:
            body = body.replace(b'"Count": %d' % len(records), b'"Count": %d' % count)
        return 200, body, {}

    return page


@pytest.mark.parametrize("kind", ["total", "count", "offset", "garbage", "repeat"])
def test_a_lie_on_a_page_ahead_fails_the_job_after_every_page_before_it(tmp_path, kind):
    at = 51  # the 6th page of 10
    with serving_pages(_lie_ahead(kind, at), RECORDS) as (base_url, _):
        spec = write_spec(tmp_path, base_url, one_job(10, 8))
        outcome = run(spec, tmp_path)
    result = outcome.report.jobs[0]
    assert result.status == "failed"
    assert "51" in (result.error or "") or kind in ("count", "garbage"), result.error
    part = tmp_path / "run" / "exports" / "one.jsonl.part"
    assert part.read_bytes() == _want(50), result.error


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


KILLED_RECORDS = 1000


def _padded_record(n: int) -> bytes:
    return b'{"ProfileId":"P%05d","pad":"%s"}' % (n, b"x" * (n % 50))


def _short_random_page(offset: int, limit: int):
    rnd = random.Random(offset)
    time.sleep(rnd.random() * 0.01)
    if offset > KILLED_RECORDS:
        return 200, envelope([], offset, limit, KILLED_RECORDS, False), {}
    last = min(offset + rnd.randint(limit // 2, limit) - 1, KILLED_RECORDS)
    records = [_padded_record(i) for i in range(offset, last + 1)]
    return 200, envelope(records, offset, limit, KILLED_RECORDS, last < KILLED_RECORDS), {}


def test_sigkill_with_jobs_and_pages_in_flight_then_resume(tmp_path):
    """kill -9 at random moments of a run with jobs and pages in flight, short pages
    of random length re-planning the offsets, then --resume: exactly the records."""
    jobs = "".join(
        f"- name: j{i}\n  segment_group: VIP Customers\n  page_size: {7 + i}\n"
        f"  concurrency: {2 + 3 * i}\n"
        for i in range(4)
    )
    rng = random.Random(12)
    env = segrun_environ()
    with serving_pages(_short_random_page, KILLED_RECORDS) as (base_url, _):
        spec = write_spec(tmp_path, base_url, jobs)
        run_dir = tmp_path / "run"
        argv = [*segrun_argv(), "run", "-q", str(spec), "--jobs", "3"]
        proc = subprocess.Popen(
            [*argv, "--out", str(run_dir)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        kills = 0
        for _ in range(5):
            time.sleep(rng.uniform(0.3, 0.9))
            until_run_made(run_dir, proc)  # a kill before the run made its folder leaves none
            if proc.poll() is not None:
                break
            proc.kill()
            proc.wait()
            kills += 1
            proc = subprocess.Popen(
                [*argv, "--resume", str(run_dir)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
    assert kills >= 2
    want = b"".join(_padded_record(i) + b"\n" for i in range(1, KILLED_RECORDS + 1))
    for i in range(4):
        assert (run_dir / "exports" / f"j{i}.jsonl").read_bytes() == want, i


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


def test_a_server_that_takes_4_at_once_is_met_by_a_shrinking_window(tmp_path):
    """16 pages in flight against a server answering 429 to a 5th concurrent request:
    the window halves (16, 8, 4) and the export finishes. A page answered 429 was
    once retried at once inside its worker, whatever the window: 12 pages kept
    knocking and ran out of attempts; a retry now waits for a place in the window."""
    total, allowed = 200, 4
    lock = threading.Lock()
    state = {"now": 0, "peak_after_429": 0, "throttled": 0}

    def page(offset: int, limit: int):
        with lock:
            if state["now"] >= allowed:
                state["throttled"] += 1
                return 429, b'{"Message":"too many at once"}', {"Retry-After": "0"}
            state["now"] += 1
            if state["throttled"]:
                state["peak_after_429"] = max(state["peak_after_429"], state["now"])
        try:
            time.sleep(0.05)
            last = min(offset + limit - 1, total)
            records = [b'{"ProfileId":%d}' % n for n in range(offset, last + 1)]
            return 200, envelope(records, offset, limit, total, last < total), {}
        finally:
            with lock:
                state["now"] -= 1

    with serving_pages(page, total) as (base_url, _):
        spec = write_spec(tmp_path, base_url, one_job(10, 16))
        outcome = run(spec, tmp_path)
    result = outcome.report.jobs[0]
    assert state["throttled"] > 0
    assert result.status == "succeeded", (result.error, state)


def test_right_after_a_cut_the_server_sees_at_most_half_the_window(tmp_path):
    """A 429 halves the window once a round, and the server never sees more than the
    window's requests at once, right after a cut too. The 8 requests sent before a
    cut are answered after it; each of those answers once grew the halved window by
    1/window, so when the retried page went the window of 4 was 5 and a half: the
    server saw 5 at once before one request of the new round was answered."""
    total, size, window, slow, slower = 150, 10, 8, 0.3, 1.0
    throttled = 1 + 8 * size  # page 9: the last of the first full window
    lock = threading.Lock()
    state = {"cut": False, "new_answered": False}
    cut = threading.Event()
    seen_after_cut: list[tuple[int, int]] = []  # (offset, held at once) before any new answer

    def answer(offset: int, limit: int):
        with lock:
            if offset == throttled and not state["cut"]:
                state["cut"] = True
                cut.set()
                return 429, b'{"Message":"slow down"}', {"Retry-After": "0"}
            after = state["cut"] and offset >= throttled  # the retry, or a new offset
            if after and not state["new_answered"]:
                seen_after_cut.append((offset, counting.now))
        if 1 < offset < throttled:  # the first window is answered after the cut, whatever the order
            cut.wait(5)
        time.sleep(0 if offset == 1 else slower if after else slow)  # the new round slower
        try:
            return counting.plain(offset, limit)
        finally:
            if after:
                with lock:
                    state["new_answered"] = True

    counting = Counting(total, answer)
    with serving_pages(counting, total) as (base_url, _):
        spec = write_spec(tmp_path, base_url, one_job(size, window))
        outcome = run(spec, tmp_path)
    assert outcome.report.jobs[0].status == "succeeded"
    assert state["cut"]
    lines = (tmp_path / "run" / "exports" / "one.jsonl").read_bytes().splitlines()
    assert len(lines) == total
    assert counting.peak <= window
    # the window is 4 after the cut; nothing of the new round has been answered yet
    assert max(held for _, held in seen_after_cut) <= window // 2, seen_after_cut


def test_a_slow_early_page_holds_at_most_two_windows(tmp_path):
    """One early page answered very slowly, every later page at once: the pages held
    while it is slow stay within two windows."""
    total, size, window = 400, 10, 4
    release = threading.Event()
    sent_while_slow: list[int] = []

    def answer(offset: int, limit: int):
        if offset == 1 + size:  # page 2: slow until released (or 3 s)
            release.wait(3)
            release.set()
            return counting.plain(offset, limit)
        if not release.is_set() and offset > 1 + size:
            sent_while_slow.append(offset)
        return counting.plain(offset, limit)

    counting = Counting(total, answer)
    with serving_pages(counting, total) as (base_url, _):
        spec = write_spec(tmp_path, base_url, one_job(size, window))
        outcome = run(spec, tmp_path)
        release.set()
    assert outcome.report.jobs[0].status == "succeeded"
    # page 2 and at most 2 windows - 1 more pages held while it is slow
    assert len(sent_while_slow) <= 2 * window - 1, sorted(sent_while_slow)
    assert counting.peak <= window
    lines = (tmp_path / "run" / "exports" / "one.jsonl").read_bytes().splitlines()
    assert len(lines) == total


# -- memory: the pages held are bounded in bytes too --------------------------------------
BIG_SIZE, BIG_PAGES, PAD = 1000, 40, b"x" * 12_000  # 12 MB pages, under the 16 MB cap


def _big_pages(offset: int, limit: int):
    total = BIG_SIZE * BIG_PAGES
    last = min(offset + limit - 1, total)
    records = [b'{"ProfileId":%d,"p":"%s"}' % (n, PAD) for n in range(offset, last + 1)]
    return 200, envelope(records, offset, limit, total, last < total), {}


@MEASURED
def test_big_pages_among_32_in_flight_keep_memory_bounded(tmp_path):
    """Each page is capped on its own (max(16 MB, 16 KB x page_size)); with nothing
    to cap the pages held at once, a server sending big (allowed) pages once drove
    memory to concurrency x the cap: 5 GB at page_size 10,000 and concurrency 32."""
    mb = export_peak_mb(tmp_path, _big_pages, BIG_SIZE * BIG_PAGES, BIG_SIZE, 32)
    # one page at a time peaks near 60 MB on these pages; 32 x 12 MB held is ~600 MB
    assert mb < 256, f"peak RSS {mb} MB"


def _growing_pages(offset: int, limit: int):
    total = BIG_SIZE * BIG_PAGES
    last = min(offset + limit - 1, total)
    pad = b"" if offset == 1 else PAD  # the first page, the one measured, is small
    records = [b'{"ProfileId":%d,"p":"%s"}' % (n, pad) for n in range(offset, last + 1)]
    return 200, envelope(records, offset, limit, total, last < total), {}


@MEASURED
@pytest.mark.xfail(
    # not strict: whether the requests already sent come back big depends on timing, so the
    # gap shows in most runs, not all (a strict xfail then failed a run that got lucky)
    strict=False,
    reason=(
        "known gap, documented in docs/internals/concurrency.md: the byte budget measures "
        "pages by the biggest so far, "
        "so requests sent before a server's pages suddenly grow can come back big, one round of "
        "them; bounding that needs a receive-side budget that exempts the page the writer waits for"
    ),
)
def test_a_small_first_page_does_not_let_32_big_pages_in(tmp_path):
    """Pages held at once are bounded in bytes by BYTE_BUDGET (32 MiB), measured by the
    biggest page so far: a server whose first page is small and whose later pages are
    big (each under the per-page cap) has every request of the window answered big."""
    mb = export_peak_mb(tmp_path, _growing_pages, BIG_SIZE * BIG_PAGES, BIG_SIZE, 32)
    # the byte budget (32 MiB) and one page being written: the bound on the same pages
    # when the first is big too is 256 MB; 32 x 12 MB held is ~400 MB
    assert mb < 256, f"peak RSS {mb} MB"


SMALL_SIZE, SMALL_PAGES, SLOW = 10_000, 80, 3.0


def _small_records_with_a_slow_second_page(offset: int, limit: int):
    total = SMALL_SIZE * SMALL_PAGES
    if offset == 1 + SMALL_SIZE:  # page 2 slow: every later page answered and held meanwhile
        time.sleep(SLOW)
    last = min(offset + limit - 1, total)
    records = [b'{"ProfileId":%d}' % n for n in range(offset, last + 1)]
    return 200, envelope(records, offset, limit, total, last < total), {}


@MEASURED
@pytest.mark.slow
def test_pages_held_cost_no_more_than_the_byte_budget(tmp_path):
    """The budget measures a page by len(page.body), but a held page also keeps a
    ProfileId object and a msgspec.Raw a record, several times the body for small
    records: with one early page slow and 2 windows of 10,000-record pages held at
    concurrency 32, segrun once held ~75 MB more than one page at a time did, while
    the budget counted ~11 MB of them. Two full exports."""
    total = SMALL_SIZE * SMALL_PAGES
    alone = export_peak_mb(tmp_path, _small_records_with_a_slow_second_page, total, SMALL_SIZE, 1)
    held = export_peak_mb(tmp_path, _small_records_with_a_slow_second_page, total, SMALL_SIZE, 32)
    # everything held at once (in flight and waiting) within BYTE_BUDGET, with room
    # for 32 threads and one page being decoded
    assert held - alone < 32 + 16, f"{held - alone} MB more than one page at a time"
