"""A Retrieve page, scanned once: its envelope decoded, its records passed through.

Records are opaque to segrun. A JSONL line of an export is the server's own
text of that record, not a re-encoding of it. Two readers find where each
record lies and what its `ProfileId` is: msgspec, for a plain page, without
building the records at all; and Python's decoder, the judge, for anything
else (it walks the page's top two levels and hands each record to the C
decoder alone). The quick one answers only where it agrees with the judge.
Decoding every record of a page into Python objects and encoding it again was
most of a run's CPU, and a 10,000-record page of decoded dicts most of its
memory.

The one change made to a record's text: a line break between its tokens (a
pretty-printing server) becomes a space, so the record stays one JSONL line.
A raw line break cannot occur inside a JSON string, so nothing else moves.
"""

from __future__ import annotations

import json
import re
import sys
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import msgspec

#: the envelope's fields, as the documentation names them
ENVELOPE = ("Count", "HasMore", "Limit", "Offset", "TotalResults")
RECORDS = "UserProfilePreferences"

#: bytes of JSONL handed to the writer at a time
CHUNK = 1 << 20
#: bytes a held record costs beside its text (measured: a msgspec.Raw, an int id and
#: two list slots, with malloc's overhead, are about 120)
RECORD_OVERHEAD = 128


def _not_json(name: str) -> None:
    """Python's decoder takes NaN and Infinity, JSON has neither: a record holding
    one would be written as a line no strict reader takes (jq, Go, JavaScript)."""
    why = f"{name} is not JSON"
    raise PageNotJSON(why, why)


_DECODER = json.JSONDecoder(parse_constant=_not_json)
#: json.decoder's own string scanner (C, else Python), which typeshed does not declare
_STRING: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
#: JSON whitespace, one character at a time
_WHITESPACE = frozenset(" \t\n\r")
#: the pattern matches the empty string, so it matches at every index: never None
_SPACE = cast(Callable[[str, int], "re.Match[str]"], re.compile(r"[ \t\n\r]*").match)


class PageNotJSON(ValueError):
    """A page that is not JSON (or nests absurdly deep); the message says where."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail


@dataclass
class Page:
    """What segrun needs of a page, and nothing it does not: the body's bytes
    and where each record lies in them, not the records decoded."""

    #: the paging fields (ENVELOPE) present, decoded (a duplicate name: the last);
    #: any other top-level field is checked to be JSON and not kept
    fields: dict
    #: "list" when the records field is a list (its records are in `chunks()`),
    #: else the type name of what stood there, or None when there is no such field
    records_type: str | None
    #: each record's ProfileId (None where a record is not an object or has none)
    ids: list
    #: the type name of the whole body's value: "dict" for a JSON object
    top: str = "dict"
    #: UTF-8 bytes holding the records, and each record's [start, end) in them
    body: bytes = b""
    starts: array = field(default_factory=lambda: array("q"))
    ends: array = field(default_factory=lambda: array("q"))
    #: a record holds a raw line break (a pretty-printing server)
    breaks: bool = False
    #: each record's bytes, as views into `body` (the quick path), else None
    pieces: list | None = None

    @property
    def count(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        """What holding this page costs: its body, and for each record its
        ProfileId, its place in two lists and (the quick path) a view of its
        bytes. For small records that is several times the body, so pages in
        flight are bounded by this, not by the body alone."""
        return len(self.body) + RECORD_OVERHEAD * len(self.ids)

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """The records as JSONL, one line each, in pieces of about `size`
        bytes: a 10,000-record page is never copied whole."""
        if self.pieces is not None:
            yield from _joined(self.pieces, size)
            return
        view = memoryview(self.body)
        starts, ends, breaks, count = self.starts, self.ends, self.breaks, len(self.starts)
        first = 0
        while first < count:
            last = first
            limit = starts[first] + size
            while last < count and (last == first or ends[last] <= limit):
                last += 1
            lines: list[bytes | memoryview] = [
                view[starts[i] : ends[i]] for i in range(first, last)
            ]
            if breaks:
                lines = [bytes(x).replace(b"\r", b" ").replace(b"\n", b" ") for x in lines]
            lines.append(b"")
            yield b"\n".join(lines)
            first = last
        view.release()

    @property
    def jsonl(self) -> bytes:
        """All of `chunks()` at once (for tests and tools; a run writes the chunks)."""
        return b"".join(self.chunks())


def scan(content: bytes) -> Page:
    """The page in `content`, or PageNotJSON. Valid JSON of another shape is a
    Page too (`top` names the type of a top level that is not an object); the
    caller decides what a wrong shape means."""
    page = _plain(content)
    return page if page is not None else _judged(content)


# -- the quick path: a plain page, by msgspec's C decoder -----------------------


class _Keyed(msgspec.Struct):
    """A record as far as segrun reads it: every other field is skipped unbuilt."""

    ProfileId: Any = None


class _Envelope(msgspec.Struct):
    """Pass one: the paging fields as text (Python's decoder reads them, as on
    the long way) and each record's ProfileId; any other field is skipped."""

    Count: msgspec.Raw = msgspec.Raw()
    HasMore: msgspec.Raw = msgspec.Raw()
    Limit: msgspec.Raw = msgspec.Raw()
    Offset: msgspec.Raw = msgspec.Raw()
    TotalResults: msgspec.Raw = msgspec.Raw()
    UserProfilePreferences: list[_Keyed] | None = None


