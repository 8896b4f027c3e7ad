"""Attack on the ProfileId table's fingerprints (runner/run/seen.py): Python's hash of an
int is not randomised (hash(n) == n mod 2**61-1), so a server can send distinct ids
that share every fingerprint bit. Each such 'suspicion' is confirmed by reading the
whole part file again (execute._check_repeats), so n of them cost n file scans."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support.fake_server import envelope, serving_pages
from tests.support.processes import segrun_argv
from tests.support.specs import one_job, write_spec

M = (1 << 61) - 1  # hash(n) == hash(n + M) for every int n >= 0
HALF = 20_000
TOTAL = 2 * HALF


def _id(n: int) -> int:
    return n if n <= HALF else (n - HALF) + M  # the second half collides with the first


def _page(offset: int, limit: int):
    last = min(offset + limit - 1, TOTAL)
    records = [b'{"ProfileId":%d}' % _id(n) for n in range(offset, last + 1)]
    return 200, envelope(records, offset, limit, TOTAL, last < TOTAL), {}


def test_distinct_ids_sharing_a_hash_do_not_stall_the_export(tmp_path):
    """40,000 distinct integer ids (the largest, 2**61+19,999, is a plain int64) whose
    second half each share hash() with one of the first: the export of 40,000
    small records (about a second) never finishes in 20 s (3 s when the ids do not share a hash)."""
    assert len({_id(n) for n in range(1, TOTAL + 1)}) == TOTAL
    with serving_pages(_page, TOTAL) as (base_url, _):
        spec = write_spec(tmp_path, base_url, one_job(1000))
        env = {k: v for k, v in os.environ.items() if k != "SEGRUN_DEBUG"}
        try:
            done = subprocess.run(
                [*segrun_argv(), "run", str(spec), "--out", str(tmp_path / "run"), "--quiet"],
                capture_output=True,
                text=True,
                timeout=20,
                env=env,
            )
        except subprocess.TimeoutExpired:
            pytest.fail("the export of 40,000 records did not finish within 20 s")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "exports" / "one.jsonl").read_bytes().count(b"\n") == TOTAL
