"""Attack on AIMD (runner/run/inflight.py): the window gated only new offsets; a page
answered 429 was retried inside its worker at once, whatever the window, so the
server kept seeing `concurrency` requests at a time after a 429 burst (fixed: a
retry waits for a place in the window)."""

from __future__ import annotations

import threading
import time

from tests.support.fake_server import envelope, serving_pages
from tests.support.runs import run
from tests.support.specs import one_job, write_spec

N, SIZE, ALLOWED = 200, 10, 4


def _limited():
    lock = threading.Lock()
    state = {"now": 0, "peak_after_429": 0, "throttled": 0}

    def page(offset: int, limit: int):
        with lock:
            if state["now"] >= ALLOWED:
                state["throttled"] += 1
                return 429, b'{"Message":"too many at once"}', {"Retry-After": "0"}
            state["now"] += 1
            if state["throttled"]:
                state["peak_after_429"] = max(state["peak_after_429"], state["now"])
        try:
            time.sleep(0.05)
            last = min(offset + limit - 1, N)
            records = [b'{"ProfileId":%d}' % n for n in range(offset, last + 1)]
            return 200, envelope(records, offset, limit, N, last < N), {}
        finally:
            with lock:
                state["now"] -= 1

    return page, state


def test_a_server_that_takes_4_at_once_is_met_by_a_shrinking_window(tmp_path):
    """16 pages in flight against a server answering 429 to a 5th concurrent request:
    the window halves (16, 8, 4) and the export finishes (it used to retry each
    throttled page at once in its worker: 12 pages kept knocking and ran out of
    attempts)."""
    page, state = _limited()
    with serving_pages(page, N) as (base_url, _):
        spec = write_spec(tmp_path, base_url, one_job(SIZE, 16))
        outcome = run(spec, tmp_path)
    result = outcome.report.jobs[0]
    assert state["throttled"] > 0
    assert result.status == "succeeded", (result.error, state)
