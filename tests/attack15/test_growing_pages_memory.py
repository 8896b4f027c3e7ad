"""Attack on 'memory bounded' (runner/run/inflight.py): pages held at once are bounded in
bytes by BYTE_BUDGET (32 MiB), measured by the biggest page *so far*. A server whose
first page is small and whose later pages are big (each under the per-page cap)
has every request of the window answered big at once: concurrency x the page cap."""

from __future__ import annotations

import pytest

from tests.support.fake_server import envelope
from tests.support.runs import export_peak_mb

SIZE, PAGES, PAD = 1000, 40, b"x" * 12_000  # 12 MB pages, under the 16 MB cap


def _page(offset: int, limit: int):
    total = SIZE * PAGES
    last = min(offset + limit - 1, total)
    pad = b"" if offset == 1 else PAD  # the first page, the one measured, is small
    records = [b'{"ProfileId":%d,"p":"%s"}' % (n, pad) for n in range(offset, last + 1)]
    return 200, envelope(records, offset, limit, total, last < total), {}


@pytest.mark.xfail(
    strict=True,
    reason=(
        "known gap, documented in the README: the byte budget measures pages by the biggest so far, "
        "so requests sent before a server's pages suddenly grow can come back big, one round of "
        "them; bounding that needs a receive-side budget that exempts the page the writer waits for"
    ),
)
def test_a_small_first_page_does_not_let_32_big_pages_in(tmp_path):
    mb = export_peak_mb(tmp_path, _page, SIZE * PAGES, SIZE, 32)
    # the byte budget (32 MiB) and one page being written: attack12's bound on the
    # same pages when the first is big too is 256 MB; 32 x 12 MB held is ~400 MB
    assert mb < 256, f"peak RSS {mb} MB"
