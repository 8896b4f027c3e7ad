"""The rate budget's rule, on an injected clock, and at the server while the client's
interpreter is busy (a waiting thread's real timing over HTTP is also tested in
tests/run/test_jobs_in_flight.py)."""

from __future__ import annotations

import math
import subprocess
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.http.client import Interrupted
from runner.http.pacing import MARGIN, RateBudget
from runner.run.execute import StopFlag
from tests.support import MEASURED
from tests.support.fake_server import envelope, serving_pages
from tests.support.processes import segrun_argv, segrun_environ
from tests.support.specs import one_job, write_spec


class Clock:
    """Monotonic seconds that move only when someone sleeps (or the test says)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.slept.append(seconds)
        self.now += seconds


def starts(rate: float, count: int, gaps: list[float] | None = None) -> list[float]:
    clock = Clock()
    budget = RateBudget(rate, sleep=clock.sleep, monotonic=clock)
    times = []
    for n in range(count):
        if gaps:
            clock.now += gaps[n % len(gaps)]
        budget.acquire()
        times.append(clock.now)
    return times


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=0.05, max_value=200, allow_nan=False),
    count=st.integers(min_value=1, max_value=120),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=5),
)
def test_never_more_than_r_starts_in_any_second(rate, count, gaps):
    times = starts(rate, count, gaps)
    burst = max(1, math.floor(rate))
    window = max(1.0, 1.0 / rate)
    for first, later in zip(times, times[burst:]):  # noqa: B905 - shorter on purpose
        # the (burst+1)-th start is a whole window, plus the margin, after the first
        assert later - first >= window + MARGIN - 1e-9


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=0.05, max_value=20, allow_nan=False),
    unused=st.lists(st.booleans(), min_size=1, max_size=60),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=5),
)
def test_places_given_back_unused_never_let_the_rest_exceed_the_rule(rate, unused, gaps):
    """A place a request took but did not use (it waited for a token, which took the
    place or left first) is given back; the starts that were used still keep the rule."""
    clock = Clock()
    budget = RateBudget(rate, sleep=clock.sleep, monotonic=clock)
    used = []
    for n, give_back in enumerate(unused):
        clock.now += gaps[n % len(gaps)]
        place = budget.acquire()
        if give_back:
            budget.give_back(place)
        else:
            used.append(clock.now)
    burst = max(1, math.floor(rate))
    window = max(1.0, 1.0 / rate)
    for first, later in zip(used, used[burst:]):  # noqa: B905 - shorter on purpose
        assert later - first >= window + MARGIN - 1e-9


def test_a_place_given_back_is_free_at_once():
    clock = Clock()
    budget = RateBudget(2, sleep=clock.sleep, monotonic=clock)
    budget.acquire()
    budget.give_back(budget.acquire())
    budget.acquire()  # the place given back: no wait
    assert clock.slept == []
    budget.acquire()  # the third in the window waits for the first to leave it
    assert clock.slept == [pytest.approx(1 + MARGIN)]


def test_a_burst_then_the_rate():
    times = starts(5, 11)
    assert times[:5] == [times[0]] * 5  # floor(R) go at once
    assert times[5] == pytest.approx(times[0] + 1 + MARGIN)
    assert times[10] == pytest.approx(times[0] + 2 * (1 + MARGIN))


def test_below_one_a_second_starts_are_spaced():
    times = starts(0.5, 3)
    assert times[1] - times[0] == pytest.approx(2 + MARGIN)
    assert times[2] - times[1] == pytest.approx(2 + MARGIN)


def test_pause_holds_every_request_even_without_a_rate():
    clock = Clock()
    budget = RateBudget(sleep=clock.sleep, monotonic=clock)
    for _ in range(50):
        budget.acquire()
    assert clock.slept == []  # no rate: nothing waits
    budget.pause(3)
    budget.pause(1)  # a shorter pause does not cut a longer one short
    budget.acquire()
    assert clock.now == pytest.approx(1003)


def test_a_stop_ends_a_wait():
    stop = StopFlag()
    budget = RateBudget(1, sleep=stop.sleep)
    budget.acquire()
    stop.request()
    with pytest.raises(Interrupted):
        budget.acquire()  # would wait about a second; the stop ends it now


def test_no_rate_of_zero_or_less():
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError):
            RateBudget(bad)


# -- at the server, while workers hold the interpreter ------------------------------
N, SIZE, RATE = 24, 1, 4


def most_in_one_second(times: list[float]) -> int:
    times = sorted(times)
    best, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best


@MEASURED
@pytest.mark.slow  # ~17 s, and intermittent: it depends on scheduling
def test_rate_limit_holds_at_the_server_while_workers_scan_huge_records(tmp_path):
    """The budget counts starts, and a start reaches the server later when the client's
    interpreter is busy (one lock runs one thread: a worker scanning a page holding
    one huge record keeps the others from sending what they were allowed to send).
    Seen: 5 arrivals in one second at R=4 ([0.0, 0.031, 1.041, 1.077, 1.106, 1.155,
    ...]): two of the first burst's four requests, allowed at 0, reached the server a
    second later, while other workers held the interpreter decoding 12 MB records
    (one C call each), and so arrived with the next burst. Not a strict xfail: it
    depends on scheduling."""
    big = b'{"ProfileId":"%d","a":[' + b"0," * 6_000_000 + b"0]}"
    arrivals: list[float] = []
    lock = threading.Lock()

    def page(offset: int, limit: int):
        with lock:
            arrivals.append(time.monotonic())
        last = min(offset + limit - 1, N)
        records = [big % n for n in range(offset, last + 1)]
        return 200, envelope(records, offset, limit, N, last < N), {}

    with serving_pages(page, N) as (base_url, _):
        spec = write_spec(
            tmp_path,
            base_url,
            one_job(SIZE, 8),
            top=f"rate_limit: {{requests_per_second: {RATE}}}\n",
        )
        env = segrun_environ()
        done = subprocess.run(  # its own process: the server's clock is not held up
            [
                *segrun_argv(),
                "run",
                str(spec),
                "--out",
                str(tmp_path / "run"),
                "--quiet",
                "--max-page-bytes",
                str(64 << 20),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
    assert done.returncode == 0, done.stderr
    first = min(arrivals)
    assert most_in_one_second(arrivals) <= RATE, [round(a - first, 3) for a in sorted(arrivals)]
