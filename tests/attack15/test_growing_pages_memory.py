"""Attack on 'memory bounded' (runner/inflight.py): pages held at once are bounded in
bytes by BYTE_BUDGET (32 MiB), measured by the biggest page *so far*. A server whose
first page is small and whose later pages are big (each under the per-page cap)
has every request of the window answered big at once: concurrency x the page cap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "attack12"))

from attack12_helpers import one_job, write_spec  # noqa: E402
from raw_server import envelope, running_raw  # noqa: E402

from segrun_testing import segrun_argv  # noqa: E402

SIZE, PAGES, PAD = 1000, 40, b"x" * 12_000  # 12 MB pages, under the 16 MB cap


def _page(offset: int, limit: int):
    total = SIZE * PAGES
    last = min(offset + limit - 1, total)
    pad = b"" if offset == 1 else PAD  # the first page, the one measured, is small
    records = [b'{"ProfileId":%d,"p":"%s"}' % (n, pad) for n in range(offset, last + 1)]
    return 200, envelope(records, offset, limit, total, last < total), {}


def _peak_rss_mb(argv: list[str]) -> tuple[int, int]:
    """Peak RSS of the segrun process alone (measured by a fresh parent)."""
    probe = (
        "import json, resource, subprocess, sys\n"
        "rc = subprocess.run(json.loads(sys.argv[1]), capture_output=True).returncode\n"
        "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "SEGRUN_DEBUG"}
    out = subprocess.run([sys.executable, "-c", probe, json.dumps(argv)], capture_output=True,
                         text=True, timeout=300, env=env)
    rc, mb = out.stdout.split()
    return int(rc), int(mb)


@pytest.mark.xfail(strict=True, reason=(
    "known gap, documented in the README: the byte budget measures pages by the biggest so far, "
    "so requests sent before a server's pages suddenly grow can come back big, one round of "
    "them; bounding that needs a receive-side budget that exempts the page the writer waits for"))
def test_a_small_first_page_does_not_let_32_big_pages_in(tmp_path):
    with running_raw(_page, SIZE * PAGES) as (base_url, _):
        spec = write_spec(tmp_path, base_url, one_job(SIZE, 32))
        rc, mb = _peak_rss_mb([*segrun_argv(), "run", str(spec), "--out", str(tmp_path / "run"),
                               "--quiet"])
    assert rc == 0
    # the byte budget (32 MiB) and one page being written: attack12's bound on the
    # same pages when the first is big too is 256 MB; 32 x 12 MB held is ~400 MB
    assert mb < 256, f"peak RSS {mb} MB"
