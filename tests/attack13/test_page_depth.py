"""Promise (a): the quick path never accepts a page the judge refuses.

msgspec's depth limit and Python's scanner's depth limit both come from the
interpreter's recursion counter, but the judge reaches a record (through
`_walk` and `_records`) or an unread top-level field (through `_walk`) one or
two frames deeper than the quick path reaches it. A value nested exactly at
the limit is accepted by `_plain` (and so by `scan`, and written), while
`_judged`, called from the very same frame, refuses the page as "JSON nested
too deeply (over ~1,000 levels)"."""

from __future__ import annotations

import pytest

from runner.apifacts.page import PageNotJSON, _judged, _plain


def in_record(depth: int) -> bytes:
    record = b'{"ProfileId":1,"a":' + b"[" * depth + b"1" + b"]" * depth + b"}"
    return b'{"Count":1,"UserProfilePreferences":[' + record + b"]}"


def in_extra_field(depth: int) -> bytes:
    return (
        b'{"Extra":' + b"[" * depth + b"]" * depth + b',"UserProfilePreferences":[{"ProfileId":1}]}'
    )


def verdict(read, content: bytes) -> str:
    """Both readers are called from this same frame depth."""
    try:
        return "accepted" if read(content) is not None else "declined"
    except PageNotJSON:
        return "refused"


@pytest.mark.parametrize("page", [in_record, in_extra_field])
def test_quick_path_never_accepts_a_page_the_judge_refuses_as_too_deep(page):
    broken = []
    for depth in range(1, 1100):
        content = page(depth)
        if verdict(_plain, content) == "accepted" and verdict(_judged, content) == "refused":
            broken.append(depth)
    assert broken == [], f"quick path accepted depths the judge refuses: {broken}"
