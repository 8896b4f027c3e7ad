"""The pages of one export: built outside the export's lock (at most 2 at once in
the sandbox), each at most once while it is wanted, and the next one built ahead.

A client may read one page at a time or keep up to 32 in flight, at offsets that
arrive in any order. So nothing here assumes the next request is `offset + limit`
of the last one: a page is found by its (offset, limit), requests for the same
page share one build, and the page built ahead is the one after the furthest
asked for (for a sequential reader, simply the next one; for a reader with 8 in
flight, the first one past its window). A page's bytes depend only on the
export's snapshot and (offset, limit), so however a page is obtained, it is
byte-for-byte the same.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future

from runner.sandbox.profiles import Profiles
from runner.sandbox.selection import Selection
from runner.sandbox.workers import PageWorkers, page_task

AHEAD = 2  # pages built ahead that nobody has asked for yet, at most (memory: 2 pages)
BUILDERS = 2  # pages the server builds itself at once: one interpreter lock runs one anyway

Key = tuple[int, int]  # (offset, limit)


class Pages:
    def __init__(self, build: Callable[[int, int], bytes], total: int) -> None:
        self._build_page = build
        self._total = total
        self._lock = threading.Lock()  # guards the dicts below, never held while building
        self._wanted: dict[Key, Future] = {}  # being built, or built ahead and not yet served
        self._ahead: deque[Key] = deque()  # built-ahead keys nobody asked for, oldest first
        self._furthest = 0

    def get(self, offset: int, limit: int, executor: Executor) -> bytes:
        """The page's bytes; while it is built, the next one may be built ahead."""
        key = (offset, limit)
        with self._lock:
            future, mine = self._claim(key)
            furthest = offset > self._furthest
            if furthest:
                self._furthest = offset
        try:
            if mine:
                try:
                    future.set_result(self._build(offset, limit))
                except BaseException as e:
                    future.set_exception(e)
                    raise
            body = future.result()
        finally:
            with self._lock:
                if self._wanted.get(key) is future:
                    del self._wanted[key]  # served: a later ask (a retry) builds anew
        if furthest:
            # Only now, so the guess is built while this page travels and the client
            # parses it, not in a race for the interpreter with this page's own build.
            with self._lock:
                if self._furthest == offset:  # else a request further on guesses
                    self._build_ahead((offset + limit, limit), executor)
        return body

    def _build(self, offset: int, limit: int) -> bytes:
        return self._build_page(offset, limit)

    def _claim(self, key: Key) -> tuple[Future, bool]:
        """The future that will hold the page; True when this thread must build it."""
        future = self._wanted.get(key)
        if future is not None and key in self._ahead:
            self._ahead.remove(key)
            if future.cancel():  # queued, not started: build it now rather than wait
                future = None
        if future is None:
            future = self._wanted[key] = Future()
            future.set_running_or_notify_cancel()
            return future, True
        return future, False

    def _build_ahead(self, key: Key, executor: Executor) -> None:
        if key[0] - 1 >= self._total or key in self._wanted:
            return
        if len(self._ahead) >= AHEAD:  # the oldest guess was wrong: drop it
            stale = self._ahead.popleft()
            self._wanted.pop(stale).cancel()
        try:
            self._wanted[key] = executor.submit(self._build, *key)
        except RuntimeError:  # the sandbox is stopping: build nothing ahead
            return
        self._ahead.append(key)

    def clear(self) -> None:
        """The export is done: drop what was built ahead."""
        with self._lock:
            for key in self._ahead:
                self._wanted.pop(key).cancel()
            self._ahead.clear()


def page_text(
    profiles: Profiles,
    selection: Selection,
    touched: Mapping[int, int],
    workers: PageWorkers | None,
    builders: threading.Semaphore,
    offset: int,
    limit: int,
) -> bytes:
    """One Retrieve answer: built by a page worker when the sandbox has them
    (runner/sandbox/workers.py), else here; the same bytes either way.

    `builders` bounds the pages the server builds itself at once (BUILDERS),
    with workers or without (when they died): Python runs one at a time anyway,
    so 32 readers building side by side would gain nothing and hold 32 half-built
    pages in memory. Workers build as many at once as there are workers."""
    total = len(selection.index)
    indexes = selection.index.slice(offset - 1, offset - 1 + limit)
    if workers is not None:
        task = page_task(profiles, indexes, touched, offset, limit, total)
        body = workers.build(task, len(indexes))
        if body is not None:
            return body
    with builders:
        return envelope_text(profiles, indexes, touched, offset, limit, total)


def envelope_text(
    profiles: Profiles,
    indexes: Sequence[int],
    touched: Mapping[int, int],
    offset: int,
    limit: int,
    total: int,
) -> bytes:
    """The page's text around the records' own JSON."""
    records = ",".join(profiles.record_texts(indexes, touched))
    count = len(indexes)
    has_more = "true" if offset - 1 + count < total else "false"
    return (
        f'{{"Count":{count},"HasMore":{has_more},"Limit":{limit},"Offset":{offset},'
        f'"TotalResults":{total},"UserProfilePreferences":[{records}]}}'
    ).encode()
