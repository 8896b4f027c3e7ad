"""Attacks on pages in flight (runner/run/inflight.py): answers that interleave, short
pages that move every later offset, lies found on a page ahead of the caller."""

from __future__ import annotations

import random
import time

import pytest

from tests.support.fake_server import envelope, serving_pages
from tests.support.runs import run
from tests.support.specs import one_job, write_spec

N = 300


def _record(n: int) -> bytes:
    return b'{"ProfileId":"P%05d","n":%d}' % (n, n)


def _want(n: int = N) -> bytes:
    return b"".join(_record(i) + b"\n" for i in range(1, n + 1))


def _short_pages(seed: int, fail_every: int = 0):
    """Each offset's page holds a random number of records (the same on a retry),
    arrives after a random delay, and now and then is a 503 first."""
    tries: dict[int, int] = {}

    def page(offset: int, limit: int):
        rnd = random.Random(seed * 100_003 + offset)
        time.sleep(rnd.random() * 0.02)
        tries[offset] = tries.get(offset, 0) + 1
        if fail_every and rnd.randrange(fail_every) == 0 and tries[offset] == 1:
            return 503, b'{"Message":"busy"}', {}
        if offset > N:
            return 200, envelope([], offset, limit, N, False), {}
        count = rnd.randint(1, limit)
        last = min(offset + count - 1, N)
        records = [_record(i) for i in range(offset, last + 1)]
        return 200, envelope(records, offset, limit, N, last < N), {}

    return page


@pytest.mark.parametrize("concurrency", [3, 32])
@pytest.mark.parametrize("seed", [1])
def test_short_pages_of_random_length_among_pages_in_flight(tmp_path, concurrency, seed):
    with serving_pages(_short_pages(seed, fail_every=5), N) as (base_url, _):
        spec = write_spec(tmp_path, base_url, one_job(10, concurrency))
        outcome = run(spec, tmp_path)
    result = outcome.report.jobs[0]
    assert result.status == "succeeded", result.error
    assert (tmp_path / "run" / "exports" / "one.jsonl").read_bytes() == _want()


def _lie_ahead(kind: str, at: int):
    def page(offset: int, limit: int):
        if offset != at:
            time.sleep(0.05)  # the honest pages come later than the lying one
        last = min(offset + limit - 1, N)
        records = [_record(i) for i in range(offset, last + 1)]
        total, more, count = N, last < N, None
        if offset == at:
            if kind == "total":
                total = N + 1
            elif kind == "count":
                count = len(records) + 1
            elif kind == "offset":
                offset += 1
            elif kind == "garbage":
                return 200, b"{not json", {}
            elif kind == "repeat":
                records[-1] = _record(1)
        body = envelope(records, offset, limit, total, more)
        if count is not None:
            body = body.replace(b'"Count": %d' % len(records), b'"Count": %d' % count)
        return 200, body, {}

    return page


@pytest.mark.parametrize("kind", ["total", "count", "offset", "garbage", "repeat"])
def test_a_lie_on_a_page_ahead_fails_the_job_after_every_page_before_it(tmp_path, kind):
    at = 51  # the 6th page of 10
    with serving_pages(_lie_ahead(kind, at), N) as (base_url, _):
        spec = write_spec(tmp_path, base_url, one_job(10, 8))
        outcome = run(spec, tmp_path)
    result = outcome.report.jobs[0]
    assert result.status == "failed"
    assert "51" in (result.error or "") or kind in ("count", "garbage"), result.error
    part = tmp_path / "run" / "exports" / "one.jsonl.part"
    assert part.read_bytes() == _want(50), result.error
