"""Promise 2: no repeated ProfileId (same value and type) is ever missed.

Since this change a ProfileId of more than 4,300 digits is passed through (as
HugeNumber) instead of refusing the page. SeenIds skips any id whose type is
not a JSON scalar, HugeNumber included, so a server that sends the very same
5,000-digit ProfileId twice gets both records exported, without a word."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "attack12"))

from attack12_helpers import one_job, write_spec  # noqa: E402
from raw_server import envelope, running_raw  # noqa: E402

from segrun_testing import segrun_argv  # noqa: E402

HUGE = b"7" * 5000
TOTAL = 4


def _page(offset: int, limit: int):
    last = min(offset + limit - 1, TOTAL)
    records = [b'{"ProfileId":' + (HUGE if n in (2, 3) else b"%d" % n) + b"}"
               for n in range(offset, last + 1)]
    return 200, envelope(records, offset, limit, TOTAL, last < TOTAL), {}


def test_the_same_huge_profile_id_twice_fails_the_export(tmp_path):
    with running_raw(_page, TOTAL) as (base_url, _):
        spec = write_spec(tmp_path, base_url, one_job(2))
        env = {k: v for k, v in os.environ.items() if k != "SEGRUN_DEBUG"}
        done = subprocess.run(
            [*segrun_argv(), "run", str(spec), "--out", str(tmp_path / "run"), "--quiet"],
            capture_output=True, text=True, timeout=60, env=env,
        )
    out = tmp_path / "run" / "exports" / "one.jsonl"
    lines = out.read_bytes().splitlines() if out.exists() else []
    assert lines.count(b'{"ProfileId":' + HUGE + b"}") < 2, (
        f"rc={done.returncode}: the 5,000-digit ProfileId was exported twice")
    assert done.returncode != 0
