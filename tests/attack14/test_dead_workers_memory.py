"""Attack on promise (c) of `--page-workers`: "a dead worker's page is built by
the server, as without workers".

Not quite as without workers: the server's page builders are bounded by
`max(BUILDERS, workers.count)` (runner/sandbox/service.py), fixed when the
workers start. Once the workers are dead, the server builds that many pages at
once itself, where without workers it builds 2 (runner/sandbox/pages.py:
"32 readers building side by side would gain nothing and hold 32 half-built
pages in memory"). With --page-workers 16, all dead, 32 readers of 10,000-record
pages drove the server's peak RSS from ~100 MB to ~240 MB."""

from __future__ import annotations

import concurrent.futures as cf
import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.processes import child_pids
from tests.support.sandbox_calls import cli_sandbox, initiate, retrieve

pytestmark = [
    pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc"),
    pytest.mark.slow,
]


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


def test_dead_workers_leave_the_server_building_as_many_pages_at_once() -> None:
    alone = _growth(0)
    orphaned = _growth(16)
    assert orphaned < 1.5 * alone + 16, (
        f"after its workers died the server grew {orphaned} MB answering 32 readers, "
        f"{alone} MB without workers: it builds up to 16 pages at once, not 2"
    )
