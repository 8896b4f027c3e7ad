"""Page workers: child processes that build Retrieve pages, so concurrent readers
of `segrun sandbox` use every core.

The sandbox is one Python process, and a page of 1,000 records is a few
milliseconds of Python string building under the interpreter lock. With 8
pages in flight, 8 requests queued for that one lock, and the sandbox, not the
simulated network, set the pace (issue 12: concurrent readers of one export
must not slow it down). A worker receives what a page is a pure function of
(the population's seed, size and anchor, the page's profile indexes, their
touched dates, offset, limit and total) and answers the page's bytes, so a
page built by a worker is byte for byte the page the server builds itself
(tests/sandbox/test_page_workers.py holds them equal).

How workers live and die, and what a dead or silent one costs (nothing but
time: the server builds that page itself), is runner/sandbox/forked.py's. Only the
`segrun sandbox` command starts workers; a sandbox embedded in a run or a test
(`running_sandbox`) builds its pages in its own process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection

from runner.sandbox.forked import Forked, default_count
from runner.sandbox.profiles import Profiles, _clock

__all__ = ["PageWorkers", "default_count", "page_task", "patience"]

#: seconds a worker may take for a page before it is taken for stuck and killed:
#: this plus PATIENCE_PER_RECORD a record (a page of 10,000 takes about 0.1 s)
PATIENCE = 2.0
PATIENCE_PER_RECORD = 0.0002


def patience(records: int) -> float:
    return PATIENCE + PATIENCE_PER_RECORD * records


class PageWorkers:
    """`count` forked page builders. Start them before any thread of the server."""

    def __init__(self, count: int) -> None:
        self._forked = Forked(count, _serve, "sandbox-page-workers")

    @property
    def count(self) -> int:
        return self._forked.count

    def build(self, task: tuple, records: int) -> bytes | None:
        """The page's bytes built by a worker, or None: none is left, or the one
        asked died, failed, or was silent past `patience(records)`; the caller
        builds the page."""
        body = self._forked.ask(
            lambda conn: conn.send(task), Connection.recv_bytes, patience(records)
        )
        return body or None  # empty: the worker failed to build it

    def close(self) -> None:
        self._forked.close()


def page_task(
    profiles: Profiles,
    indexes: Sequence[int],
    touched: Mapping[int, int],
    offset: int,
    limit: int,
    total: int,
) -> tuple:
    """What a page is a function of, small enough to send: only the touched
    dates of this page's profiles go."""
    mine = {i: touched[i] for i in indexes if i in touched} if touched else {}
    return (profiles.seed, profiles.count, profiles.anchor_ms, indexes, mine, offset, limit, total)


def _serve(conn: Connection) -> None:
    from runner.sandbox.pages import envelope_text  # the server's own builder

    _clock()  # the time-of-day table, built now rather than in the first page
    made: dict[tuple[int, int, int], Profiles] = {}
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):  # the server is gone
            return
        try:
            seed, count, anchor, indexes, touched, offset, limit, total = task
            profiles = made.get((seed, count, anchor))
            if profiles is None:
                profiles = made[(seed, count, anchor)] = Profiles(seed, count, anchor)
            body = envelope_text(profiles, indexes, touched, offset, limit, total)
        except Exception:  # noqa: BLE001 - the server builds it and meets the error itself
            body = b""
        try:
            conn.send_bytes(body)
        except OSError:
            return
