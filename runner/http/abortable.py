"""A transport whose open connections can all be cut at once, from any thread.

A job in a worker thread (`--jobs` 2 or more) blocked on a silent server
cannot be reached by the alarm that cuts the main thread's waits short
(runner/http/watchdog.py): signals are delivered to the main thread only. What can
reach it is its socket: shutting the socket down ends the blocked read at once,
as a dropped connection, and the client then sees that the run is stopping
(`abort`), or that the request's deadline passed (`cut`, from a timer).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
import weakref

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class AbortableAdapter(HTTPAdapter):
    """requests' adapter, remembering (weakly) every connection it opened."""

    def __init__(self, *args, **kwargs) -> None:
        self._opened: weakref.WeakSet = weakref.WeakSet()
        #: the connection each thread last sent a request on (thread ident -> it)
        self._using: dict[int, HTTPConnection] = {}
        super().__init__(*args, **kwargs)  # calls init_poolmanager

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        opened, using = self._opened, self._using

        class Watched(HTTPConnection):
            """Mixed into urllib3's connection: remembered once open, and by the
            thread that sends on it. (Deriving from HTTPConnection leaves the
            order of Plain's and Secure's bases as it was: Watched first.)"""

            def connect(self) -> None:
                super().connect()
                opened.add(self)

            def request(self, *args, **kwargs) -> None:
                using[threading.get_ident()] = self
                super().request(*args, **kwargs)

        class Plain(Watched, HTTPConnection):
            pass

        class Secure(Watched, HTTPSConnection):
            pass

        self.poolmanager.pool_classes_by_scheme = {
            "http": type("PlainPool", (HTTPConnectionPool,), {"ConnectionCls": Plain}),
            "https": type("SecurePool", (HTTPSConnectionPool,), {"ConnectionCls": Secure}),
        }

    def cut(self, thread: int) -> None:
        """Shut down the connection `thread` is waiting on (its request deadline
        passed): the thread's blocked read ends at once, as a dropped connection."""
        _shut(self._using.get(thread))

    def release(self, thread: int) -> None:
        """`thread` is done with its request: forget its connection."""
        self._using.pop(thread, None)

    def abort(self) -> None:
        """Shut every open connection down. Safe in a signal handler: no lock is
        taken, and the set is copied in one step (C code, under the GIL). A
        connection idle in the pool is found dropped and replaced when next used."""
        refs: tuple = ()
        for _ in range(3):  # a collection mid-copy may drop a connection from the set
            try:
                # WeakSet's own set of weakrefs, which typeshed does not declare
                refs = tuple(self._opened.data)  # type: ignore[attr-defined]
                break
            except RuntimeError:
                continue
        for ref in refs:
            _shut(ref())


def _shut(conn: HTTPConnection | None) -> None:
    sock = getattr(conn, "sock", None) if conn is not None else None
    if sock is None:
        return
    # the plain socket's shutdown, also under TLS: it leaves the TLS state alone
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Deadline:
    """One request's deadline in a worker thread: when it passes, the thread's
    connection is shut down and `expired` says why the read then failed."""

    def __init__(self, adapter: AbortableAdapter, seconds: float) -> None:
        self.expired = False
        self.stopped = False
        self._adapter = adapter
        self._thread = threading.get_ident()
        self._lock = threading.Lock()  # a cut and a stop never cross
        _WATCH.add(time.monotonic() + seconds, self)

    def cut(self) -> None:
        with self._lock:
            if self.stopped:  # the request ended first: its thread moved on
                return
            self.expired = True
            self._adapter.cut(self._thread)

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            self._adapter.release(self._thread)


class _Watch:
    """One thread keeps every worker's deadline. (A timer thread per request
    started a thread per page and woke every other thread for the interpreter
    lock: 8 pages in flight spent a third of their time handing it around.)"""

    def __init__(self) -> None:
        self._fresh()
        # A forked child has none of the parent's threads, but would keep their
        # waiters on the condition (a notify would wake a thread that is not
        # there) and their deadlines: it starts with a watch of its own.
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._fresh)

    def _fresh(self) -> None:
        self._ready = threading.Condition(threading.Lock())
        self._due: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, when: float, deadline: Deadline) -> None:
        with self._ready:
            due = self._due
            while due and due[0][2].stopped:  # ended requests leave from the front
                heapq.heappop(due)
            heapq.heappush(due, (when, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():  # first, or after a fork
                self._thread = threading.Thread(
                    target=self._run, name="segrun-deadlines", daemon=True
                )
                self._thread.start()
            elif due[0][2] is deadline:  # sooner than what the thread waits for
                self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                due = self._due
                while due and due[0][2].stopped:
                    heapq.heappop(due)
                if not due:
                    self._ready.wait()
                    continue
                wait = due[0][0] - time.monotonic()
                if wait > 0:
                    self._ready.wait(wait)
                    continue
                deadline = heapq.heappop(due)[2]
            deadline.cut()  # outside the lock: shutting a socket down may take a moment


_WATCH = _Watch()


def deadline_timer(adapter: AbortableAdapter, seconds: float) -> Deadline | None:
    """Outside the main thread no alarm bounds a request (runner/http/watchdog.py): a
    timer cuts its connection at the deadline instead, so a server that trickles
    its headers a byte at a time cannot hold a worker forever. None in the main
    thread, where the alarm does it."""
    if threading.current_thread() is threading.main_thread():
        return None
    return Deadline(adapter, seconds)
