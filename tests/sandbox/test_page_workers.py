"""`segrun sandbox` builds pages in worker processes (runner/sandbox/workers.py).
Promises attacked here: a worker's page is byte for byte the server's own, touched
dates included; however the server ends (Ctrl-C, SIGTERM, SIGKILL), no worker
outlives it; a worker that dies costs no request, and no page differs."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.processes import child_pids, process_alive, segrun_argv
from tests.support.sandbox_calls import start_cli_sandbox

SEGRUN = [sys.executable, "-m", "runner"]


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
