"""Attack on 'the rate limit is never exceeded at the server': the budget counts
starts, and a start reaches the server later when the client's interpreter is busy
(one lock runs one thread: a worker scanning a page holding one huge record keeps
the others from sending what they were allowed to send)."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest

from tests.support.fake_server import envelope, serving_pages
from tests.support.processes import segrun_argv
from tests.support.specs import one_job, write_spec

N, SIZE, RATE = 24, 1, 4
BIG = b'{"ProfileId":"%d","a":[' + b"0," * 6_000_000 + b"0]}"


def most_in_one_second(times: list[float]) -> int:
    times = sorted(times)
    best, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best


@pytest.mark.slow  # ~17 s, and intermittent: it depends on scheduling
def test_rate_limit_holds_at_the_server_while_workers_scan_huge_records(tmp_path):
    """Seen: 5 arrivals in one second at R=4 ([0.0, 0.031, 1.041, 1.077, 1.106, 1.155,
    ...]): two of the first burst's four requests, allowed at 0, reached the server a
    second later, while other workers held the interpreter decoding 12 MB records
    (one C call each), and so arrived with the next burst. Not a strict xfail: it
    depends on scheduling."""
    arrivals: list[float] = []
    lock = threading.Lock()

    def page(offset: int, limit: int):
        with lock:
            arrivals.append(time.monotonic())
        last = min(offset + limit - 1, N)
        records = [BIG % n for n in range(offset, last + 1)]
        return 200, envelope(records, offset, limit, N, last < N), {}

    with serving_pages(page, N) as (base_url, _):
        spec = write_spec(
            tmp_path,
            base_url,
            one_job(SIZE, 8),
            top=f"rate_limit: {{requests_per_second: {RATE}}}\n",
        )
        env = {k: v for k, v in os.environ.items() if k != "SEGRUN_DEBUG"}
        done = subprocess.run(  # its own process: the server's clock is not held up
            [
                *segrun_argv(),
                "run",
                str(spec),
                "--out",
                str(tmp_path / "run"),
                "--quiet",
                "--max-page-bytes",
                str(64 << 20),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
    assert done.returncode == 0, done.stderr
    first = min(arrivals)
    assert most_in_one_second(arrivals) <= RATE, [round(a - first, 3) for a in sorted(arrivals)]
