"""kill -9 at random moments of a run with jobs and pages in flight, short pages
of random length re-planning the offsets, then --resume: exactly the records."""

from __future__ import annotations

import os
import random
import subprocess
import time

from tests.support.fake_server import envelope, serving_pages
from tests.support.processes import segrun_argv, until_run_made
from tests.support.specs import write_spec

N = 1000


def _record(n: int) -> bytes:
    return b'{"ProfileId":"P%05d","pad":"%s"}' % (n, b"x" * (n % 50))


def _page(offset: int, limit: int):
    rnd = random.Random(offset)
    time.sleep(rnd.random() * 0.01)
    if offset > N:
        return 200, envelope([], offset, limit, N, False), {}
    last = min(offset + rnd.randint(limit // 2, limit) - 1, N)
    records = [_record(i) for i in range(offset, last + 1)]
    return 200, envelope(records, offset, limit, N, last < N), {}


JOBS = "".join(
    f"- name: j{i}\n  segment_group: VIP Customers\n  page_size: {7 + i}\n  concurrency: {2 + 3 * i}\n"
    for i in range(4)
)


def test_sigkill_with_jobs_and_pages_in_flight_then_resume(tmp_path):
    rng = random.Random(12)
    env = {k: v for k, v in os.environ.items() if k != "SEGRUN_DEBUG"}
    with serving_pages(_page, N) as (base_url, _):
        spec = write_spec(tmp_path, base_url, JOBS)
        run_dir = tmp_path / "run"
        argv = [*segrun_argv(), "run", "-q", str(spec), "--jobs", "3"]
        proc = subprocess.Popen(
            [*argv, "--out", str(run_dir)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        kills = 0
        for _ in range(5):
            time.sleep(rng.uniform(0.3, 0.9))
            until_run_made(run_dir, proc)  # a kill before the run made its folder leaves none
            if proc.poll() is not None:
                break
            proc.kill()
            proc.wait()
            kills += 1
            proc = subprocess.Popen(
                [*argv, "--resume", str(run_dir)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
    assert kills >= 2
    want = b"".join(_record(i) + b"\n" for i in range(1, N + 1))
    for i in range(4):
        assert (run_dir / "exports" / f"j{i}.jsonl").read_bytes() == want, i
