"""A server on 127.0.0.1 that speaks the export flow and answers Retrieve with
whatever bytes a test's `page(offset, limit)` returns: the attacks of issue 12
are about the bytes of a page, not its decoded value."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

#: (status, body bytes, extra headers)
Answer = tuple[int, bytes, dict]


def envelope(records: list[bytes], offset: int, limit: int, total: int, more: bool) -> bytes:
    """A page whose records are the given raw bytes, unchanged."""
    head = json.dumps(
        {
            "Count": len(records),
            "HasMore": more,
            "Limit": limit,
            "Offset": offset,
            "TotalResults": total,
        }
    )[:-1].encode()
    return head + b', "UserProfilePreferences": [' + b",".join(records) + b"]}"


class Raw:
    def __init__(self, page: Callable[[int, int], Answer], rowcount: int) -> None:
        self.page = page
        self.rowcount = rowcount
        self.retrieves: list[tuple[int, int]] = []
        self.commits = 0
        self.lock = threading.Lock()


@contextlib.contextmanager
def running_raw(page: Callable[[int, int], Answer], rowcount: int) -> Iterator[tuple[str, Raw]]:
    raw = Raw(page, rowcount)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _answer(self, status: int, data: bytes, headers: dict | None = None) -> None:
            self.send_response(status)
            headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if urlsplit(self.path).path.endswith("/Commit"):
                raw.commits += 1
                self._answer(200, b"")
            else:
                self._answer(200, b'{"AccessToken": 4242}')

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path.endswith("/Status"):
                self._answer(
                    200, json.dumps({"Status": "Complete", "RowCount": raw.rowcount}).encode()
                )
                return
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            offset, limit = int(query["offset"]), int(query["limit"])
            with raw.lock:
                raw.retrieves.append((offset, limit))
            status, body, headers = raw.page(offset, limit)
            self._answer(status, body, headers)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/Profiles/v4/", raw
    finally:
        server.shutdown()
        server.server_close()
