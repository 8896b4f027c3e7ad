"""Attack on 'pages held stay within 2 windows' (runner/run/inflight.py, commit 2e79551):
one early page answered very slowly, every later page at once."""

from __future__ import annotations

import threading

from tests.support.fake_server import Counting, serving_pages
from tests.support.runs import run
from tests.support.specs import one_job, write_spec

N, SIZE, WINDOW = 400, 10, 4


def test_a_slow_early_page_holds_at_most_two_windows(tmp_path):
    release = threading.Event()
    sent_while_slow: list[int] = []

    def answer(offset: int, limit: int):
        if offset == 1 + SIZE:  # page 2: slow until released (or 3 s)
            release.wait(3)
            release.set()
            return counting.plain(offset, limit)
        if not release.is_set() and offset > 1 + SIZE:
            sent_while_slow.append(offset)
        return counting.plain(offset, limit)

    counting = Counting(N, answer)
    with serving_pages(counting, N) as (base_url, _):
        spec = write_spec(tmp_path, base_url, one_job(SIZE, WINDOW))
        outcome = run(spec, tmp_path)
        release.set()
    assert outcome.report.jobs[0].status == "succeeded"
    # page 2 and at most 2 windows - 1 more pages held while it is slow
    assert len(sent_while_slow) <= 2 * WINDOW - 1, sorted(sent_while_slow)
    assert counting.peak <= WINDOW
    lines = (tmp_path / "run" / "exports" / "one.jsonl").read_bytes().splitlines()
    assert len(lines) == N
