"""A Retrieve page, scanned once: its envelope decoded, its records passed through.

Records are opaque to segrun. A JSONL line of an export is the server's own
text of that record, not a re-encoding of it: the page is walked at its top
two levels, each record is handed to the C decoder once to find where it ends
and what its `ProfileId` is, and the record's bytes are copied as they came.
Decoding every record of a page into Python objects and encoding it again was
most of a run's CPU, and a 10,000-record page of decoded dicts most of its
memory; this keeps one record decoded at a time.

The one change made to a record's text: a line break between its tokens (a
pretty-printing server) becomes a space, so the record stays one JSONL line.
A raw line break cannot occur inside a JSON string, so nothing else moves.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

#: the envelope's fields, as the documentation names them
ENVELOPE = ("Count", "HasMore", "Limit", "Offset", "TotalResults")
RECORDS = "UserProfilePreferences"

_DECODER = json.JSONDecoder()
_VALUE = _DECODER.raw_decode  # the C scanner: (value, end) of the value at an index
_STRING = json.decoder.scanstring
#: the C scanner itself: one record, without raw_decode's Python wrapper
_RECORD = _DECODER.scan_once
#: JSON whitespace, one character at a time
_WHITESPACE = frozenset(" \t\n\r")
_SPACE = re.compile(r"[ \t\n\r]*").match


class PageNotJSON(ValueError):
    """A page that is not JSON (or nests absurdly deep); the message says where."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail


@dataclass
class Page:
    """What segrun needs of a page, and nothing it does not."""

    #: every top-level field but the records, decoded (a duplicate name: the last)
    fields: dict
    #: "list" when the records field is a list (its records are in `jsonl`), else
    #: the type name of what stood there, or None when the page has no such field
    records_type: str | None
    #: the records as JSONL, one line each, in the server's own text
    jsonl: bytes
    #: each record's ProfileId (None where a record is not an object or has none)
    ids: list
    #: the type name of the whole body's value: "dict" for a JSON object
    top: str = "dict"

    @property
    def count(self) -> int:
        return len(self.ids)



def scan(content: bytes) -> Page:
    """The page in `content`, or PageNotJSON. Valid JSON of another shape is a
    Page too (`top` names the type of a top level that is not an object); the
    caller decides what a wrong shape means."""
    try:
        text = content.decode(json.detect_encoding(content), "surrogatepass")
    except UnicodeDecodeError as e:
        raise PageNotJSON(f"not UTF-8 text: {e}"[:200]) from None
    try:
        return _walk(text, content)
    except RecursionError:
        why = "JSON nested too deeply (over ~1,000 levels)"
        raise PageNotJSON(why, why) from None
    except ValueError as e:  # JSONDecodeError, or a structural error of the walk
        raise PageNotJSON(str(e)[:200]) from None


def _error(text: str, at: int, what: str) -> json.JSONDecodeError:
    return json.JSONDecodeError(what, text, at)


def _walk(text: str, content: bytes) -> Page:
    at = _SPACE(text, 0).end()
    if not text.startswith("{", at):
        value, end = _VALUE(text, at)  # valid JSON of another shape, or the error
        _end_of_text(text, end)
        return Page({}, None, b"", [], top=type(value).__name__)
    fields: dict = {}
    records_type: str | None = None
    listed = False  # the records field is present and a list
    spans: list[tuple[int, int]] = []
    ids: list = []
    at = _SPACE(text, at + 1).end()
    if text.startswith("}", at):
        _end_of_text(text, at + 1)
        return Page(fields, None, b"", [])
    while True:
        if not text.startswith('"', at):
            raise _error(text, at, "Expecting property name enclosed in double quotes")
        name, at = _STRING(text, at + 1)
        at = _SPACE(text, at).end()
        if not text.startswith(":", at):
            raise _error(text, at, "Expecting ':' delimiter")
        at = _SPACE(text, at + 1).end()
        if name == RECORDS:
            listed = text.startswith("[", at)
            if listed:
                spans, ids, at = _records(text, at)
                records_type = None
            else:
                value, at = _VALUE(text, at)
                spans, ids, records_type = [], [], type(value).__name__
        else:
            fields[name], at = _VALUE(text, at)
        at = _SPACE(text, at).end()
        if text.startswith(",", at):
            at = _SPACE(text, at + 1).end()
            continue
        if text.startswith("}", at):
            _end_of_text(text, at + 1)
            break
        raise _error(text, at, "Expecting ',' delimiter")
    return Page(fields, "list" if listed else records_type, _jsonl(text, content, spans), ids)


def _records(text: str, at: int) -> tuple[list[tuple[int, int]], list, int]:
    """Each record of the array at `at`: its span and ProfileId; and the end.

    Each record goes through the C decoder alone, which finds where it ends
    and is the judge of what is JSON; only its ProfileId is kept. (Splitting
    the text by counting braces was tried: proving that no string holds one
    costs more than this.)"""
    spans: list[tuple[int, int]] = []
    ids: list = []
    at = _SPACE(text, at + 1).end()
    if text.startswith("]", at):
        return spans, ids, at + 1
    # One record a turn through this loop: everything in it is local, and
    # whitespace is looked for only where there is some (compact pages have none).
    add_span, add_id, space, decode = spans.append, ids.append, _SPACE, _RECORD
    while True:
        try:
            record, end = decode(text, at)
        except StopIteration as e:
            raise _error(text, e.value, "Expecting value") from None
        add_span((at, end))
        add_id(record.get("ProfileId") if type(record) is dict else None)
        mark = text[end : end + 1]
        if mark in _WHITESPACE:
            end = space(text, end).end()
            mark = text[end : end + 1]
        if mark == ",":
            at = end + 1
            if text[at : at + 1] in _WHITESPACE:
                at = space(text, at).end()
        elif mark == "]":
            return spans, ids, end + 1
        else:
            raise _error(text, end, "Expecting ',' delimiter")


def _end_of_text(text: str, at: int) -> None:
    if _SPACE(text, at).end() != len(text):
        raise _error(text, at, "Extra data")


def _jsonl(text: str, content: bytes, spans: list[tuple[int, int]]) -> bytes:
    if not spans:
        return b""
    first, last = spans[0][0], spans[-1][1]
    if len(text) == len(content):  # one byte a character: slice the bytes themselves
        view = memoryview(content)
        out = b"\n".join([view[a:b] for a, b in spans]) + b"\n"
        view.release()
    else:
        out = ("\n".join([text[a:b] for a, b in spans]) + "\n").encode("utf-8", "surrogatepass")
    if text.find("\n", first, last) >= 0 or text.find("\r", first, last) >= 0:
        # Pretty-printed records: one line each (a raw line break is never inside a string).
        out = b"\n".join(
            line.replace(b"\r", b" ").replace(b"\n", b" ") for line in _lines(text, spans)
        ) + b"\n"
    return out


def _lines(text: str, spans: list[tuple[int, int]]):
    for a, b in spans:
        yield text[a:b].encode("utf-8", "surrogatepass")
