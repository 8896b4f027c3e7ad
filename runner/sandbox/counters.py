"""Counts the tests read: requests per call, faults injected, answers sent, and
the peaks of arrivals and requests in flight (`peaks.py`)."""

from __future__ import annotations

import threading
from collections import Counter

from runner.sandbox.peaks import Peaks


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, ...]] = Counter()
        self.peaks = Peaks()

    def add(self, *key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def requests(self, call: str | None = None) -> int:
        """Requests that reached a call (faulted ones included)."""
        return self._sum("requests", call)

    def faults(self, call: str | None = None, kind: str | None = None) -> int:
        return self._sum("faults", call, kind)

    def responses(self, status: int | None = None) -> int:
        return self._sum("responses", None if status is None else str(status))

    def rate_limited(self, call: str | None = None) -> int:
        return self._sum("rate_limited", call)

    def _sum(self, *pattern: str | None) -> int:
        with self._lock:
            return sum(
                n
                for key, n in self._counts.items()
                if len(key) >= len(pattern)
                and all(p is None or p == k for p, k in zip(pattern, key, strict=False))
            )

    def snapshot(self) -> dict[str, int]:
        """Every count as `"faults.retrieve.503": 2`, for printing or JSON, then the
        peaks (`peak_requests_in_1s`, `peak_requests_in_1s.<client id>`, `peak_in_flight`)."""
        with self._lock:
            counts = {".".join(key): n for key, n in sorted(self._counts.items())}
        return {**counts, **self.peaks.snapshot()}

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
        self.peaks.reset()
