"""`transcript.har`: a HAR 1.2 file that is complete after every attempt.

The file always ends in the trailer that closes the `entries` array; a new
entry is written over that trailer and the trailer written again after it.
So a run killed at any moment leaves at worst one torn entry at the end, which
`HarFile(..., resume=True)` cuts off before carrying on. Each entry is one
line, which is what makes finding the torn one cheap.

Entries are grouped by job as HAR `pages`: one page per job (id = the job's
name), named by each of its entries' `pageref`. The pages are known only as
jobs start, so they live in the trailer, after `entries` (one line, starting
with `]`, rewritten with every entry; key order means nothing in JSON). Jobs
in flight at once interleave their entries; each entry is still written whole.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from runner import __version__
from runner.errors import SegrunError
from runner.records.exchange import Body, Exchange
from runner.redaction.sink import Sink
from runner.system import strict_json

HEADER_TEXT = (
    '{"log": {"version": "1.2", '
    f'"creator": {{"name": "segrun", "version": {json.dumps(__version__)}}}, '
    '"entries": [\n'
)
HEADER = HEADER_TEXT.encode()
TRAILER_TEXT = "\n]}}\n"
TRAILER = TRAILER_TEXT.encode()  # the trailer of a transcript with no pages
_SEPARATOR = ",\n"


class TranscriptError(SegrunError):
    """The file to resume is not a segrun HAR transcript; refusing to touch it."""


class HarFile:
    """Appends entries to a HAR file without holding them in memory; every
    byte goes through the sink's redactor."""

    def __init__(
        self, path: Path, sink: Sink, *, resume: bool = False, fsync: bool = False
    ) -> None:
        self.path = Path(path)
        self._fsync = fsync
        self._count = 0
        #: HAR pages by id (a job's name), in the order the jobs started
        self._pages: dict[str, dict] = {}
        if resume and self.path.exists() and self.path.stat().st_size > 0:
            self._file = sink.open_log(self.path, "r+b")
            self._count, end = _repair(self._file, self.path)
            self._pages = _pages_kept(self._file, self._count, end, self.path)
            self._file.seek(end)
            self._file.truncate()
            trailer = self._file.write(self._trailer())
        else:
            self._file = sink.open_log(self.path, "w+b")
            self._file.write(HEADER_TEXT)
            trailer = self._file.write(self._trailer())
        self._end = self._file.tell() - trailer
        self._sync()

    @property
    def entries(self) -> int:
        return self._count

    def append(self, exchange: Exchange) -> None:
        record = entry(exchange)
        job = exchange.job
        if job is not None:
            if job not in self._pages:
                self._pages[job] = page(job, record["startedDateTime"])
            record["pageref"] = job
        self._file.seek(self._end)
        if self._count:
            self._end += self._file.write(_SEPARATOR)
        self._end += self._file.write_json_line(record)
        self._file.write(self._trailer())
        self._file.truncate()  # never shorter today; a stale tail would be worse
        self._count += 1
        self._sync()

    def _trailer(self) -> str:
        if not self._pages:
            return TRAILER_TEXT
        pages = strict_json.dumps(list(self._pages.values()), ensure_ascii=False)
        return f'\n], "pages": {pages}}}}}\n'  # one line, starting with "]"

    def close(self) -> None:
        if not self._file.closed:
            self._sync()
            self._file.close()

    def _sync(self) -> None:
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())


def page(job: str, started: str) -> dict:
    """A HAR 1.2 page for one job: started when its first request did."""
    return {"startedDateTime": started, "id": job, "title": f"job {job}", "pageTimings": {}}


def entry(x: Exchange) -> dict:
    """A HAR 1.2 entry with every required field; segrun's own facts go in `_` fields."""
    total_ms = round(x.elapsed_s * 1000, 3)
    wait_ms = round(min(x.wait_s * 1000, total_ms), 3)
    request: dict = {
        "method": x.method,
        "url": x.url,
        "httpVersion": x.http_version,
        "cookies": [],
        "headers": _headers(x.request_headers),
        "queryString": [
            {"name": k, "value": v}
            for k, v in parse_qsl(urlsplit(x.url).query, keep_blank_values=True)
        ],
        "headersSize": -1,
        "bodySize": x.request_body.size if x.request_body else 0,
    }
    if x.request_body is not None:
        request["postData"] = {"mimeType": x.request_body.mime_type, "text": x.request_body.text}
        if x.request_body.truncated or x.request_body.note:
            request["postData"]["comment"] = _cut_note(x.request_body)
    content: dict = {"size": 0, "mimeType": "", "text": ""}
    if x.response_body is not None:
        content = {
            "size": x.response_body.size,
            "mimeType": x.response_body.mime_type,
            "text": x.response_body.text,
        }
        if x.response_body.truncated or x.response_body.note:
            content["comment"] = _cut_note(x.response_body)
    record: dict = {
        "startedDateTime": x.started.isoformat(timespec="milliseconds"),
        "time": total_ms,
        "request": request,
        "response": {
            "status": x.status,
            "statusText": x.reason,
            "httpVersion": x.http_version,
            "cookies": [],
            "headers": _headers(x.response_headers),
            "content": content,
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": x.response_wire_size if x.response_body is not None else 0,
        },
        "cache": {},
        "timings": {"send": 0, "wait": wait_ms, "receive": round(total_ms - wait_ms, 3)},
        "_job": x.job,
        "_call": x.call,
        "_attempt": x.attempt,
    }
    if x.error is not None:
        record["_error"] = x.error
    if x.note:
        record["comment"] = x.note
    return record