class _Records(msgspec.Struct):
    """Pass two: each record's bytes, a view into the page."""

    UserProfilePreferences: list[msgspec.Raw] = []


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_RECORDS = msgspec.json.Decoder(_Records)
#: ids the quick path hands on; any other kind (a float, a nested id) is judged by Python
_PLAIN_IDS = frozenset({int, str, bool, type(None)})
#: Python converts integers of at most this many digits (0: any)
_MAX_DIGITS = getattr(sys, "get_int_max_str_digits", lambda: 0)()
_TOO_BIG = 10**_MAX_DIGITS if _MAX_DIGITS else None


def _plain(content: bytes) -> Page | None:
    """A plain page (compact UTF-8, an object whose records are objects) read
    without building its records: msgspec finds each record's bytes and its
    ProfileId and skips the rest, checking it is JSON, at about a fifth of the
    cost of decoding it (issue 12: most of a run's CPU). Anything else, None:
    Python's decoder then judges the page, so what the quick path accepts is
    exactly what that one does (tests/apifacts/test_page_readers.py holds the two to
    the same answers)."""
    # A line break, a BOM or a UTF-16 page goes the long way (breaks become
    # spaces there); msgspec does not check the UTF-8 of strings it skips.
    if content[:1] != b"{" or b"\n" in content or b"\r" in content:
        return None
    try:
        if not content.isascii():
            content.decode("utf-8")
        envelope = _lower(_ENVELOPE.decode, content, _FRAMES)
        if envelope.UserProfilePreferences is None:  # none, or null: the long way
            return None
        ids = [record.ProfileId for record in envelope.UserProfilePreferences]
        pieces = _lower(_RECORDS.decode, content, _FRAMES).UserProfilePreferences
        fields = {}
        for name in ENVELOPE:
            text = bytes(getattr(envelope, name))
            if text:
                fields[name] = _DECODER.decode(text.decode())
    except (msgspec.MsgspecError, ValueError, RecursionError):
        return None
    kinds = set(map(type, ids))
    if not kinds <= _PLAIN_IDS or len(ids) != len(pieces):
        return None
    if int in kinds and _TOO_BIG is not None:
        ints = ids if len(kinds) == 1 else [i for i in ids if type(i) is int]
        if max(ints) >= _TOO_BIG or min(ints) <= -_TOO_BIG:
            return None  # Python's decoder keeps it as a number of too many digits
    return Page(fields, "list", ids, body=content, pieces=pieces)


_ONE = msgspec.json.Decoder(_Keyed)


def record_id(line: bytes) -> object:
    """The ProfileId of one JSONL line segrun wrote (None when it has none), as
    the page readers read it; ValueError when the line is not JSON. Used where a
    part file is read back: a resume, a rebuilt duplicate table."""
    try:
        if not line.isascii():
            line.decode("utf-8")
        found = _ONE.decode(line).ProfileId
        if type(found) in _PLAIN_IDS and (
            type(found) is not int or _TOO_BIG is None or -_TOO_BIG < found < _TOO_BIG
        ):
            return found
    except (msgspec.MsgspecError, ValueError, RecursionError):
        pass
    record = _LENIENT.decode(line.decode("utf-8"))  # the judge, and its error
    return record.get("ProfileId") if type(record) is dict else None


