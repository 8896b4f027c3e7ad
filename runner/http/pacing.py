"""The run's one rate budget: every request of every job, every page in flight,
asks it before it is sent.

The rule, `rate_limit: {requests_per_second: R}`: never more than R requests
start in any sliding one-second window (R below 1: starts at least 1/R seconds
apart). Burst and long-run rate both stay within it: up to floor(R) requests
go at once, and the next waits until the oldest of them leaves the window.

The window is held a little longer than a second (`MARGIN`): the server counts
arrivals, not starts, and a request that waited for a thread or a connection
arrives later than it started, which would bunch it with the next ones. The
margin absorbs this machine's own scheduling jitter; jitter on the network
path can still bunch arrivals, so choose R below the server's real limit.

A 429 with a usable Retry-After pauses the whole budget (`pause`): every job
of the run then waits, not only the one that was told, since the server's
limit is per client, not per job. A run without `rate_limit` still has a
budget: it only pauses.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable

from runner.system.numbers import MIN_RATE, number_problem

#: seconds added to the window, so that arrivals (not only starts) keep the rule
MARGIN = 0.1


class RateBudget:
    """A sliding-window limiter shared by threads; `sleep` is the run's waking
    sleep (it raises `Interrupted` once a stop is requested), so no wait here
    outlives a Ctrl-C."""

    def __init__(
        self,
        requests_per_second: float | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        problem = None
        if requests_per_second is not None:  # the spec's check, kept by its user too
            problem = number_problem(requests_per_second, low=MIN_RATE)
        if problem:
            raise ValueError(f"requests_per_second {problem}")
        self.requests_per_second = requests_per_second
        self._sleep = sleep
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._paused_until = -math.inf
        if requests_per_second is None:
            self._burst, self._window = 0, 0.0
        else:  # R >= 1: floor(R) a second; R < 1: one every 1/R seconds
            self._burst = max(1, math.floor(requests_per_second))
            self._window = max(1.0, 1.0 / requests_per_second) + MARGIN
        self._starts: deque[float] = deque(maxlen=max(1, self._burst))

    @property
    def limited(self) -> bool:
        return self.requests_per_second is not None

    def acquire(self) -> float | None:
        """Return when one more request may start (and count it as started):
        the start counted, for `give_back`, or None when none is counted."""
        while True:
            with self._lock:
                now = self._monotonic()
                wait = self._paused_until - now
                if self._burst and len(self._starts) == self._burst:
                    wait = max(wait, self._starts[0] + self._window - now)
                if wait <= 0:
                    if not self._burst:
                        return None
                    self._starts.append(now)
                    return now
            self._sleep(wait)  # then look again: another thread may have taken the slot

    def give_back(self, start: float | None) -> None:
        """A place taken by `acquire` that no request used (its request waited
        for a token and takes a later place): it no longer counts. Only a start
        still in the window is counted at all; one already out changes nothing."""
        if start is None:
            return
        with self._lock, contextlib.suppress(ValueError):
            self._starts.remove(start)

    def pause(self, seconds: float) -> None:
        """No request of the run starts for `seconds` from now (a longer pause
        already in force is kept)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._monotonic() + max(0.0, seconds))

    def describe(self) -> str:
        if self.requests_per_second is None:
            return "no rate limit (429 pauses only)"
        return f"at most {self.requests_per_second:g} requests in any second"
