"""Attack on 'memory bounded' with pages in flight: each page is capped on its own
(max(16 MB, 16 KB x page_size)), but nothing caps the pages held at once, so a
server sending big (allowed) pages drove memory to concurrency x the cap: 5 GB at
page_size 10,000 and concurrency 32. Now pages held are bounded in bytes too."""

from __future__ import annotations

from attack12_helpers import one_job, write_spec
from raw_server import envelope, running_raw

from segrun_testing import peak_rss_mb, segrun_argv

SIZE, PAGES, PAD = 1000, 40, b"x" * 12_000  # 12 MB pages, under the 16 MB cap


def _page(offset: int, limit: int):
    total = SIZE * PAGES
    last = min(offset + limit - 1, total)
    records = [b'{"ProfileId":%d,"p":"%s"}' % (n, PAD) for n in range(offset, last + 1)]
    return 200, envelope(records, offset, limit, total, last < total), {}


def test_big_pages_among_32_in_flight_keep_memory_bounded(tmp_path):
    with running_raw(_page, SIZE * PAGES) as (base_url, _):
        spec = write_spec(tmp_path, base_url, one_job(SIZE, 32))
        rc, mb = peak_rss_mb([*segrun_argv(), "run", str(spec), "--out", str(tmp_path / "run"),
                               "--quiet"])
    assert rc == 0
    # one page at a time peaks near 60 MB on these pages; 32 x 12 MB held is ~600 MB
    assert mb < 256, f"peak RSS {mb} MB"
