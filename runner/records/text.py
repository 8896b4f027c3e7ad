"""`transcript.txt`: the attempts as a person reads them.

The layout is requests-toolbelt's `dump_response` (`< ` request lines, `> `
response lines, CRLF after each header) so it reads like what people already
know, but it is built from the redacted `Exchange`, never from the live
request, and it can show an attempt that got no response.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from urllib.parse import urlsplit

from runner.records.exchange import Body, Exchange
from runner.redaction.sink import Sink

REQUEST_PREFIX = "< "
RESPONSE_PREFIX = "> "


class TextFile:
    """Appends one block per attempt; flushed per attempt so `tail -f` works."""

    def __init__(
        self, path: Path, sink: Sink, *, resume: bool = False, fsync: bool = False
    ) -> None:
        self.path = Path(path)
        self._fsync = fsync
        self._file = sink.open_log(self.path, "ab" if resume else "wb")
        self._file.seek(0, os.SEEK_END)
        if resume and self._file.tell() > 0:
            # A killed run may have left half a block; say where the new run starts.
            now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            self._file.write(f"\n=== resumed {now} (the block above may be cut short) ===\n\n")

    def append(self, x: Exchange) -> None:
        self._file.write(render(x))
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def render(x: Exchange) -> str:
    out = _title(x) + _request(x)
    if x.error is not None:
        out += RESPONSE_PREFIX + f"[no response] {x.error}\r\n"
    else:
        out += _response(x)
    return out + "\n\n"


def _title(x: Exchange) -> str:
    note = f"note: {x.note}\n" if x.note else ""
    return (
        f"=== {x.started.isoformat(timespec='milliseconds')} job={x.job or '-'} "
        f"call={x.call or '-'} attempt={x.attempt} ({x.elapsed_s * 1000:.1f} ms) ===\n{note}"
    )


def _request(x: Exchange) -> str:
    p = REQUEST_PREFIX
    uri = urlsplit(x.url)
    path = uri.path + (f"?{uri.query}" if uri.query else "")
    out = p + f"{x.method} {path} HTTP/1.1\r\n"
    headers = list(x.request_headers)
    host = next((v for k, v in headers if k.lower() == "host"), uri.netloc)
    out += p + f"Host: {host}\r\n"
    for name, value in headers:
        if name.lower() != "host":
            out += p + f"{name}: {value}\r\n"
    out += p + "\r\n"
    if x.request_body is not None:
        if x.request_body.text:
            out += p + x.request_body.text + "\r\n"
        out += _cut_line(p, x.request_body)
    return out + "\r\n"


def _response(x: Exchange) -> str:
    p = RESPONSE_PREFIX
    out = p + f"{x.http_version} {x.status} {x.reason}\r\n"
    for name, value in x.response_headers:
        out += p + f"{name}: {value}\r\n"
    out += p + "\r\n"
    if x.response_body is not None:
        out += x.response_body.text
        if x.response_body.truncated or x.response_body.note:
            out += "\r\n" + _cut_line(p, x.response_body)
    return out


def _cut_line(prefix: str, body: Body) -> str:
    if body.note:
        return prefix + f"[{body.note}]\r\n"
    if not body.truncated:
        return ""
    return prefix + f"[truncated: first {body.shown} of {body.size} bytes shown]\r\n"
