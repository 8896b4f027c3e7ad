"""Helpers for the attack15 tests (a unique module name: several conftest.py exist):
a raw server that counts the Retrieve requests it holds at once."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "attack12"))

from raw_server import envelope  # noqa: E402


class Counting:
    """A page function for raw_server.running_raw that records, for every
    Retrieve, how many were held at once when it arrived."""

    def __init__(self, total: int, answer=None) -> None:
        self.total = total
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.log: list[tuple[int, int]] = []  # (offset, requests held when it arrived)
        self._answer = answer or self.plain

    def plain(self, offset: int, limit: int):
        last = min(offset + limit - 1, self.total)
        records = [b'{"ProfileId":%d}' % n for n in range(offset, last + 1)]
        return 200, envelope(records, offset, limit, self.total, last < self.total), {}

    def __call__(self, offset: int, limit: int):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.log.append((offset, self.now))
        try:
            return self._answer(offset, limit)
        finally:
            with self.lock:
                self.now -= 1