def _headers(items: list[tuple[str, str]]) -> list[dict]:
    return [{"name": name, "value": value} for name, value in items]


def _cut_note(body: Body) -> str:
    if body.note:
        return body.note
    return f"truncated by segrun: first {body.shown} of {body.size} bytes kept"


def _repair(f, path: Path) -> tuple[int, int]:
    """Entries kept and the offset just past the last complete one.

    Only the tail can be torn (the file is only ever appended to), so lines are
    indexed forward and checked backwards until one parses; every line before that one
    must be strict JSON (`_refuse_foreign_lines`).
    """
    f.seek(0)
    first = f.readline()
    if not first.startswith(b'{"log": {') or not first.endswith(b'"entries": [\n'):
        if HEADER.startswith(first) and not f.read(1):
            # Killed while writing the header: nothing was recorded yet.
            f.seek(0)
            return 0, f.write(HEADER_TEXT)
        raise TranscriptError(f"{path} is not a segrun HAR transcript; not resuming it")
    lines: list[tuple[int, int]] = []  # (start, end without the newline)
    pos = len(first)
    for line in f:
        lines.append((pos, pos + len(line.rstrip(b"\r\n"))))
        pos += len(line)
    for index in range(len(lines) - 1, -1, -1):
        start, end = lines[index]
        f.seek(start)
        text = f.read(end - start)
        if text.endswith(b","):
            text, end = text[:-1], end - 1
        if not text.startswith(b"{"):
            continue  # the trailer, or part of it
        try:
            strict_json.loads(text)
        except strict_json.NotStrictJSON as e:
            raise _foreign(path, index + 2, e) from None
        except ValueError:
            continue  # the torn entry
        _refuse_foreign_lines(f, path, lines[:index])
        return index + 1, end
    return 0, len(first)


def _refuse_foreign_lines(f, path: Path, lines: list[tuple[int, int]]) -> None:
    """TranscriptError when an entry before the last whole one is not strict JSON: a
    crash tears only the last line, so any other that does not parse (or holds NaN,
    1e999, nesting thousands deep) was edited or is foreign, and a resumed run appending
    to it would leave a file no reader takes. One pass, a line at a time."""
    for index, (start, end) in enumerate(lines):
        f.seek(start)
        text = f.read(end - start)
        try:
            strict_json.loads(text.removesuffix(b","))
        except ValueError as e:
            raise _foreign(path, index + 2, e) from None


def _foreign(path: Path, line: int, why: Exception) -> TranscriptError:
    return TranscriptError(
        f"{path}: line {line}: {why}: not a transcript segrun wrote; not resuming it "
        "(move it away to resume without it)"
    )


def _pages_kept(f, count: int, end: int, path: Path) -> dict[str, dict]:
    """The pages of a transcript being resumed: from its trailer when that is
    whole, else rebuilt from its entries (a page starts with its first entry)."""
    f.seek(end)
    rest = f.read().decode("utf-8", "replace")
    try:
        kept = strict_json.loads('{"entries": [' + rest.rstrip("\n").removesuffix("}"))
        listed = kept.get("pages", []) if isinstance(kept, dict) else None
        if isinstance(listed, list) and all(isinstance(p, dict) and "id" in p for p in listed):
            return {p["id"]: p for p in listed}
    except strict_json.NotStrictJSON as e:
        raise _foreign(path, count + 2, e) from None
    except ValueError:
        pass
    pages: dict[str, dict] = {}
    if not count:
        return pages
    f.seek(0)
    f.readline()
    for _ in range(count):
        line = f.readline().rstrip(b"\r\n").removesuffix(b",")
        try:
            record = strict_json.loads(line)
        except ValueError:
            continue
        ref = record.get("pageref") if isinstance(record, dict) else None
        if isinstance(ref, str) and ref not in pages:
            pages[ref] = page(ref, record.get("startedDateTime", ""))
    return pages
