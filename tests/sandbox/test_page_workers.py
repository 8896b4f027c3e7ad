"""`segrun sandbox` builds pages in worker processes (runner/sandbox/workers.py,
runner/sandbox/forked.py). A worker's page is byte for byte the server's own,
touched dates included; however the server ends (Ctrl-C, SIGTERM, SIGKILL), no
worker outlives it; a worker that dies or stops answering costs no request, holds
nothing of the server's, and no page differs."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.support import MEASURED
from tests.support.processes import child_pids, process_alive, segrun_argv
from tests.support.sandbox_calls import cli_sandbox, initiate, retrieve, start_cli_sandbox


def test_a_workers_page_is_the_servers_page_with_touches() -> None:
    """In a fresh process (nothing else forked or threaded): pages of every size,
    offsets past the end, touched and untouched, built both ways, compared."""
    script = textwrap.dedent("""
        import hashlib
        from runner.sandbox.pages import envelope_text
        from runner.sandbox.profiles import Profiles
        from runner.sandbox.workers import PageWorkers, page_task

        workers = PageWorkers(2)
        assert workers.count == 2
        profiles = Profiles(7, 5000, 1_750_000_000_000)
        touched = {3: 1_700_000_000_123, 77: 0, 4999: 1_749_999_999_999, 2500: 5}
        mine = hashlib.sha256()
        for limit in (1, 7, 333, 1000):
            for first in range(0, 5000 + limit, 997):
                indexes = range(5000)[first:first + limit]
                for marks in (touched, {}):
                    here = envelope_text(profiles, indexes, marks, first + 1, limit, 5000)
                    task = page_task(profiles, indexes, marks, first + 1, limit, 5000)
                    there = workers.build(task, len(indexes))
                    assert there == here, (limit, first)
                    mine.update(there)
        assert workers.build(("not", "a", "task"), 1) is None  # a failed build: the server's
        assert workers.count == 2  # and the worker stays
        workers.close()
        print("same", mine.hexdigest())
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("same ")


needs_proc = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")


