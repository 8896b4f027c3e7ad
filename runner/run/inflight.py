"""Pages in flight: a job's Retrieve requests sent ahead, answers taken in offset order.

Over the internet most of an export's time is latency, one round trip a page.
With `concurrency: N` up to N pages are requested at once, each by a worker
thread, while the job (the caller) takes them strictly in offset order: it
writes and checkpoints exactly as it does one page at a time, so a checkpoint
still names a durable prefix and `--resume` works unchanged. A page the caller
never reaches is simply dropped.

Which offsets: from the caller's next offset on, a page size apart, up to the
bound (RowCount, then TotalResults once a page said it). A page shorter than
the page size that says HasMore moves every later offset: the caller re-plans
from where it actually is, and pages fetched for the old plan are dropped.

How many: a window between 1 and N of requests the server has at once,
additive increase and multiplicative decrease as TCP does it. An answer that
waits for the caller (who writes in order) leaves the window, so a slow caller
does not idle the network; pages held, answered or not, stay within
HELD_PER_WINDOW windows. A 429 or 503 on any page halves it (once per round:
answers to requests sent before the last cut do not cut again), and every
page asked for and answered since grows it by 1/window, so one page per window's worth
of answers. The window holds retries too: a page answered 429 or 503 leaves
its place and waits for one inside the window before the client sends it
again (a retry is a request of the new round), and no new offset is sent
while a retry waits; otherwise every page in flight would be retried at once
and the server would never see the decrease. The answers' `Retry-After` is
obeyed by the client itself, for every request of the run (runner/http/pacing.py).

How much: pages held at once are also bounded in bytes (BYTE_BUDGET, measured
by the biggest page so far; the first page goes alone, to be measured), so a
server sending big pages cannot multiply its per-page cap by the window.

Errors are the caller's: a page that failed is raised when the caller asks
for that offset, not before, so every page before it is still written.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Generic, TypeVar, cast

from runner.http.client import Interrupted

T = TypeVar("T")

#: seconds between looks at the stop flag while waiting for a page
_WAKE = 0.2
#: bytes of pages asked for and not yet taken, at most (as the biggest page so far
#: measures them): each page is capped on its own, this caps them together
BYTE_BUDGET = 32 * 1024 * 1024
#: pages held (in flight, or answered and waiting for the caller) at most, in windows:
#: the caller writes pages in order, so answers may wait for it a moment
HELD_PER_WINDOW = 2


class PageStream(Generic[T]):
    """Offsets fetched ahead by `concurrency` workers, handed over in order.

    `fetch(offset, throttled)` gets one page; it calls `throttled()` when the
    server answered 429 or 503 (before the client retries)."""

    def __init__(
        self,
        fetch: Callable[[int, Callable[[], None]], T],
        *,
        start: int,
        page_size: int,
        concurrency: int,
        bound: int | None,
        stopped: Callable[[], bool],
        size: Callable[[T], int] | None = None,
        byte_budget: int = BYTE_BUDGET,
    ) -> None:
        self._fetch = fetch
        self._page_size = page_size
        self._limit = concurrency
        self._stopped = stopped
        self._cond = threading.Condition()
        self._window = float(concurrency)
        self._cuts = 0  # how many times the window was cut: a request's "round"
        self._generation = 0  # bumped by a re-plan: answers of an older plan are dropped
        self._need = start  # the offset the caller takes next
        self._send = start  # the next offset to request
        self._bound = bound  # the last offset worth requesting (None: only `start`)
        self._busy = 0  # requests in flight
        self._retrying = 0  # throttled pages waiting for a place in the window
        self._done: dict[int, tuple[bool, object]] = {}
        self._size, self._byte_budget = size, byte_budget
        #: the biggest page seen: what one more page may cost (None: none seen yet)
        self._largest: int | None = None
        self._closed = False
        self._workers = [
            threading.Thread(target=self._work, name=f"segrun-page-{i}", daemon=True)
            for i in range(concurrency)
        ]
        for worker in self._workers:
            worker.start()

    # -- the caller's side ------------------------------------------------------
    def take(self, offset: int) -> T:
        """The page at `offset`, the caller's next (as `start` or `next` said), or its error."""
        with self._cond:
            if offset != self._need:
                raise ValueError(f"page {offset} asked for, but the next is {self._need}")
            while offset not in self._done:
                if self._stopped():
                    raise Interrupted()
                self._cond.wait(_WAKE)
            ok, value = self._done.pop(offset)
            self._cond.notify_all()  # room for one more
        if ok:
            return value  # type: ignore[return-value]
        raise value  # type: ignore[misc]

    def next(self, offset: int, bound: int | None) -> None:
        """Where the page just taken ended (the caller's next offset), and the
        last offset now worth requesting (TotalResults, once known)."""
        with self._cond:
            if bound is not None:
                self._bound = bound
            if offset != self._need + self._page_size:  # a short page: the plan moved
                self._generation += 1
                self._done.clear()
                self._send = offset
            self._need = offset
            self._cond.notify_all()

    def close(self) -> None:
        """No more requests. Requests in flight finish on their own (bounded by
        the client's timeouts) and are dropped; nothing waits for them."""
        with self._cond:
            self._closed = True
            self._done.clear()
            self._cond.notify_all()

    def __enter__(self) -> PageStream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def window(self) -> int:
        return int(self._window)

    # -- the workers -------------------------------------------------------------
    def _may_send(self) -> bool:
        if self._closed or self._stopped():
            return False
        if self._send != self._need and (self._bound is None or self._send > self._bound):
            return False  # past the end as far as anyone knows (the caller's next always goes)
        if self._retrying:  # a throttled page goes again before any new offset
            return False
        window = max(1, int(self._window))  # requests the server has at once: the window
        held = self._busy + len(self._done)
        measured = self._largest is not None and (held + 1) * self._largest <= self._byte_budget
        if self._size is not None and held and not measured:
            return False  # bounded in bytes too: no page measured yet, or big pages
        # An answer waiting for the caller no longer holds a place at the server, but
        # pages held (asked for and not yet taken) stay within HELD_PER_WINDOW windows.
        return self._busy < window and held < HELD_PER_WINDOW * window

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._may_send():
                    if self._closed:
                        return
                    self._cond.wait(_WAKE)
                offset, generation, round_ = self._send, self._generation, self._cuts
                self._send += self._page_size
                self._busy += 1
            slowed: list[int] = [round_]  # its round; more entries: answered 429/503
            value: object
            try:
                ok, value = True, self._fetch(offset, functools.partial(self._throttled, slowed))
            except BaseException as e:  # noqa: BLE001 - handed to the caller, in order
                ok, value = False, e
            with self._cond:
                self._busy -= 1
                if ok and self._size is not None:
                    self._largest = max(self._largest or 0, self._size(cast(T, value)))
                if generation == self._generation and not self._closed and offset >= self._need:
                    self._done[offset] = (ok, value)
                # Additive increase: a window's answers add one page. Only answers to
                # requests of this round: those sent before the last cut neither cut
                # nor grow it, so the server first sees the halved window.
                if ok and len(slowed) == 1 and round_ == self._cuts:
                    self._window = min(self._limit, self._window + 1 / self._window)
                self._cond.notify_all()
            # An idle worker must not keep its last page alive (32 workers, 32 pages).
            del value

    def _throttled(self, slowed: list[int]) -> None:
        """Called by the client before it retries a page answered 429 or 503:
        the window is cut (once per round), and the retry waits for a place in it."""
        slowed.append(slowed[0])
        with self._cond:
            if slowed[0] == self._cuts:  # one cut per round of requests
                self._cuts += 1
                self._window = max(1.0, self._window / 2)
            self._busy -= 1
            self._retrying += 1
            try:
                while self._busy >= max(1, int(self._window)):
                    if self._closed or self._stopped():
                        break  # the client's own wait sees the stop; a closed stream drops it
                    self._cond.wait(_WAKE)
            finally:
                self._retrying -= 1
                self._busy += 1
                slowed[0] = self._cuts  # the retry belongs to the round it is sent in
                self._cond.notify_all()
