"""Attack on 'pages held stay within the 32 MiB byte budget' (runner/run/inflight.py):
the budget measures a page by len(page.body), but a held Page also keeps a ProfileId
object and a msgspec.Raw per record (runner/apifacts/page.py), several times the body for
small records. With one early page slow and 2 windows of 10,000-record pages held
at concurrency 32, segrun holds ~75 MB more than one page at a time does, while
the budget counts ~11 MB of them. Slow: two full exports."""

from __future__ import annotations

import time

import pytest

from tests.support.fake_server import envelope
from tests.support.runs import export_peak_mb

SIZE, PAGES, SLOW = 10_000, 80, 3.0
MIB = 1024 * 1024


def _page(offset: int, limit: int):
    total = SIZE * PAGES
    if offset == 1 + SIZE:  # page 2 slow: every later page answered and held meanwhile
        time.sleep(SLOW)
    last = min(offset + limit - 1, total)
    records = [b'{"ProfileId":%d}' % n for n in range(offset, last + 1)]
    return 200, envelope(records, offset, limit, total, last < total), {}


@pytest.mark.slow
def test_pages_held_cost_no_more_than_the_byte_budget(tmp_path):
    alone = export_peak_mb(tmp_path, _page, SIZE * PAGES, SIZE, 1)
    held = export_peak_mb(tmp_path, _page, SIZE * PAGES, SIZE, 32)
    # everything held at once (in flight and waiting) within BYTE_BUDGET, with room
    # for 32 threads and one page being decoded
    assert held - alone < 32 + 16, f"{held - alone} MB more than one page at a time"
