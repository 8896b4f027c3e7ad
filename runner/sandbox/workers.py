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

Lifetimes, however the server ends:
- Workers are forked before the server starts a thread or opens its socket.
- Each child closes every pipe but its own. When the server dies (Ctrl-C,
  SIGTERM, SIGKILL), every child reads end-of-file and exits.
- Children ignore Ctrl-C, which reaches the whole process group, and leave
  when the server does.
- A worker that died, failed to build a page, or stopped answering (stopped,
  wedged: past a page's patience it is killed) has its page built by the
  server, as without workers, at most BUILDERS at once; it is not asked again.

Only the `segrun sandbox` command starts workers. A sandbox embedded in a run
or a test (`running_sandbox`) builds its pages in its own process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection, Pipe

from runner.sandbox.profiles import Profiles, _clock

#: workers by default: one per CPU, at most this many (none on one CPU: no gain)
MAX_DEFAULT = 4
#: seconds a worker may take for a page before it is taken for stuck and killed:
#: this plus PATIENCE_PER_RECORD a record (a page of 10,000 takes about 0.1 s)
PATIENCE = 2.0
PATIENCE_PER_RECORD = 0.0002
#: how often stuck workers are looked for
WATCH_EVERY = 0.1


def patience(records: int) -> float:
    return PATIENCE + PATIENCE_PER_RECORD * records


def default_count() -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return 0 if not cpus or cpus < 2 else min(cpus, MAX_DEFAULT)


class PageWorkers:
    """`count` forked page builders. Start them before any thread of the server."""

    def __init__(self, count: int) -> None:
        self._cond = threading.Condition()
        self._idle: list[tuple[Connection, int]] = []  # (our end of its pipe, its pid)
        self._pids: list[int] = []
        #: pid -> when a worker building a page is given up on (killed)
        self._due: dict[int, float] = {}
        self._watch: threading.Thread | None = None
        if count > 0 and not hasattr(os, "fork"):
            count = 0
        for _ in range(count):
            ours, theirs = Pipe()
            pid = os.fork()
            if pid == 0:  # the child: only its own end of its own pipe stays open
                code = 0
                try:
                    for other, _pid in (*self._idle, (ours, 0)):
                        other.close()
                    _serve(theirs)
                except BaseException:  # noqa: BLE001 - a child never returns into the server
                    code = 1
                finally:
                    os._exit(code)
            theirs.close()
            self._idle.append((ours, pid))
            self._pids.append(pid)
        self._live = len(self._idle)

    @property
    def count(self) -> int:
        return self._live

    def build(self, task: tuple, records: int) -> bytes | None:
        """The page's bytes built by a free worker (waiting for one), or None:
        no worker is left, or the one asked died, failed or took longer than
        `patience(records)` (it is killed); the caller builds the page."""
        with self._cond:
            while not self._idle:
                if self._live == 0:
                    return None
                self._cond.wait()
            conn, pid = self._idle.pop()
            self._due[pid] = time.monotonic() + patience(records)
            if self._watch is None:
                self._watch = threading.Thread(target=self._kill_stuck, daemon=True,
                                               name="sandbox-page-workers")
                self._watch.start()
        try:
            conn.send(task)
            body = conn.recv_bytes()
        except (EOFError, OSError):  # the worker died, or was killed as stuck: never again
            conn.close()
            with self._cond:
                self._due.pop(pid, None)
                self._live -= 1
                self._cond.notify_all()
            return None
        with self._cond:
            self._due.pop(pid, None)
            self._idle.append((conn, pid))
            self._cond.notify()
        return body or None  # empty: the worker failed to build it

    def _kill_stuck(self) -> None:
        """A worker alive but silent (stopped, wedged) would hold its request
        forever: past its page's patience it is killed, and the request, reading
        end-of-file, has the server build the page."""
        while True:
            with self._cond:
                now = time.monotonic()
                stuck = [pid for pid, due in self._due.items() if due <= now]
                for pid in stuck:
                    del self._due[pid]
            for pid in stuck:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(WATCH_EVERY)

    def close(self, grace: float = 2.0) -> None:
        """Close every pipe: the workers read end-of-file and exit. Reap them,
        killing any still there after `grace` seconds (a page takes milliseconds)."""
        with self._cond:
            for conn, _pid in self._idle:
                conn.close()
            self._idle.clear()
            self._live = 0
            self._cond.notify_all()
        until = time.monotonic() + grace
        left = list(self._pids)
        while left:
            for pid in list(left):
                with contextlib.suppress(ChildProcessError, OSError):
                    if os.waitpid(pid, os.WNOHANG)[0] == 0:
                        if time.monotonic() < until:
                            continue
                        os.kill(pid, signal.SIGKILL)
                        os.waitpid(pid, 0)
                left.remove(pid)
            if left:
                time.sleep(0.01)
        self._pids.clear()


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
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
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