@needs_proc
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_no_worker_outlives_the_server(how: signal.Signals) -> None:
    proc, _ = start_cli_sandbox("--page-workers", "3", "--profiles", "50")
    try:
        workers = child_pids(proc.pid)
        assert len(workers) == 3
    finally:
        proc.send_signal(how)
        proc.communicate(timeout=20)
    deadline = time.monotonic() + 10
    while any(process_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(process_alive(w) for w in workers), "a page worker outlived the sandbox"
    if how == signal.SIGINT:  # 130 when it lands a moment before serving starts
        assert proc.returncode in (0, 130)


def _export(tmp_path: Path, base_url: str, name: str, concurrency: int) -> str:
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(
        f"version: 1\nclient_id: SanchezAssociates\nenvironment: sandbox\nbase_url: {base_url}\n"
        "defaults:\n  poll: {interval: 50ms, timeout: 2m}\njobs:\n"
        f"  - name: all\n    segment_group: All Profiles\n    page_size: 700\n"
        f"    concurrency: {concurrency}\n"
    )
    out = tmp_path / f"run-{name}"
    done = subprocess.run(
        [*segrun_argv(), "run", "-q", str(spec), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return hashlib.sha256((out / "exports" / "all.jsonl").read_bytes()).hexdigest()


@needs_proc
def test_exports_are_the_same_with_workers_without_and_after_one_dies(tmp_path) -> None:
    served = []
    try:
        alone, alone_url = start_cli_sandbox("--page-workers", "0", "--profiles", "6000")
        served.append(alone)
        assert child_pids(alone.pid) == []
        helped, helped_url = start_cli_sandbox("--page-workers", "2", "--profiles", "6000")
        served.append(helped)
        expected = _export(tmp_path, alone_url, "alone", 8)
        assert _export(tmp_path, helped_url, "helped", 8) == expected
        assert _export(tmp_path, helped_url, "one-by-one", 1) == expected
        for worker in child_pids(helped.pid):  # every worker killed: the server builds
            os.kill(worker, signal.SIGKILL)
            assert _export(tmp_path, helped_url, f"without-{worker}", 8) == expected
        assert helped.poll() is None
    finally:
        for proc in served:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=20)
            assert "Traceback" not in err


def test_out_of_descriptors_means_fewer_workers_not_a_crash() -> None:
    """With room for one pipe only, the second worker is not started: the server
    works with what it has (and with none, builds pages itself)."""
    script = textwrap.dedent("""
        import os, resource
        from runner.sandbox.workers import PageWorkers, page_task
        from runner.sandbox.profiles import Profiles
        from runner.sandbox.pages import envelope_text
        top = max(int(fd) for fd in os.listdir("/proc/self/fd"))
        resource.setrlimit(resource.RLIMIT_NOFILE, (top + 3, top + 3))  # one pipe's room
        workers = PageWorkers(4)
        assert 0 < workers.count < 4, workers.count
        profiles = Profiles(1, 100, 1_750_000_000_000)
        task = page_task(profiles, range(10), {}, 1, 10, 100)
        body = workers.build(task, 10)
        assert body in (None, envelope_text(profiles, range(10), {}, 1, 10, 100))
        workers.close()
        print("ok", workers.count)
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")


# -- a worker that stops answering -----------------------------------------------------------
#: a page of 500 records takes milliseconds; a server that falls back after any
#: sane bound answers well within this
PATIENCE = 6.0


@needs_proc
def test_a_stuck_worker_is_killed_and_its_page_built_elsewhere() -> None:
    """A worker alive but not answering (stopped with SIGSTOP here; in life: a
    debugger, a frozen cgroup, a swapped-out or wedged child) was once never given
    up on: the request that drew it waited on its pipe for ever."""
    with cli_sandbox("--page-workers", "1", "--profiles", "2000") as (proc, url):
        token = initiate(url)
        (worker,) = child_pids(proc.pid)
        os.kill(worker, signal.SIGSTOP)
        try:
            answer = retrieve(url, token, 1, 500, timeout=PATIENCE)
        except requests.exceptions.ReadTimeout:
            pytest.fail(
                f"a page was not answered in {PATIENCE} s: the server waits forever "
                "on a page worker that stopped answering, and never builds it itself"
            )
        assert answer.status_code == 200


@needs_proc
def test_one_stuck_worker_of_two_costs_none_of_32_requests_in_flight() -> None:
    with cli_sandbox("--page-workers", "2", "--profiles", "8000") as (proc, url):
        token = initiate(url)
        stuck = child_pids(proc.pid)[0]
        os.kill(stuck, signal.SIGSTOP)

        def one(i: int) -> str:
            try:
                return str(retrieve(url, token, 1 + 250 * i, 250, timeout=PATIENCE).status_code)
            except requests.exceptions.ReadTimeout:
                return "hung"

        with cf.ThreadPoolExecutor(32) as pool:
            answers = list(pool.map(one, range(32)))
        assert answers.count("hung") == 0, (
            f"{answers.count('hung')} of 32 requests never answered: each drew the stuck "
            "worker's pipe and waits on it with no deadline"
        )


def _descriptors(pid: int) -> dict[int, str]:
    folder = Path(f"/proc/{pid}/fd")
    return {int(fd.name): os.readlink(fd) for fd in folder.iterdir()}


@needs_proc
def test_a_stopped_worker_holds_no_port_and_no_output_of_a_killed_sandbox() -> None:
    """A forked child keeps only its own pipe: standard streams point at /dev/null and
    every other descriptor is closed, so a worker, even one stopped and outliving a
    SIGKILLed sandbox, holds neither the listening socket nor the sandbox's output."""
    proc, url = start_cli_sandbox("--page-workers", "2", "--profiles", "50")
    workers = child_pids(proc.pid)
    try:
        assert len(workers) == 2
        for pid in workers:
            fds = _descriptors(pid)
            assert all(fds[fd] == os.devnull for fd in (0, 1, 2)), fds
            rest = {fd: t for fd, t in fds.items() if fd > 2}
            assert len(rest) == 1 and next(iter(rest.values())).startswith("socket:"), fds
            os.kill(pid, signal.SIGSTOP)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=20)  # end-of-file: no worker holds the pipes
        port = urlsplit(url).port
        with socket.socket() as again:
            again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            again.bind(("127.0.0.1", port))  # a worker holding the listener: EADDRINUSE
            again.listen()
    finally:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired, ProcessLookupError):
            proc.kill()
            proc.communicate(timeout=5)


# -- the server's memory once its workers are dead -------------------------------------------
def _hwm_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM")


def _growth(workers: int) -> int:
    """Peak RSS growth of the server answering 32 pages of 10,000 at once, every
    page worker killed first."""
    with cli_sandbox("--page-workers", str(workers), "--profiles", "320000") as (proc, url):
        token = initiate(url)
        for worker in child_pids(proc.pid):
            os.kill(worker, signal.SIGKILL)
        time.sleep(0.2)
        before = _hwm_mb(proc.pid)
        with cf.ThreadPoolExecutor(32) as pool:
            answers = list(
                pool.map(lambda i: retrieve(url, token, 1 + 10_000 * i, 10_000, 120), range(32))
            )
        assert {a.status_code for a in answers} == {200}
        return _hwm_mb(proc.pid) - before


@MEASURED
@needs_proc
@pytest.mark.slow
def test_a_server_whose_workers_died_builds_no_more_pages_at_once_than_one_without() -> None:
    """A dead worker's page is built by the server, as without workers; but the
    server's page builders were bounded by max(BUILDERS, workers.count), fixed when
    the workers start, so once 16 workers were dead the server built 16 pages at
    once where without workers it builds 2: 32 readers of 10,000-record pages drove
    its peak RSS from ~100 MB to ~240 MB."""
    alone = _growth(0)
    orphaned = _growth(16)
    assert orphaned < 1.5 * alone + 16, (
        f"after its workers died the server grew {orphaned} MB answering 32 readers, "
        f"{alone} MB without workers: it builds up to 16 pages at once, not 2"
    )
