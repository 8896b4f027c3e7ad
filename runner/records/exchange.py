"""One HTTP attempt, redacted and capped once, for every transcript format.

Both transcripts read this view, so they can never disagree about what was
sent, and the costly part (slicing, decoding and scanning a response body)
happens once per attempt.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from runner.apifacts.page import ENVELOPE, RECORDS, Page, PageNotJSON, scan
from runner.redaction.redact import Redactor

_HTTP_VERSIONS = {9: "HTTP/0.9", 10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2"}

# What a transcript keeps of a Retrieve page by default (ENVELOPE, the count of
# RECORDS): the protocol, not the people.
#: `--transcript-bodies`: "envelope" (the default) or "full" (records too, capped)
BODY_MODES = ("envelope", "full")


@dataclass(frozen=True)
class Body:
    """A body as text, cut to the cap; `size` is the true size in bytes."""

    text: str
    size: int
    shown: int  # bytes of the original body the text stands for
    mime_type: str
    note: str | None = None  # why the body is not (all) there, if not the cap

    @property
    def truncated(self) -> bool:
        return self.shown < self.size


@dataclass(frozen=True)
class Exchange:
    started: dt.datetime
    elapsed_s: float
    job: str | None
    call: str | None
    attempt: int
    method: str
    url: str
    http_version: str
    request_headers: list[tuple[str, str]]
    request_body: Body | None
    status: int  # 0: no (complete) response
    reason: str
    response_headers: list[tuple[str, str]]
    response_body: Body | None
    response_wire_size: int  # bytes on the wire, -1 when unknown
    wait_s: float
    error: str | None
    note: str | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc


def capture(
    redactor: Redactor,
    body_cap: int,
    request: requests.PreparedRequest,
    response: requests.Response | None,
    error: BaseException | None,
    started: dt.datetime,
    elapsed_s: float,
    job: str | None,
    call: str | None,
    attempt: int,
    note: str | None = None,
    bodies: str = "envelope",
    page: Callable[[], Page] | None = None,
) -> Exchange:
    if started.tzinfo is None:
        started = started.replace(tzinfo=dt.timezone.utc)
    request_headers = redactor.headers((_str(k), _str(v)) for k, v in request.headers.items())
    request_body = _request_body(redactor, body_cap, request.body, request.headers)
    if bodies != "full" and call == "initiate" and request_body is not None:
        request_body = _without_values(request_body)

    failed = error is not None or response is None
    status, reason, version = 0, "", "HTTP/1.1"
    response_headers: list[tuple[str, str]] = []
    response_body: Body | None = None
    wire_size = -1
    wait_s = elapsed_s
    if response is not None and not failed:
        status, reason = response.status_code, response.reason or ""
        raw = response.raw
        version = _HTTP_VERSIONS.get(getattr(raw, "version", 11), "HTTP/1.1")
        response_headers = redactor.headers(_raw_headers(response))
        content = _content(response)
        if content is None:
            response_body = _unread_body(response.headers)
        elif bodies != "full" and call == "retrieve" and 200 <= status < 300:
            response_body = _envelope(response, content, page)
            wire_size = _wire_size(response, len(content))
        else:
            response_body = _response_body(redactor, body_cap, content, response.headers)
            wire_size = _wire_size(response, len(content))
        if response.elapsed is not None:
            wait_s = min(response.elapsed.total_seconds(), elapsed_s)

    error_text = None
    if failed:
        # urllib3's messages quote the URL, query string and all.
        error_text = (
            redactor.body(f"{type(error).__name__}: {error}")
            if error is not None
            else "no response"
        )
    return Exchange(
        started=started,
        elapsed_s=max(elapsed_s, 0.0),
        job=job,
        call=call,
        attempt=attempt,
        method=request.method or "GET",
        url=redactor.url(request.url or ""),
        http_version=version,
        request_headers=request_headers,
        request_body=request_body,
        status=status,
        reason=redactor.scan(reason),
        response_headers=response_headers,
        response_body=response_body,
        response_wire_size=wire_size,
        wait_s=max(wait_s, 0.0),
        error=error_text,
        note=redactor.scan(note) if note else None,
    )


def _str(value: str | bytes) -> str:
    # requests accepts bytes header names and values and sends them as latin-1.
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _content(response: requests.Response) -> bytes | None:
    """The body the caller read, or None if it streamed it elsewhere.

    Never `response.content` on an unread stream: that would read the whole
    body here, behind the caller's back.
    """
    if response._content is False:  # requests' marker for "not read yet"
        return None
    return response._content or b""


def _unread_body(headers) -> Body:
    length = headers.get("Content-Length", "")
    return Body(
        text="",
        size=int(length) if length.isdigit() else 0,
        shown=0,
        mime_type=headers.get("Content-Type", "") or "",
        note="body streamed by the caller, not recorded",
    )


def _raw_headers(response: requests.Response) -> list[tuple[str, str]]:
    # urllib3's headers keep repeated fields (Set-Cookie) apart; requests' merge them.
    raw_headers = getattr(response.raw, "headers", None)
    if raw_headers is not None and hasattr(raw_headers, "getlist"):
        return [(name, value) for name in raw_headers for value in raw_headers.getlist(name)]
    return list(response.headers.items())


def _request_body(redactor: Redactor, cap: int, body: object, headers) -> Body | None:
    if body is None:
        return None
    mime = headers.get("Content-Type", "") or ""
    if isinstance(body, str):
        data = body.encode("utf-8")
    elif isinstance(body, (bytes, bytearray)):
        data = bytes(body)
    else:  # a file or generator: reading it here would consume the upload
        return Body(text="", size=0, shown=0, mime_type=mime, note="streamed body, not recorded")
    # Request bodies are small and carry secrets (client_secret): redact all of it.
    text = redactor.body(data.decode("utf-8", errors="replace"))
    shown = len(data)
    if len(text) > cap:
        text, shown = text[:cap], cap
    return Body(text=text, size=len(data), shown=shown, mime_type=mime)


def _response_body(redactor: Redactor, cap: int, content: bytes, headers) -> Body:
    mime = headers.get("Content-Type", "") or ""
    size = len(content)
    charset = _charset(mime, content)
    if size <= cap:
        text = redactor.body(content.decode(charset, errors="replace"))
    else:  # scanned past the cap, so a secret straddling the cut is still found
        window = content[: cap + 2 * redactor.longest_form]
        text = redactor.head(window.decode(charset, errors="replace"), cap, complete=False)
    return Body(text=text, size=size, shown=min(size, cap), mime_type=mime)


def _without_values(body: Body) -> Body:
    """An Initiate body without its `Values` (the e-mails, phone numbers or ids a
    job matches on): the count stays, the people go."""
    try:
        sent = json.loads(body.text)
    except ValueError:
        return body
    if not isinstance(sent, dict) or not isinstance(sent.get("Values"), list):
        return body
    count = len(sent["Values"])
    sent["Values"] = f"<{count} values: not kept>"
    note = f"{count} Values not kept (--transcript-bodies full keeps them)"
    return Body(json.dumps(sent, ensure_ascii=False), body.size, 0, body.mime_type, note)


def _envelope(
    response: requests.Response, content: bytes, scanned: Callable[[], Page] | None = None
) -> Body:
    """A Retrieve page without its records: the paging fields, how many records
    there were and how big the body was. Records are personal data, and a
    transcript is for debugging the protocol."""
    mime = response.headers.get("Content-Type", "") or ""
    size = len(content)
    try:  # the client's scan when it has one: a page is scanned once
        page = scanned() if scanned is not None else scan(content)
    except (PageNotJSON, RecursionError):
        page = None
    if page is None or page.top != "dict":
        note = f"a {size}-byte body that is not a JSON object; not kept (--transcript-bodies full)"
        return Body(text="", size=size, shown=0, mime_type=mime, note=note)
    kept = {name: _small(page.fields[name]) for name in ENVELOPE if name in page.fields}
    count = page.count if page.records_type == "list" else None
    if page.records_type is not None:
        kept[RECORDS] = f"<{count if count is not None else 'not a list of'} records: not kept>"
    note = (
        f"{count if count is not None else 'no list of'} records in a {size}-byte body; "
        "records not kept (--transcript-bodies full keeps them)"
    )
    text = json.dumps(kept, ensure_ascii=False)
    return Body(text=text, size=size, shown=0, mime_type=mime, note=note)


def _small(value: object) -> object:
    """An envelope field as is when it is a scalar; anything else (a server
    putting records where a count belongs) only as its type."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str) and len(value) <= 64:
        return value
    return f"<{type(value).__name__}: not kept>"


#: a byte-order mark says the encoding, whatever the header says (WHATWG's rule)
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def _charset(mime: str, content: bytes = b"") -> str:
    """The body's encoding: its byte-order mark, else the header's charset, else
    UTF-16 when the start is ASCII with a NUL beside every character (RFC 4627's
    way to tell), else UTF-8. Not response.text: without a charset it runs
    chardet over the whole body."""
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            return encoding
    for part in mime.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            try:
                "".encode(value.strip('"'))
                return value.strip('"')
            except LookupError:
                break
    start = content[:64]
    if len(start) >= 4 and not start[1::2].strip(b"\x00") and start[0::2].strip(b"\x00"):
        return "utf-16-le"
    if len(start) >= 4 and not start[0::2].strip(b"\x00") and start[1::2].strip(b"\x00"):
        return "utf-16-be"
    return "utf-8"


def _wire_size(response: requests.Response, decoded: int) -> int:
    if not response.headers.get("Content-Encoding"):
        return decoded
    length = response.headers.get("Content-Length", "")
    return int(length) if length.isdigit() else -1
