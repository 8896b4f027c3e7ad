"""HTTP/1.1 transport: keep-alive connections, one thread each, and the faults
that live in the transport itself (a dropped connection, a truncated body)."""

from __future__ import annotations

import email.utils
import socket
import sys
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from runner.sandbox.replies import Reply

# (method, path, query, headers, body, client ip) -> Reply
Handler = Callable[[str, str, str, dict[str, str], bytes, str], Reply]


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not hold up a shutdown
    allow_reuse_address = True
    #: once bound, the socket's own name (getsockname), whose host is text
    server_address: tuple[str, int] | tuple[str, int, int, int]

    def __init__(
        self, address: tuple[str, int], handle: Handler, clock: Callable[[], float] = time.time
    ) -> None:
        self.handle_request_fn = handle
        self.clock = clock  # the Date header tells the sandbox's time, as a server's does
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _RequestHandler)

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up (killed, timed out) is routine for a simulator
        rehearsing failures: no traceback. Anything else is a sandbox bug: say so."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "segrun-sandbox"
    server: SandboxHTTPServer
    #: the stdlib's own buffer of the reply's head (send_header fills it), not in typeshed
    _headers_buffer: list[bytes]

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self) -> str:
        return self.server_version

    def date_time_string(self, timestamp: float | None = None) -> str:
        return email.utils.formatdate(
            self.server.clock() if timestamp is None else timestamp, usegmt=True
        )

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # a quiet server; the counters say what happened

    def _serve(self) -> None:
        length = self.headers.get("Content-Length")
        try:
            body = self.rfile.read(int(length)) if length else b""
        except ValueError:
            self.send_error(400, "Bad Content-Length")
            return
        url = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.handle_request_fn(
            self.command, url.path, url.query, headers, body, self.client_address[0]
        )
        if reply.transport == "drop":
            self._hang_up()
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.body and "Content-Type" not in reply.headers:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(reply.body)))
        # Headers and body in one write: two small writes on a keep-alive
        # connection meet Nagle and delayed ACKs, 40 ms a request.
        truncate = reply.transport == "truncate"
        body = b"" if self.command == "HEAD" else reply.body
        self._headers_buffer.append(b"\r\n")
        self._headers_buffer.append(body[: len(body) // 2] if truncate else body)
        self.flush_headers()
        if truncate:
            self._hang_up()

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def __getattr__(self, name: str) -> Callable[[], None]:
        # Every method reaches the router, so TRACE or PROPFIND get the JSON 405.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)
