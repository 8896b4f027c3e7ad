"""A plain token bucket per client id: the documented 429 without any fault plan."""

from __future__ import annotations

import math
import threading


class RateLimit:
    def __init__(self, per_second: float) -> None:
        if per_second <= 0:
            raise ValueError("the rate limit must be a positive number of requests per second")
        self.per_second = per_second
        self.burst = max(1.0, per_second)
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last time)
        self._lock = threading.Lock()

    def take(self, key: str, now: float) -> int | None:
        """None when the request may go on, else the Retry-After seconds."""
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.per_second)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return None
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / self.per_second))
