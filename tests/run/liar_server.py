"""A server on 127.0.0.1 that speaks the export flow and lies about the data.

The sandbox tells the truth by design; these lies are about the records
themselves (repeated, unending, beyond TotalResults), which no fault plan of
the sandbox produces. Auth is not checked: the lies are what is tested.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def record(n: int, **extra) -> dict:
    return {"ProfileId": f"P{n:06d}", "Emails": [{"EmailAddress": f"p{n}@example.com"}], **extra}


class Liar:
    """`mode` picks the lie; `total` is what Status and Retrieve claim."""

    def __init__(self, mode: str, total: int = 25) -> None:
        self.mode = mode
        self.total = total
        self.retrieves = 0
        self.commits = 0
        self.rowcount = total  # what Status says (a liar may say less)

    def page(self, offset: int, limit: int) -> dict:
        self.retrieves += 1
        total, mode = self.total, self.mode
        if mode == "same_records":  # every offset serves the first page again
            records = [record(n) for n in range(1, min(limit, total) + 1)]
            return _page(records, offset, limit, total, offset + limit <= total)
        if mode == "hasmore_forever":  # honest records, but HasMore never turns false
            last = min(offset + limit - 1, total)
            return _page([record(n) for n in range(offset, last + 1)], offset, limit, total, True)
        if mode == "growing_total":  # TotalResults moves ahead of every page
            records = [record(n) for n in range(offset, offset + limit)]
            return _page(records, offset, limit, offset - 1 + 2 * limit, True)
        if mode == "beyond_total":  # a full page where TotalResults says fewer remain
            records = [record(n) for n in range(offset, offset + limit)]
            return _page(records, offset, limit, total, offset + limit <= total)
        if mode == "repeat_in_page":  # the page's last record is its first again
            last = min(offset + limit - 1, total)
            records = [record(n) for n in range(offset, last)] + [record(offset)]
            return _page(records, offset, limit, total, last < total)
        if mode == "surrogates":  # text with no UTF-8 form, sent escaped as JSON allows
            last = min(offset + limit - 1, total)
            records = [
                record(n, Name="lone \ud800 surrogate \udfff") for n in range(offset, last + 1)
            ]
            return _page(records, offset, limit, total, last < total)
        if mode in ("honest", "repeat_last"):  # (with a RowCount that understates)
            last = min(offset + limit - 1, total)
            records = [record(n) for n in range(offset, last + 1)]
            if mode == "repeat_last" and last == total:  # the very last is the first again
                records[-1] = record(1)
            return _page(records, offset, limit, total, last < total)
        raise ValueError(mode)


def _page(records: list, offset: int, limit: int, total: int, more: bool) -> dict:
    return {
        "Count": len(records),
        "HasMore": more,
        "Limit": limit,
        "Offset": offset,
        "TotalResults": total,
        "UserProfilePreferences": records,
    }


@contextlib.contextmanager
def running_liar(mode: str, total: int = 25) -> Iterator[tuple[str, Liar]]:
    liar = Liar(mode, total)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _answer(self, status: int, body: object | None) -> None:
            data = (
                b"" if body is None else json.dumps(body).encode()
            )  # ASCII: \\ud800 stays escaped
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = urlsplit(self.path).path
            if path.endswith("/Commit"):
                liar.commits += 1
                self._answer(200, None)
            else:
                self._answer(200, {"AccessToken": 4242})

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path.endswith("/Status"):
                self._answer(200, {"Status": "Complete", "RowCount": liar.rowcount})
                return
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            self._answer(200, liar.page(int(query["offset"]), int(query["limit"])))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/Profiles/v4/", liar
    finally:
        server.shutdown()
        server.server_close()
