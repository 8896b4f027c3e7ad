"""Promise 2: no repeated ProfileId (same value and type) is ever missed.

Since this change a ProfileId of more than 4,300 digits is passed through (as
HugeNumber) instead of refusing the page. SeenIds skips any id whose type is
not a JSON scalar, HugeNumber included, so a server that sends the very same
5,000-digit ProfileId twice gets both records exported, without a word."""

from __future__ import annotations

from tests.support.fake_server import envelope
from tests.support.runs import export_by_cli

HUGE = b"7" * 5000
TOTAL = 4


def _page(offset: int, limit: int):
    last = min(offset + limit - 1, TOTAL)
    records = [
        b'{"ProfileId":' + (HUGE if n in (2, 3) else b"%d" % n) + b"}"
        for n in range(offset, last + 1)
    ]
    return 200, envelope(records, offset, limit, TOTAL, last < TOTAL), {}


def test_the_same_huge_profile_id_twice_fails_the_export(tmp_path):
    done, lines = export_by_cli(tmp_path, _page, TOTAL, 2)
    assert lines.count(b'{"ProfileId":' + HUGE + b"}") < 2, (
        f"rc={done.returncode}: the 5,000-digit ProfileId was exported twice"
    )
    assert done.returncode != 0
