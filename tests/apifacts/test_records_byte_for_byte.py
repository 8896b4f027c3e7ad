"""A JSONL line is the server's own text of one record, byte for byte, and always a
valid JSON line (runner/apifacts/page.py), whatever the page's encoding, spacing
or escapes."""

from __future__ import annotations

import json

import pytest

from tests.support.fake_server import envelope, serving_pages
from tests.support.runs import run
from tests.support.specs import one_job, write_spec


def _serve(records: list[bytes], encode=lambda b: b):
    total = len(records)

    def page(offset: int, limit: int):
        chunk = records[offset - 1 : offset - 1 + limit]
        more = offset - 1 + limit < total
        return 200, encode(envelope(chunk, offset, limit, total, more)), {}

    return page, total


def _export(tmp_path, records, encode=lambda b: b, concurrency=1):
    page, total = _serve(records, encode)
    with serving_pages(page, total) as (base_url, _):
        spec = write_spec(tmp_path, base_url, one_job(2, concurrency))
        outcome = run(spec, tmp_path)
    result = outcome.report.jobs[0]
    path = tmp_path / "run" / "exports" / "one.jsonl"
    return result, (path.read_bytes() if path.exists() else None)


def _strict(line: bytes) -> object:
    def refuse(name: str):
        raise ValueError(f"{name} is not JSON")

    return json.loads(line.decode("utf-8"), parse_constant=refuse)  # strict UTF-8 too


@pytest.mark.parametrize("concurrency", [1, 4])
def test_records_with_odd_but_valid_text_come_through_byte_for_byte(tmp_path, concurrency):
    """Held: escapes, duplicate keys, non-objects, spacing, big floats, deep-ish nesting."""
    records = [
        b'{"ProfileId":"a","x":"\\u00e9\\ud83d\\ude00"}',
        b'{"Profile\\u0049d":"b","x":1}',
        b'{"ProfileId":"c","ProfileId":"d"}',
        b"[1,2,3]",
        b'"just text"',
        b"null",
        b'{ "ProfileId" : "e" ,\t"f":1.0e+400 }',
        b'{"ProfileId":"g","n":' + b"[" * 200 + b"]" * 200 + b"}",
        '{"ProfileId":"h","x":"\u2028\u2029\x85"}'.encode(),
    ]
    result, data = _export(tmp_path, records, concurrency=concurrency)
    assert result.status == "succeeded", result.error
    assert data == b"".join(r + b"\n" for r in records)


def test_a_raw_lone_surrogate_never_makes_the_export_invalid_utf8(tmp_path):
    """A UTF-8 body holding the 3-byte form of a lone surrogate (ED A0 80) is
    decoded with surrogatepass, and its bytes were once copied: the export was then
    not UTF-8, so not JSON. It is written escaped, as the README says; a CESU-style
    pair becomes the escaped pair."""
    records = [
        b'{"ProfileId":"a","x":"\xed\xa0\x80"}',
        b'{"ProfileId":"b","y":"\xc3\xa9"}',
        b'{"ProfileId":"c","z":"\xed\xa0\xbd\xed\xb8\x80"}',
    ]
    result, data = _export(tmp_path, records)
    assert result.status == "succeeded", result.error
    assert data == (
        b'{"ProfileId":"a","x":"\\ud800"}\n'
        + records[1]
        + b"\n"
        + b'{"ProfileId":"c","z":"\\ud83d\\ude00"}\n'
    )
    for line in data.splitlines():
        _strict(line)


def test_a_utf16_page_with_a_lone_surrogate_is_written_as_utf8(tmp_path):
    """README: a page in UTF-16 is written as UTF-8. A lone surrogate code unit
    in it was encoded with surrogatepass: bytes that are not UTF-8; now escaped."""
    records = [
        '{"ProfileId":"a","x":"\ud800"}'.encode("utf-8", "surrogatepass"),
        b'{"ProfileId":"b"}',
    ]

    def utf16(body: bytes) -> bytes:
        return body.decode("utf-8", "surrogatepass").encode("utf-16-le", "surrogatepass")

    result, data = _export(tmp_path, records, utf16)
    assert result.status == "succeeded", result.error
    assert data == b'{"ProfileId":"a","x":"\\ud800"}\n{"ProfileId":"b"}\n'
    for line in data.splitlines():
        _strict(line)


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_a_record_that_is_not_json_never_becomes_a_jsonl_line(tmp_path, constant):
    """README: each record is handed to the JSON decoder, 'which also proves it is
    JSON'. Python's decoder takes NaN and Infinity, which JSON has not: the line
    written was not JSON for any strict reader (jq, Go, JavaScript); now the page
    is refused, naming why."""
    records = [b'{"ProfileId":"a","score":' + constant + b"}", b'{"ProfileId":"b"}']
    result, data = _export(tmp_path, records)
    assert result.status == "failed"
    assert result.error == (
        f"Retrieve: the response is not JSON ({constant.decode()} is not JSON)"
    ), result.error
    assert data is None or all(_strict(line) for line in data.splitlines())


@pytest.mark.parametrize("pretty", [False, True])
def test_a_record_with_a_huge_integer_is_passed_through(tmp_path, pretty):
    """Records are opaque: a 5,000-digit number is JSON (Python converts at most
    4,300 digits, and once called such a page 'not JSON'). Both readers of a
    page pass it through: the quick one, and Python's (a line break sends the
    page there)."""
    records = [b'{"ProfileId":"a","n":' + b"9" * 5000 + b"}", b'{"ProfileId":"b"}']
    if pretty:
        records[1] = b'{"ProfileId":\n"b"}'
    result, data = _export(tmp_path, records)
    assert result.status == "succeeded", result.error
    assert data == b"".join(r.replace(b"\n", b" ") + b"\n" for r in records)


@pytest.mark.parametrize(
    "encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"]
)
@pytest.mark.parametrize("concurrency", [1, 3])
def test_pages_in_any_json_encoding_give_the_records_text_in_utf8(tmp_path, encoding, concurrency):
    """Held: a BOM, UTF-16 and UTF-32 pages (non-BMP text, raw and escaped), written as the
    records' own text in UTF-8; a pretty-printed record stays one line."""
    records = [
        '{"ProfileId":"a","x":"é😀\\u00e9"}'.encode(),
        b'{\n  "ProfileId": "b",\r\n  "y": [1,\n 2]\n}',
        '{"ProfileId":"c","z":"日本"}'.encode(),
    ]

    def encode(body: bytes) -> bytes:
        return body.decode("utf-8").encode(encoding)

    result, data = _export(tmp_path, records, encode, concurrency)
    assert result.status == "succeeded", result.error
    want = [r.replace(b"\r", b" ").replace(b"\n", b" ") for r in records]
    assert data == b"".join(r + b"\n" for r in want)
