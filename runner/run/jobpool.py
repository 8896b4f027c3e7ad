"""Jobs in flight (`segrun run --jobs N`): up to N jobs at once, started in
the spec's order.

With N = 1 the jobs run one after the other in the calling (main) thread,
exactly as before; that thread is also the only one where a network wait can
be cut short by an alarm (runner/http/watchdog.py). With N > 1 each job runs in a
worker thread, which checks its request deadline between reads instead, and
whose wait a stop cuts by shutting its connection down (runner/http/abortable.py).

The workers are daemon threads, not a `concurrent.futures` pool: the pool's
threads are joined when the interpreter exits, so a second Ctrl-C could not
stop the run at once while a worker waits on a server. The first Ctrl-C is
the run's stop flag, which every job checks between pages and every wait
wakes on; the main thread only waits here, so signals still reach it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

#: the most jobs a run may have in flight
MAX_JOBS = 32


def run_each(items: Sequence[T], work: Callable[[T], None], workers: int = 1) -> None:
    """`work(item)` for every item, at most `workers` at once, taken in order.

    `work` is expected to handle its own failures (a job that fails is a
    result, not an exception); an exception that escapes it (a full disk, a
    bug) stops further items from starting and is raised here once the
    items in flight have ended.
    """
    if workers <= 1 or len(items) <= 1:
        for item in items:
            work(item)
        return
    waiting = deque(items)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        while True:
            with lock:
                if errors or not waiting:
                    return
                item = waiting.popleft()
            try:
                work(item)
            except BaseException as e:  # handed to the main thread, raised there
                with lock:
                    errors.append(e)
                return

    threads = [
        threading.Thread(target=worker, name=f"segrun-job-{n}", daemon=True)
        for n in range(1, min(workers, len(items)) + 1)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)  # a timed join: the main thread stays free to take signals
    if errors:
        raise errors[0]
