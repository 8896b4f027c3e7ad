"""Attack on AIMD (runner/run/inflight.py): 'a 429/503 halves the window once per round,
and the server never sees more than the window's requests at once, including right
after a cut'. The 8 requests sent before a cut are answered after it; each of those
old-round answers still grows the (halved) window by 1/window, so by the time the
retried page goes, the window of 4 is 5 and a half: the server sees 5 at once
before a single request of the new round was answered."""

from __future__ import annotations

import threading
import time

from tests.support.fake_server import Counting, serving_pages
from tests.support.runs import run
from tests.support.specs import one_job, write_spec

N, SIZE, WINDOW, SLOW, SLOWER = 150, 10, 8, 0.3, 1.0
THROTTLED = 1 + 8 * SIZE  # page 9: the last of the first full window


def test_right_after_a_cut_the_server_sees_at_most_half_the_window(tmp_path):
    lock = threading.Lock()
    state = {"cut": False, "new_answered": False}
    cut = threading.Event()
    seen_after_cut: list[tuple[int, int]] = []  # (offset, held at once) before any new answer

    def answer(offset: int, limit: int):
        with lock:
            if offset == THROTTLED and not state["cut"]:
                state["cut"] = True
                cut.set()
                return 429, b'{"Message":"slow down"}', {"Retry-After": "0"}
            after = state["cut"] and offset >= THROTTLED  # the retry, or a new offset
            if after and not state["new_answered"]:
                seen_after_cut.append((offset, counting.now))
        if 1 < offset < THROTTLED:  # the first window is answered after the cut, whatever the order
            cut.wait(5)
        time.sleep(0 if offset == 1 else SLOWER if after else SLOW)  # the new round slower
        try:
            return counting.plain(offset, limit)
        finally:
            if after:
                with lock:
                    state["new_answered"] = True

    counting = Counting(N, answer)
    with serving_pages(counting, N) as (base_url, _):
        spec = write_spec(tmp_path, base_url, one_job(SIZE, WINDOW))
        outcome = run(spec, tmp_path)
    assert outcome.report.jobs[0].status == "succeeded"
    assert state["cut"]
    lines = (tmp_path / "run" / "exports" / "one.jsonl").read_bytes().splitlines()
    assert len(lines) == N
    assert counting.peak <= WINDOW
    # the window is 4 after the cut; nothing of the new round has been answered yet
    assert max(held for _, held in seen_after_cut) <= WINDOW // 2, seen_after_cut
