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

REQUEST_PREFIX = b"< "
RESPONSE_PREFIX = b"> "


class TextFile:
    """Appends one block per attempt; flushed per attempt so `tail -f` works."""

    def __init__(self, path: Path, *, resume: bool = False, fsync: bool = False) -> None:
        self.path = Path(path)
        self._fsync = fsync
        self._file = open(self.path, "ab" if resume else "wb")  # noqa: SIM115
        if resume and self._file.tell() > 0:
            # A killed run may have left half a block; say where the new run starts.
            now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            self._file.write(
                f"\n=== resumed {now} (the block above may be cut short) ===\n\n".encode()
            )

    def append(self, x: Exchange) -> None:
        self._file.write(render(x))
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def render(x: Exchange) -> bytes:
    out = bytearray(_title(x).encode())
    out += _request(x)
    if x.error is not None:
        out += RESPONSE_PREFIX + f"[no response] {x.error}\r\n".encode()
    else:
        out += _response(x)
    out += b"\n\n"
    return bytes(out)


def _title(x: Exchange) -> str:
    note = f"note: {x.note}\n" if x.note else ""
    return (
        f"=== {x.started.isoformat(timespec='milliseconds')} job={x.job or '-'} "
        f"call={x.call or '-'} attempt={x.attempt} ({x.elapsed_s * 1000:.1f} ms) ===\n{note}"
    )


def _request(x: Exchange) -> bytes:
    p = REQUEST_PREFIX
    uri = urlsplit(x.url)
    path = uri.path + (f"?{uri.query}" if uri.query else "")
    out = bytearray(p + f"{x.method} {path} HTTP/1.1\r\n".encode())
    headers = list(x.request_headers)
    host = next((v for k, v in headers if k.lower() == "host"), uri.netloc)
    out += p + f"Host: {host}\r\n".encode()
    for name, value in headers:
        if name.lower() != "host":
            out += p + f"{name}: {value}\r\n".encode()
    out += p + b"\r\n"
    if x.request_body is not None:
        if x.request_body.text:
            out += p + x.request_body.text.encode("utf-8", "replace") + b"\r\n"
        out += _cut_line(p, x.request_body)
    out += b"\r\n"
    return bytes(out)


def _response(x: Exchange) -> bytes:
    p = RESPONSE_PREFIX
    out = bytearray(p + f"{x.http_version} {x.status} {x.reason}\r\n".encode())
    for name, value in x.response_headers:
        out += p + f"{name}: {value}\r\n".encode()
    out += p + b"\r\n"
    if x.response_body is not None:
        out += x.response_body.text.encode("utf-8", "replace")
        if x.response_body.truncated or x.response_body.note:
            out += b"\r\n" + _cut_line(p, x.response_body)
    return bytes(out)


def _cut_line(prefix: bytes, body: Body) -> bytes:
    if body.note:
        return prefix + f"[{body.note}]\r\n".encode()
    if not body.truncated:
        return b""
    return prefix + f"[truncated: first {body.shown} of {body.size} bytes shown]\r\n".encode()