#: Both decoders stop at the interpreter's recursion limit, counted from where
#: they are called: the judge reaches a record a few frames below `scan`, so the
#: quick path decodes from further down still, and a page nested within a level
#: of the limit goes to the judge rather than past it.
_FRAMES = 6


def _lower(decode: Callable, content: bytes, frames: int) -> Any:
    return decode(content) if frames <= 0 else _lower(decode, content, frames - 1)


def _joined(pieces: list, size: int) -> Iterator[bytes]:
    """JSONL of the records' own bytes, about `size` bytes at a time."""
    count = len(pieces)
    total = sum(map(len, pieces)) or 1
    step = max(1, size * count // total)
    for first in range(0, count, step):
        lines = pieces[first : first + step]
        lines.append(b"")  # the last line's break, in the same copy
        yield b"\n".join(lines)


# -- the long way: Python's decoder walks the page ------------------------------


class HugeNumber:
    """A JSON integer of more digits than Python converts (over 4,300): valid
    JSON, so a record holding one is passed through; as a paging field it is
    not a number segrun can use. As a ProfileId it is its text: two are the
    same id when their digits are."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    @property
    def digits(self) -> int:
        return len(self.text) - self.text.startswith("-")

    def __repr__(self) -> str:
        return f"<a {self.digits:,}-digit number>"

    def __eq__(self, other: object) -> bool:
        return type(other) is HugeNumber and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def _integer(text: str) -> int | HugeNumber:
    if _MAX_DIGITS and len(text) - text.startswith("-") > _MAX_DIGITS:
        return HugeNumber(text)
    return int(text)


#: the decoder for a page holding a number Python will not convert (slower: a
#: Python call per integer, so only for such a page)
_LENIENT = json.JSONDecoder(parse_constant=_not_json, parse_int=_integer)


def _judged(content: bytes) -> Page:
    encoding = json.detect_encoding(content)
    lone = False
    try:
        text = content.decode(encoding)
    except UnicodeDecodeError:
        try:  # a lone surrogate, encoded as if it were a character (JSON's parser takes it)
            text = content.decode(encoding, "surrogatepass")
            lone = True
        except UnicodeDecodeError as e:
            raise PageNotJSON(f"not {encoding.upper()} text: {e}"[:200]) from None
    how = "lone" if lone else encoding
    try:
        try:
            return _walk(text, content, how, _DECODER)
        except ValueError as e:
            if "integer string conversion" not in str(e):
                raise
            return _walk(text, content, how, _LENIENT)
    except RecursionError:
        why = "JSON nested too deeply (over ~1,000 levels)"
        raise PageNotJSON(why, why) from None
    except PageNotJSON:
        raise
    except ValueError as e:  # JSONDecodeError, or a structural error of the walk
        raise PageNotJSON(str(e)[:200]) from None


def _error(text: str, at: int, what: str) -> json.JSONDecodeError:
    return json.JSONDecodeError(what, text, at)


def _walk(text: str, content: bytes, encoding: str, decoder: json.JSONDecoder) -> Page:
    value_at = decoder.raw_decode  # the C scanner: (value, end) of the value at an index
    at = _SPACE(text, 0).end()
    if not text.startswith("{", at):
        value, end = value_at(text, at)  # valid JSON of another shape, or the error
        _end_of_text(text, end)
        return Page({}, None, [], top=type(value).__name__)
    fields: dict = {}
    records_type: str | None = None
    listed = False  # the records field is present and a list
    spans: _Spans = (array("q"), array("q"))
    ids: list = []
    at = _SPACE(text, at + 1).end()
    if text.startswith("}", at):
        _end_of_text(text, at + 1)
        return Page(fields, None, [])
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
                # the decoder's own scanner (C, else Python), which typeshed does not declare
                scan_once = decoder.scan_once  # type: ignore[attr-defined]
                spans, ids, at = _records(text, at, scan_once)
                records_type = None
            else:
                value, at = value_at(text, at)
                spans, ids, records_type = (array("q"), array("q")), [], type(value).__name__
        else:
            value, at = value_at(text, at)
            if name in ENVELOPE:
                fields[name] = value
        at = _SPACE(text, at).end()
        if text.startswith(",", at):
            at = _SPACE(text, at + 1).end()
            continue
        if text.startswith("}", at):
            _end_of_text(text, at + 1)
            break
        raise _error(text, at, "Expecting ',' delimiter")
    page = Page(fields, "list" if listed else records_type, ids)
    if ids:
        _locate(page, text, content, encoding, spans)
    return page


#: each record's [start, end) in the text, as two arrays of character offsets
_Spans = tuple[array, array]


def _records(text: str, at: int, decode: Callable) -> tuple[_Spans, list, int]:
    """Each record of the array at `at`: its span and ProfileId; and the end.

    Each record goes through the C decoder alone, which finds where it ends
    and is the judge of what is JSON; only its ProfileId is kept. (Splitting
    the text by counting braces was tried: proving that no string holds one
    costs more than this.) Spans go to arrays, not tuples: a thousand tuples
    outliving the loop were enough to make the garbage collector walk the
    whole heap every few pages, a third of a page's scan."""
    starts, ends = array("q"), array("q")
    ids: list = []
    at = _SPACE(text, at + 1).end()
    if text.startswith("]", at):
        return (starts, ends), ids, at + 1
    # One record a turn through this loop: everything in it is local, and
    # whitespace is looked for only where there is some (compact pages have none).
    add_start, add_end, add_id, space = starts.append, ends.append, ids.append, _SPACE
    while True:
        try:
            record, end = decode(text, at)
        except StopIteration as e:
            raise _error(text, e.value, "Expecting value") from None
        add_start(at)
        add_end(end)
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
            return (starts, ends), ids, end + 1
        else:
            raise _error(text, end, "Expecting ',' delimiter")


def _end_of_text(text: str, at: int) -> None:
    if _SPACE(text, at).end() != len(text):
        raise _error(text, at, "Extra data")


_LONE = re.compile("[\ud800-\udfff]")


def _escaped(match: re.Match) -> str:
    return f"\\u{ord(match.group()):04x}"


def _locate(page: Page, text: str, content: bytes, encoding: str, spans: _Spans) -> None:
    """Where each record lies in UTF-8 bytes: the body's own when it is UTF-8
    (character offsets are byte offsets when every character is one byte),
    else the records' text encoded once."""
    chars_from, chars_to = spans
    first, last = chars_from[0], chars_to[-1]
    page.breaks = text.find("\n", first, last) >= 0 or text.find("\r", first, last) >= 0
    if len(text) == len(content):  # ASCII: one byte a character
        page.body, page.starts, page.ends = content, chars_from, chars_to
        return
    starts, ends = page.starts, page.ends
    if encoding in ("utf-8", "utf-8-sig"):
        page.body = content
        at = 3 if encoding == "utf-8-sig" else 0  # the byte offset of character `done`
        done = 0
        for a, b in zip(chars_from, chars_to, strict=True):
            at += len(text[done:a].encode("utf-8"))
            starts.append(at)
            at += len(text[a:b].encode("utf-8"))
            ends.append(at)
            done = b
        return
    # UTF-16 or UTF-32: the records' text, in UTF-8 (an export is UTF-8). A lone
    # surrogate ("lone": in any encoding) has no UTF-8 form: it can only stand in a
    # string, where its escape is the same JSON text, so it is written escaped.
    pairs = zip(chars_from, chars_to, strict=True)
    if encoding == "lone":
        pieces = [_LONE.sub(_escaped, text[a:b]).encode("utf-8") for a, b in pairs]
        # A raw high half just before an escaped low half joins it once escaped
        # (JSON has no text for the two apart): the id is what the export says.
        page.ids[:] = [record_id(piece) for piece in pieces]
    else:
        pieces = [text[a:b].encode("utf-8") for a, b in pairs]
    at = 0
    for piece in pieces:
        starts.append(at)
        at += len(piece)
        ends.append(at)
    page.body = b"".join(pieces)
