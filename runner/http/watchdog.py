"""Bounding a blocking network wait in time, whatever the server does.

A socket timeout bounds one read, not a request: a server that sends one byte
every few seconds never trips it. In the main thread (where segrun's runs
send) a wait is armed with a real-time alarm that raises `DeadlineExceeded`
inside the blocking call, be it connecting, waiting for headers or reading the
body; a stop signal (SIGINT/SIGTERM) that arrives during an armed wait ends it
at once through `interrupt_wait`. Outside the main thread the client falls back
on checking the deadline between reads.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator


class DeadlineExceeded(Exception):
    """The request took longer, in total, than its deadline."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no complete answer within {seconds:g}s")
        self.seconds = seconds


_armed: list[float] = []  # the deadline of the wait in progress (main thread only)


def _can_arm() -> bool:
    return threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")


@contextlib.contextmanager
def network_wait(seconds: float) -> Iterator[None]:
    """While inside, the main thread is waiting on the network for at most
    `seconds`; then `DeadlineExceeded` is raised wherever it is blocked."""
    if not _can_arm() or _armed:
        yield
        return

    def alarm(signum, frame) -> None:
        if _armed:
            raise DeadlineExceeded(seconds)

    previous = signal.signal(signal.SIGALRM, alarm)
    _armed.append(seconds)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        yield
    finally:
        _armed.clear()  # first: a late alarm now does nothing
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def interrupt_wait(make_error: Callable[[], BaseException]) -> None:
    """For a stop signal's handler: end a network wait in progress now (the
    page in hand is not in hand yet; --resume fetches it again)."""
    if _armed:
        _armed.clear()
        raise make_error()
