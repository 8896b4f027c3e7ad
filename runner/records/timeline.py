"""Each job's calls, read from transcript.har as a stream, folded into a timeline.

A 10,000-page export has 10,000 entries; the timeline keeps a bounded number
of bands per call (adjacent bands merge when there are too many), so memory
and the HTML stay small whatever the run's size. Failed attempts and the waits
after them are kept one by one (up to a cap, the rest counted), because they
are what a person looks for.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from runner.system import strict_json
from runner.system.numbers import MAX_COUNT, MAX_SECONDS, number_problem

#: bands kept per call and job; past it, adjacent bands merge pairwise
MAX_BANDS = 48
#: failed attempts kept per job with their details; the rest are only counted
MAX_FAILURES = 200
#: a line longer than this has its response body cut out before parsing
_LONG_LINE = 4096
_CONTENT = b'"content": {'
_AFTER_CONTENT = b', "redirectURL": '


@dataclass
class Band:
    """Consecutive successful attempts of one call."""

    start: float
    end: float
    count: int = 1
    first_offset: int | None = None
    last_offset: int | None = None
    first_status: str | None = None  # Status polls: what the server said
    last_status: str | None = None


@dataclass
class Failure:
    """An attempt that did not succeed, and how long segrun waited after it."""

    start: float
    end: float
    call: str
    attempt: int
    answer: str  # "HTTP 503" or the transport error
    message: str | None
    offset: int | None
    wait: float | None = None  # None: no later attempt of this job followed


@dataclass
class JobTimeline:
    start: float
    end: float
    bands: dict[str, list[Band]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    failures_total: int = 0
    attempts: int = 0
    #: the last successful Initiate's start (the watermark a last_success job stores)
    initiated: float | None = None
    _last_ok_call: str | None = None
    _pending: Failure | None = None
    #: attempts a band of each call holds before the next begins (doubles as bands merge)
    _per_band: dict[str, int] = field(default_factory=dict)

    def add(self, entry: dict) -> None:
        start = _epoch(entry["startedDateTime"])
        end = start + float(entry.get("time") or 0) / 1000
        call = str(entry.get("_call") or "?")
        self.start, self.end = min(self.start, start), max(self.end, end)
        self.attempts += 1
        if self._pending is not None:
            self._pending.wait = max(0.0, start - self._pending.end)
            self._pending = None
        response = entry.get("response") or {}
        status = response.get("status") or 0
        offset = _offset(entry)
        if entry.get("_error") or not 200 <= status < 300:
            self._last_ok_call = None
            self.failures_total += 1
            if len(self.failures) < MAX_FAILURES:
                failure = Failure(
                    start,
                    end,
                    call,
                    int(entry.get("_attempt") or 1),
                    str(entry["_error"]) if entry.get("_error") else f"HTTP {status}",
                    _message(response),
                    offset,
                )
                self.failures.append(failure)
                self._pending = failure
            return
        if call == "initiate":
            self.initiated = start
        polled = _status_value(response) if call == "status" else None
        bands = self.bands.setdefault(call, [])
        per_band = self._per_band.setdefault(call, 1)
        if self._last_ok_call == call and bands and bands[-1].count < per_band:
            band = bands[-1]
            band.end, band.count = end, band.count + 1
            band.last_offset = offset if offset is not None else band.last_offset
            band.last_status = polled or band.last_status
        else:
            bands.append(Band(start, end, 1, offset, offset, polled, polled))
            if len(bands) > MAX_BANDS:
                bands[:] = _halve(bands)
                self._per_band[call] = per_band * 2
        self._last_ok_call = call


class TranscriptUnreadable(ValueError):
    """A whole entry of the transcript holds what segrun never writes (a number out of
    range: NaN, 1e999, a duration of centuries): the file was edited or is foreign. A
    torn last line, which a crash leaves, is skipped instead."""


def read_timelines(har: Path) -> dict[str, JobTimeline]:
    """Every job's timeline from a HAR transcript segrun wrote (one entry a line).
    TranscriptUnreadable, naming the file and the line, for an entry whose numbers no
    transcript segrun writes holds."""
    jobs: dict[str, JobTimeline] = {}
    for number, entry in _entries(har):
        name = entry.get("_job")
        if not isinstance(name, str) or "startedDateTime" not in entry:
            continue
        problem = _numbers_problem(entry)
        if problem:
            raise TranscriptUnreadable(
                f"{har}: line {number}: {problem}: not a transcript segrun wrote"
            )
        try:
            start = _epoch(entry["startedDateTime"])
        except (TypeError, ValueError, OverflowError):
            continue
        timeline = jobs.get(name)
        if timeline is None:
            timeline = jobs[name] = JobTimeline(start, start)
        timeline.add(entry)
    return jobs


def _numbers_problem(entry: dict) -> str | None:
    """Why an entry's numbers are none segrun writes, or None: its time is a duration
    in milliseconds, its status an HTTP status, its attempt a count."""
    response = entry.get("response")
    status = response.get("status", 0) if isinstance(response, dict) else 0
    checks = (
        ("time", entry.get("time", 0), 0, MAX_SECONDS * 1000),
        ("status", status, 0, 999),
        ("_attempt", entry.get("_attempt", 1), 0, MAX_COUNT),
    )
    for name, value, low, high in checks:
        if value is None:
            continue
        problem = number_problem(value, low=low, high=high, integer=name != "time")
        if problem:
            return f"{name} {problem}"
    return None


def _entries(har: Path) -> Iterator[tuple[int, dict]]:
    """HAR entries one line at a time, with their line numbers; a torn or foreign line
    is skipped, a whole one holding a number out of range is TranscriptUnreadable.

    A long line's response body is cut out before parsing: it is the bulk of
    the file and the timeline never needs a successful page's records. The
    cut is found by markers that cannot occur inside a JSON string (each
    starts with an unescaped quote), so it never lands inside the body.
    """
    try:  # a FIFO or device planted as the transcript must not hang the report
        fd = os.open(har, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return
    f = os.fdopen(fd, "rb")
    with f:
        for number, raw in enumerate(f, 1):
            line = raw.rstrip(b"\r\n")
            if line.endswith(b","):
                line = line[:-1]
            if not line.startswith(b'{"startedDateTime"'):
                continue
            if len(line) > _LONG_LINE:
                stop = line.rfind(_AFTER_CONTENT)
                begin = line.rfind(_CONTENT, 0, stop) if stop > 0 else -1
                status_at = line.rfind(b'"status": ', 0, begin)
                if begin > 0 and status_at > 0 and line[status_at + 10 : status_at + 11] == b"2":
                    line = line[: begin + len(_CONTENT)] + b"}" + line[stop:]
            try:
                entry = strict_json.loads(line)
            except strict_json.NotStrictJSON as e:
                raise TranscriptUnreadable(
                    f"{har}: line {number}: {e}: not a transcript segrun wrote"
                ) from None
            except ValueError:
                continue
            if isinstance(entry, dict):
                yield number, entry


def _halve(bands: list[Band]) -> list[Band]:
    merged = []
    for i in range(0, len(bands), 2):
        pair = bands[i : i + 2]
        first, last = pair[0], pair[-1]
        merged.append(
            Band(
                first.start,
                last.end,
                sum(b.count for b in pair),
                first.first_offset,
                last.last_offset,
                first.first_status,
                last.last_status,
            )
        )
    return merged


def _epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def _offset(entry: dict) -> int | None:
    url = (entry.get("request") or {}).get("url") or ""
    for name, value in parse_qsl(urlsplit(str(url)).query):
        if name == "offset" and value.isdecimal() and len(value) <= 16:
            return int(value)
    return None


def _message(response: dict) -> str | None:
    text = (response.get("content") or {}).get("text")
    if not isinstance(text, str) or not text:
        return None
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):  # the server's words, whatever they are
        return text[:200]
    if isinstance(body, dict) and isinstance(body.get("Message"), str):
        return body["Message"][:300]
    return text[:200]


def _status_value(response: dict) -> str | None:
    text = (response.get("content") or {}).get("text")
    try:
        body = json.loads(text) if isinstance(text, str) else None
    except (ValueError, RecursionError):
        return None
    value = body.get("Status") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None
