"""A Retrieve page has two readers (runner/apifacts/page.py): msgspec's quick path for a
plain page, and Python's decoder, the judge, for everything else. The quick
path must never accept what the judge refuses, nor read another ProfileId, nor
write other bytes. These tests hold the two to the same answer on random
records, on the same records broken a byte at a time, and on the cases where
the two decoders are known to differ.

The slow variants (`-m slow`) try 20 times the examples."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.apifacts.page import HugeNumber, PageNotJSON, _judged, _plain, record_id, scan

EXAMPLES = 200
SLOW_EXAMPLES = 20 * EXAMPLES

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(["ProfileId", "a", "é", "Profile\u0130d", ""]) | st.text(max_size=6),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=12,
)
ids = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=8),
    st.none(),
    st.booleans(),
    values,
)
records = st.lists(
    st.one_of(
        st.builds(
            lambda i, rest: {"ProfileId": i, **rest},
            ids,
            st.dictionaries(st.text(max_size=5), values, max_size=3),
        ),
        st.dictionaries(st.text(max_size=5), values, max_size=3),
        values,
    ),
    max_size=6,
)


def page_of(items: list, style: int, extra: object = None) -> bytes:
    """The page as a server might write it: compact or spaced, escaped or raw,
    with a field segrun does not read (before or after the records)."""
    body = {
        "Count": len(items),
        "HasMore": False,
        "Limit": 10,
        "Offset": 1,
        "TotalResults": len(items),
        "UserProfilePreferences": items,
    }
    if extra is not None:
        body = {"Extra": extra, **body} if style % 2 else {**body, "Extra": extra}
    separators = [(",", ":"), (", ", ": "), (",", ":")][style % 3]
    return json.dumps(body, separators=separators, ensure_ascii=style >= 3).encode()


def outcome(read, content: bytes):
    """What a reader makes of a page, in comparable form."""
    try:
        page = read(content)
    except PageNotJSON:
        return "refused"
    if page is None:
        return None
    return (
        page.top,
        page.records_type,
        page.fields,
        page.count,
        page.jsonl,
        [(type(i), repr(i)) for i in page.ids],
    )


def agree(content: bytes) -> None:
    quick = outcome(_plain, content)
    if quick is not None:  # the quick path answered: the judge must say the same
        assert quick == outcome(_judged, content), content[:300]
    judged = outcome(_judged, content)
    assert outcome(scan, content) == judged
    if judged != "refused" and judged[1] == "list":  # read back from the JSONL: the same ids
        again = [record_id(line) for line in judged[4].splitlines()]
        assert [(type(i), repr(i)) for i in again] == judged[5]


NOISE = [
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b'"',
    b"\\",
    b" ",
    b"0",
    b"9",
    b"-",
    b"+",
    b".",
    b"e",
    b"t",
    b"n",
    b"u",
    b"\x00",
    b"\x1f",
    b"\x7f",
    b"\xff",
    b"\xc3",
    b"\xa9",
    b"\xed",
    b"\t",
    b"\n",
    b"\\u",
    b"\\ud800",
    b"NaN",
    b"1e999",
    b"9" * 4400,
]


def random_page(items, style, extra) -> None:
    agree(page_of(items, style, extra))


def broken_page(items, style, extra, data) -> None:
    content = bytearray(page_of(items, style, extra))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(content)))
        noise = data.draw(st.sampled_from(NOISE))
        cut = data.draw(st.integers(0, 2))
        content[at : at + cut] = noise
    agree(bytes(content))


RANDOM_PAGES = given(records, st.integers(0, 5), st.none() | values)
BROKEN_PAGES = given(records, st.integers(0, 5), st.none() | values, st.data())


def examples(n: int):
    return settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck))


@examples(EXAMPLES)
@RANDOM_PAGES
def test_both_readers_agree_on_random_pages(items, style, extra):
    random_page(items, style, extra)


@examples(EXAMPLES * 2)
@BROKEN_PAGES
def test_both_readers_agree_on_broken_pages(items, style, extra, data):
    broken_page(items, style, extra, data)


@pytest.mark.slow
@examples(SLOW_EXAMPLES)
@RANDOM_PAGES
def test_both_readers_agree_on_many_more_random_pages(items, style, extra):
    random_page(items, style, extra)


@pytest.mark.slow
@examples(SLOW_EXAMPLES * 2)
@BROKEN_PAGES
def test_both_readers_agree_on_many_more_broken_pages(items, style, extra, data):
    broken_page(items, style, extra, data)


@pytest.mark.parametrize(
    "record",
    [
        b'{"ProfileId":1,"ProfileId":2}',  # a duplicate name: the last one
        b'{"Profile\\u0049d":3}',  # an escaped name is the same name
        b'{"x":{"ProfileId":4}}',  # not the record's own
        b'{"ProfileId":' + b"9" * 30 + b"}",  # bigger than 64 bits
        b'{"ProfileId":18446744073709551616}',
        b'{"ProfileId":-9223372036854775809}',
        b'{"ProfileId":1.5}',
        b'{"ProfileId":1E400}',
        b'{"ProfileId":-0}',
        b'{"ProfileId":1e5}',
        b'{"ProfileId":"\\ud83d\\ude00"}',
        b'{"ProfileId":"\\ud800"}',
        b'{"ProfileId":[1]}',
        b'{"ProfileId":' + b"9" * 5000 + b"}",
        b'{"a":' + b"9" * 5000 + b"}",
        b'{"a":' + b"-" + b"9" * 4300 + b"}",
        b'{"a":"\xff"}',
        b'{"a":"\xc0\xaf"}',
        b'{"a":"\xed\xa0\x80"}',
        b'{"a":"\xf4\x90\x80\x80"}',
        b'{"a":"raw\ttab"}',
        b'{"a":"raw\x01"}',
        b'{"a":\x0c1}',
        b'{"a":\xc2\xa01}',
        b'{"a":tru}',
        b'{"a":01}',
        b'{"a":1.}',
        b'{"a":.5}',
        b'{"a":+1}',
        b'{"a":NaN}',
        b'{"a":"\\q"}',
        b'{"a":"\\u12G4"}',
        b'{"a":[1,]}',
        b'{"a":{"b":1,}}',
        b"{,}",
        b"[" * 1200 + b"]" * 1200,
        b'{"a":' + b"[" * 990 + b"]" * 990 + b"}",
        b"7",
        b'"s"',
        b"null",
        b'{"a":1} ',
        b'{"a":1}\x00',
    ],
)
@pytest.mark.parametrize(
    "around",
    [
        (b'{"Count":1,"UserProfilePreferences":[', b"]}"),
        (b'{"UserProfilePreferences":[{"ProfileId":0},', b',{"ProfileId":9}]}'),
        (b'{"Count":' + b"9" * 5000 + b',"UserProfilePreferences":[', b"]}"),
        (b'{"Extra":[1,{"x":tru}],"UserProfilePreferences":[', b"]}"),
        (b'{"UserProfilePreferences":null,"UserProfilePreferences":[', b"]}"),
        (b'{"UserProfilePreferences":[', b'],"UserProfilePreferences":null}'),
        (b'{"Count":1,"Count":NaN,"UserProfilePreferences":[', b"]}"),
    ],
)
def test_both_readers_agree_where_the_decoders_differ(record, around):
    agree(around[0] + record + around[1])


def test_a_plain_page_takes_the_quick_path():
    """Else the tests above compare the judge with itself."""
    page = _plain(page_of([{"ProfileId": 1, "Name": "Zoë"}, {"ProfileId": "b"}], 0))
    assert page is not None and page.ids == [1, "b"]
    assert page.jsonl == '{"ProfileId":1,"Name":"Zoë"}\n{"ProfileId":"b"}\n'.encode()


def test_a_number_python_will_not_convert_is_passed_through():
    content = b'{"Count":1,"UserProfilePreferences":[{"ProfileId":"a","n":' + b"9" * 5000 + b"}]}"
    page = scan(content)
    assert page.jsonl == content[content.index(b"[") + 1 : -2] + b"\n" and page.ids == ["a"]
    huge = scan(
        b'{"Count":'
        + b"9" * 5000
        + b',"UserProfilePreferences":[{"ProfileId":'
        + b"1" * 4301
        + b"}]}"
    )
    assert isinstance(huge.fields["Count"], HugeNumber) and isinstance(huge.ids[0], HugeNumber)
    assert repr(huge.ids[0]) == "<a 4,301-digit number>"


# -- depth: both readers share the interpreter's recursion counter ------------------------
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
    """msgspec's depth limit and Python's scanner's both come from the interpreter's
    recursion counter, but the judge reaches a record (through `_walk` and
    `_records`) or an unread top-level field (through `_walk`) a frame or two deeper
    than the quick path: a value nested exactly at the limit was once accepted by
    `_plain` (and so written), while `_judged`, called from the very same frame,
    refused the page as "JSON nested too deeply"."""
    broken = []
    for depth in range(1, 1100):
        content = page(depth)
        if verdict(_plain, content) == "accepted" and verdict(_judged, content) == "refused":
            broken.append(depth)
    assert broken == [], f"quick path accepted depths the judge refuses: {broken}"


# -- a JSONL line read back gives the id the page held ------------------------------------
def test_record_id_reads_back_the_id_the_page_held():
    """A ProfileId holding a lone high surrogate sent raw (ED A0 80), then the escape
    \\udc00, is two lone code units to the page reader; the writer escapes the raw
    one, so the line reads "\\ud800\\udc00", a valid escaped pair that any JSON
    reader (`record_id` too) once decoded as one character, U+10000."""
    record = b'{"ProfileId":"\xed\xa0\x80\\udc00"}'
    page = scan(b'{"Count":1,"UserProfilePreferences":[' + record + b"]}")
    (line,) = page.jsonl.splitlines()
    assert record_id(line) == page.ids[0], (line, page.ids)
