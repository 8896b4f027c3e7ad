"""The server's clock, estimated from the `Date` header of every response.

A machine whose clock runs ahead signs "future" PNAUTHINFO3 timestamps, which
the API refuses (docs.mypreferences.com/overview/authorization/custom-auth-scheme/errors),
and would take a `last_success` watermark from the future, skipping records.
Both read the server's time from here instead.

Each response bounds the offset (server minus client): the server wrote `Date`
(whole seconds, rounded down) somewhere between sending and receiving, so
offset is in [Date - received, Date + 1s - sent]. The bounds of all responses
are intersected; the lower bound is the safe one (never ahead of the server).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import threading
from collections.abc import Callable

Clock = Callable[[], dt.datetime]
UTC = dt.timezone.utc
#: above this difference the report warns (watermarks and signing rely on it)
WARN_SECONDS = 60.0


class ServerClock:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.low: float | None = None  # seconds to add to the client clock, at least
        self.high: float | None = None  # ... at most

    @property
    def known(self) -> bool:
        return self.low is not None

    def observe(self, date_header: str | None, sent: dt.datetime, received: dt.datetime) -> None:
        """Narrow the estimate with one response's `Date` (ignored when unreadable)."""
        server = _parse_http_date(date_header)
        if server is None:
            return
        low = (server - received).total_seconds()
        high = (server - sent).total_seconds() + 1.0
        with self._lock:
            if self.low is None or self.high is None or low > self.high or high < self.low:
                self.low, self.high = low, high  # first, or the clock jumped: start again
            else:
                self.low, self.high = max(self.low, low), min(self.high, high)

    @property
    def offset(self) -> float:
        """Best estimate of server minus client, in seconds (0 when unknown)."""
        if self.low is None or self.high is None:
            return 0.0
        return (self.low + self.high) / 2

    @property
    def uncertainty(self) -> float:
        if self.low is None or self.high is None:
            return 0.0
        return (self.high - self.low) / 2

    def server_time(self, moment: dt.datetime) -> dt.datetime:
        """The server's time at this client-clock moment, minus the estimate's
        uncertainty, so it is never ahead of the server; unchanged when unknown."""
        return moment + dt.timedelta(seconds=self.low or 0.0)

    def now(self) -> dt.datetime:
        return self.server_time(self._clock())

    def watermark_time(self, moment: dt.datetime) -> dt.datetime:
        """What a `last_success` watermark is taken from: the earlier of this machine's
        clock and the server's estimate. Either can be wrong (a proxy's `Date` a day ahead,
        a laptop's clock slow); the earlier one at worst exports a gap twice, never skips."""
        return min(moment, self.server_time(moment))

    def describe(self) -> str:
        """`this machine's clock is 600.3s ahead of the server's (+-0.6s)`: which of the two
        is wrong nobody here can tell, so the words blame neither."""
        ahead = -self.offset
        word = "ahead of" if ahead >= 0 else "behind"
        return (
            f"this machine's clock is {abs(ahead):.1f}s {word} the server's "
            f"(estimated from the Date headers, +-{self.uncertainty:.1f}s); either clock, "
            "or a proxy that rewrites Date, may be wrong"
        )


def _parse_http_date(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
