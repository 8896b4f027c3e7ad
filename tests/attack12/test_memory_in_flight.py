"""Attack on 'memory bounded' with pages in flight: each page is capped on its own
(max(16 MB, 16 KB x page_size)), but nothing caps the pages held at once, so a
server sending big (allowed) pages drove memory to concurrency x the cap: 5 GB at
page_size 10,000 and concurrency 32. Now pages held are bounded in bytes too."""

from __future__ import annotations

from tests.support.fake_server import envelope
from tests.support.runs import export_peak_mb

SIZE, PAGES, PAD = 1000, 40, b"x" * 12_000  # 12 MB pages, under the 16 MB cap


def _page(offset: int, limit: int):
    total = SIZE * PAGES
    last = min(offset + limit - 1, total)
    records = [b'{"ProfileId":%d,"p":"%s"}' % (n, PAD) for n in range(offset, last + 1)]
    return 200, envelope(records, offset, limit, total, last < total), {}


def test_big_pages_among_32_in_flight_keep_memory_bounded(tmp_path):
    mb = export_peak_mb(tmp_path, _page, SIZE * PAGES, SIZE, 32)
    # one page at a time peaks near 60 MB on these pages; 32 x 12 MB held is ~600 MB
    assert mb < 256, f"peak RSS {mb} MB"
