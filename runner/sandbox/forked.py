"""Forked helper processes, for Python work that one interpreter lock serialises.

The sandbox's page workers (runner/sandbox/workers.py) build Retrieve pages in
them, so concurrent readers use every core. The rules of a helper's life are
kept here, apart from what it computes:

- Children are forked before the parent starts a thread, takes a lock or opens
  its outputs. Each child keeps only its own end of its own pipe: every other
  descriptor, the parent's standard streams included, is closed or pointed at
  /dev/null. A child never writes anywhere but its pipe.
- When the parent ends, however it ends (Ctrl-C, SIGTERM, SIGKILL), every child
  reads end-of-file and exits. Children ignore Ctrl-C, which reaches the whole
  process group, and leave when the parent does.
- A child that dies, or stays silent past the job's patience (stopped, wedged:
  it is killed), answers None, and is not asked again. The caller then does the
  work itself, as it would without helpers, so a helper can cost time, never an
  answer.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, Pipe
from typing import TypeVar

T = TypeVar("T")

#: helpers by default: one per CPU, at most this many (none on one CPU: no gain)
MAX_DEFAULT = 4
#: how often silent helpers are looked for
WATCH_EVERY = 0.1


def default_count() -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return 0 if not cpus or cpus < 2 else min(cpus, MAX_DEFAULT)


class Forked:
    """`count` children, each running `serve(connection)` until end-of-file."""

    def __init__(self, count: int, serve: Callable[[Connection], None], name: str) -> None:
        self._name = name
        self._cond = threading.Condition()
        self._idle: list[tuple[Connection, int]] = []  # (our end of its pipe, its pid)
        self._pids: list[int] = []
        #: pid -> when a busy helper is given up on (killed)
        self._due: dict[int, float] = {}
        self._watch: threading.Thread | None = None
        if count > 0 and not hasattr(os, "fork"):
            count = 0
        for _ in range(count):
            try:
                ours, theirs = Pipe()
            except OSError:  # out of descriptors: fewer helpers, that is all
                break
            try:
                pid = os.fork()
            except OSError:  # out of processes or memory: fewer helpers
                ours.close()
                theirs.close()
                break
            if pid == 0:
                code = 1
                try:
                    _alone(theirs.fileno())
                    serve(theirs)
                    code = 0
                finally:
                    os._exit(code)  # never into the parent's code, its atexit or its buffers
            theirs.close()
            self._idle.append((ours, pid))
            self._pids.append(pid)
        self._live = len(self._idle)

    @property
    def count(self) -> int:
        """Helpers alive and not given up on."""
        return self._live

    def ask(
        self,
        send: Callable[[Connection], None],
        receive: Callable[[Connection], T],
        patience: float,
    ) -> T | None:
        """`receive`'s answer from a free helper (waiting for one) after `send`,
        or None: no helper is left, or the one asked died or took longer than
        `patience` seconds (it is killed and not asked again)."""
        with self._cond:
            while not self._idle:
                if self._live == 0:
                    return None
                self._cond.wait()
            conn, pid = self._idle.pop()
            self._due[pid] = time.monotonic() + patience
            if self._watch is None:
                self._watch = threading.Thread(
                    target=self._kill_silent, daemon=True, name=f"{self._name}-watch"
                )
                self._watch.start()
        answer, ok = None, False
        try:
            send(conn)
            answer = receive(conn)
            ok = True
        except (EOFError, OSError):  # it died, or was killed as silent
            pass
        finally:  # anything else leaves its pipe mid-message: it is retired too
            with self._cond:
                self._due.pop(pid, None)
                if ok:
                    self._idle.append((conn, pid))
                    self._cond.notify()
                else:
                    conn.close()
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                    self._live -= 1
                    self._cond.notify_all()
        return answer

    def _kill_silent(self) -> None:
        """A helper alive but silent would hold its caller forever: past its
        patience it is killed, and the caller, reading end-of-file, does the work."""
        while True:
            with self._cond:
                now = time.monotonic()
                silent = [pid for pid, due in self._due.items() if due <= now]
                for pid in silent:
                    del self._due[pid]
            for pid in silent:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(WATCH_EVERY)

    def close(self, grace: float = 2.0) -> None:
        """Close every pipe: the helpers read end-of-file and exit. Reap them,
        killing any still there after `grace` seconds (their work takes milliseconds)."""
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

    def __enter__(self) -> Forked:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _alone(keep: int) -> None:
    """In a new child: only descriptor `keep` stays; the standard streams read
    and write /dev/null; Ctrl-C is the parent's."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    for fd in _open_descriptors():
        if fd > 2 and fd != keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _open_descriptors() -> list[int]:
    for folder in ("/proc/self/fd", "/dev/fd"):
        with contextlib.suppress(OSError):
            return [int(name) for name in os.listdir(folder)]
    return list(range(3, 1024))
