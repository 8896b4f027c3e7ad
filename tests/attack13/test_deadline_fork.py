"""Promise 3: a server that trickles its answer can never hold a worker past the
request deadline -- also in a forked process (the crash tests run `segrun run`
in a forked child).

The one deadline thread (`abortable._Watch`) sleeps on a Condition. A process
forked while that thread waits inherits the Condition with the parent thread's
waiter still queued. In the child the first `notify()` goes to that dead
waiter, not to the child's own deadline thread: when the child's thread is
waiting with nothing due (every earlier request ended), a new request's
deadline is pushed, the notify is lost, and the deadline never fires. A server
that trickles its headers a byte at a time then holds the worker as long as it
likes (here: 8 s against a 1 s deadline)."""

from __future__ import annotations

import os
import socket
import threading
import time

import requests

from runner.http.abortable import AbortableAdapter, Deadline

DEADLINE = 1.0
TRICKLE_SECONDS = 8.0


def _server() -> int:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)

    def handle(conn: socket.socket) -> None:
        try:
            while True:
                data = b""
                while b"\r\n\r\n" not in data:
                    got = conn.recv(4096)
                    if not got:
                        return
                    data += got
                if b"/slow" in data.split(b"\r\n")[0]:  # headers, a byte every 0.1 s
                    end = time.monotonic() + TRICKLE_SECONDS
                    conn.sendall(b"H")
                    while time.monotonic() < end:
                        conn.sendall(b"T")
                        time.sleep(0.1)
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        except OSError:
            pass
        finally:
            conn.close()

    def accept() -> None:
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return srv.getsockname()[1]


def _in_worker(session, adapter, url) -> float:
    """One request the way the client makes it outside the main thread."""
    took: list[float] = []

    def work() -> None:
        deadline = Deadline(adapter, DEADLINE)
        start = time.monotonic()
        try:
            session.get(url, timeout=(5, 5))
        except requests.RequestException:
            pass
        finally:
            deadline.stop()
            took.append(time.monotonic() - start)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return took[0]


def test_a_forked_child_keeps_its_request_deadlines():
    port = _server()
    session = requests.Session()
    adapter = AbortableAdapter()
    session.mount("http://", adapter)
    # the parent has used a worker deadline: its deadline thread now waits
    assert _in_worker(session, adapter, f"http://127.0.0.1:{port}/fast") < DEADLINE
    time.sleep(DEADLINE + 0.5)  # ...with nothing due
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(reader)
            child = requests.Session()
            child_adapter = AbortableAdapter()
            child.mount("http://", child_adapter)
            _in_worker(child, child_adapter, f"http://127.0.0.1:{port}/fast")
            time.sleep(DEADLINE + 0.5)  # its first deadline passed: nothing due
            took = _in_worker(child, child_adapter, f"http://127.0.0.1:{port}/slow")
            os.write(writer, f"{took:.3f}".encode())
        finally:
            os._exit(0)
    os.close(writer)
    took = float(os.read(reader, 100) or b"nan")
    os.waitpid(pid, 0)
    assert took < DEADLINE + 1.0, (
        f"a worker in the forked child was held {took:.1f}s by a trickle, "
        f"past its {DEADLINE:g}s deadline"
    )
