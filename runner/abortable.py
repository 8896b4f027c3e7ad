"""A transport whose open connections can all be cut at once, from any thread.

A job in a worker thread (`--jobs` 2 or more) blocked on a silent server
cannot be reached by the alarm that cuts the main thread's waits short
(runner/watchdog.py): signals are delivered to the main thread only. What can
reach it is its socket: shutting the socket down ends the blocked read at once,
as a dropped connection, and the client then sees that the run is stopping
(`abort`), or that the request's deadline passed (`cut`, from a timer).
"""

from __future__ import annotations

import contextlib
import socket
import threading
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

        class Watched:
            """Mixed into urllib3's connection: remembered once open, and by the
            thread that sends on it."""

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
                refs = tuple(self._opened.data)
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
        self._adapter = adapter
        self._thread = threading.get_ident()
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def _cut(self) -> None:
        self.expired = True
        self._adapter.cut(self._thread)

    def stop(self) -> None:
        self._timer.cancel()
        self._adapter.release(self._thread)


def deadline_timer(adapter: AbortableAdapter, seconds: float) -> Deadline | None:
    """Outside the main thread no alarm bounds a request (runner/watchdog.py): a
    timer cuts its connection at the deadline instead, so a server that trickles
    its headers a byte at a time cannot hold a worker forever. None in the main
    thread, where the alarm does it."""
    if threading.current_thread() is threading.main_thread():
        return None
    return Deadline(adapter, seconds)
