"""Attack on `segrun sandbox --page-workers` (runner/sandbox/workers.py), promises
(c) "a worker that fails costs no request" and (d) "nothing hangs".

A worker that is alive but does not answer (stopped with SIGSTOP here; in life:
a debugger, a frozen cgroup, a swapped-out or wedged child) is never given up
on: `PageWorkers.build` pops its pipe and blocks in `recv_bytes()` with no
deadline, so the request that drew it waits forever and the server never builds
the page itself. A dead worker is handled (EOF); a stuck one is not."""

from __future__ import annotations

import concurrent.futures as cf
import os
import signal
from pathlib import Path

import pytest
import requests

from tests.support.processes import child_pids
from tests.support.sandbox_calls import cli_sandbox, initiate, retrieve

needs_proc = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")

#: a page of 500 records takes milliseconds; a server that falls back after any
#: sane bound answers well within this
PATIENCE = 6.0


@needs_proc
def test_a_stuck_worker_hangs_the_page_forever() -> None:
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
def test_one_stuck_worker_of_two_loses_a_request_among_32_in_flight() -> None:
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
