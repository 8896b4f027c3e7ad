"""No client holds the sandbox: a connection that sends nothing is closed after
`--idle-timeout`, at most `--max-connections` are served at once (the one idle
the longest is closed to make room), and a sandbox out of file descriptors waits
without spinning a core, then serves again once descriptors are free."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from runner.sandbox import running_sandbox
from tests.support.sandbox_calls import cli_sandbox

#: a request begun and never finished: its request line, then a header cut short
STALLED = b"GET /Profiles/v4/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
#: a request whose connection ends with its answer, so it holds no slot afterwards
ONCE = {"Connection": "close"}


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no thread count")


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def until(condition, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def closed_by_server(conn: socket.socket, seconds: float) -> bool:
    conn.settimeout(seconds)
    try:
        return conn.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_connections_that_send_nothing_are_closed_after_the_idle_timeout():
    with cli_sandbox("--idle-timeout", "1", "--page-workers", "0") as (proc, url):
        at_rest = threads(proc.pid)
        port = port_of(url)
        conns = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(20)]
        conns[0].sendall(STALLED)  # one stalls in the middle of its request
        assert until(lambda: threads(proc.pid) >= at_rest + 20, 5)
        started = time.monotonic()
        assert all(closed_by_server(conn, 10) for conn in conns)
        assert time.monotonic() - started < 5
        assert until(lambda: threads(proc.pid) == at_rest, 5), threads(proc.pid)
        for conn in conns:
            conn.close()


def test_out_of_descriptors_the_sandbox_waits_without_spinning_then_serves_again():
    """Every descriptor held by requests begun and stalled (not idle, so none may
    be closed to make room) and more clients waiting to be accepted: `accept` fails
    while the listening socket stays ready. The sandbox pauses instead of spinning,
    and once the idle timeout has closed the stalled requests it serves again."""
    limit = 40
    with cli_sandbox("--idle-timeout", "4", "--page-workers", "0", nofile=limit) as (proc, url):
        port = port_of(url)
        held = []
        while descriptors(proc.pid) < limit and len(held) < 2 * limit:
            before = descriptors(proc.pid)
            conn = socket.create_connection(("127.0.0.1", port), timeout=5)
            conn.sendall(STALLED)
            held.append(conn)
            until(lambda before=before: descriptors(proc.pid) > before, 0.2)
        waiting = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
        # none left, and clients waiting to be accepted
        assert until(lambda: descriptors(proc.pid) == limit, 2), descriptors(proc.pid)
        spent = cpu_seconds(proc.pid)
        time.sleep(1.5)
        spent = cpu_seconds(proc.pid) - spent
        assert spent < 0.15, f"{spent:.2f} s of CPU in 1.5 s with no descriptor to accept with"
        answer = requests.get(url, headers=ONCE, timeout=20)
        assert answer.status_code == 404  # served: the base URL alone is no call
        for conn in held + waiting:
            conn.close()


def test_at_most_max_connections_at_once_and_an_idle_one_makes_room():
    with running_sandbox(
        profiles=10, processing_seconds=0, max_connections=3, idle_timeout=3
    ) as sb:
        port = port_of(sb.base_url)
        idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
        assert until(lambda: sb.open_connections() == 3, 5)
        started = time.monotonic()
        answer = requests.get(sb.base_url, headers=ONCE, timeout=10)
        assert answer.status_code == 404
        assert time.monotonic() - started < 2  # before any idle timeout: room was made
        assert closed_by_server(idle[0], 5)  # the one idle the longest
        for conn in idle:
            conn.close()
        assert until(lambda: sb.open_connections() == 0, 5)

        stalled = []
        for _ in range(3):  # one at a time: each has begun its request before the next
            stalled.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            stalled[-1].sendall(STALLED)
            assert until(lambda: sb.open_connections() == len(stalled), 5)
        time.sleep(0.3)  # their request lines are read: none of them is idle
        most: list[int] = []
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                most.append(sb.open_connections())
                time.sleep(0.01)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            started = time.monotonic()
            answer = requests.get(sb.base_url, headers=ONCE, timeout=20)
            waited = time.monotonic() - started
        finally:
            done.set()
            watcher.join()
        assert answer.status_code == 404
        assert 1 < waited < 3 + 5  # no room until the stalled requests timed out
        assert max(most) <= 3
        for conn in stalled:
            conn.close()
