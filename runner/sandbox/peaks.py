"""The busiest moments of a sandbox's life: the most requests that arrived within
one second, and the most in flight at once.

A benchmark reads these to show that a client kept its `rate_limit` (no
1-second window held more requests than it allows) or really had pages in
flight (more than one request open at a time). Arrivals are timed on the
monotonic clock once the request has been read, before faults, auth or the rate
limit; a request is in flight from then until its answer, latency included, is
ready to send. The sandbox's `/_sandbox/` admin requests are not counted.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW = 1.0  # seconds
MAX_CLIENTS = 100  # per-client peaks kept for this many client ids (any request counts overall)
PEAK_1S, PEAK_IN_FLIGHT = "peak_requests_in_1s", "peak_in_flight"


class Peaks:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._recent: deque[float] = deque()  # arrivals of the last WINDOW: bounded by the rate
        self._recent_by: dict[str, deque[float]] = {}
        self._peak = 0
        self._peak_by: dict[str, int] = {}
        self._in_flight = 0
        self._peak_in_flight = 0

    def arrive(self, client_id: str | None = None) -> None:
        """A request arrived; `depart()` must follow once its answer is ready."""
        now = self._clock()
        with self._lock:
            self._peak = max(self._peak, _slide(self._recent, now))
            if client_id is not None:
                recent = self._recent_by.get(client_id)
                if recent is None and len(self._recent_by) < MAX_CLIENTS:
                    recent = self._recent_by[client_id] = deque()
                if recent is not None:
                    self._peak_by[client_id] = max(
                        self._peak_by.get(client_id, 0), _slide(recent, now)
                    )
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)

    def depart(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def peak_requests_in_1s(self, client_id: str | None = None) -> int:
        with self._lock:
            return self._peak if client_id is None else self._peak_by.get(client_id, 0)

    def peak_in_flight(self) -> int:
        with self._lock:
            return self._peak_in_flight

    def snapshot(self) -> dict[str, int]:
        """`peak_requests_in_1s`, `peak_requests_in_1s.<client id>` per client, `peak_in_flight`."""
        with self._lock:
            found = {PEAK_1S: self._peak, PEAK_IN_FLIGHT: self._peak_in_flight}
            found.update({f"{PEAK_1S}.{c}": n for c, n in sorted(self._peak_by.items())})
            return found

    def reset(self) -> None:
        """Forget the peaks; requests in flight now still count as in flight."""
        with self._lock:
            self._recent.clear()
            self._recent_by.clear()
            self._peak, self._peak_by = 0, {}
            self._peak_in_flight = self._in_flight


def _slide(recent: deque[float], now: float) -> int:
    """Add an arrival; how many arrived less than WINDOW before it (itself included)."""
    recent.append(now)
    while recent[0] <= now - WINDOW:
        recent.popleft()
    return len(recent)
