"""HTTP/1.1 transport: keep-alive connections, one thread each, and the faults
that live in the transport itself (a dropped connection, a truncated body).

No client can hold the server: a connection silent for `idle_timeout` seconds
(between requests or in the middle of one) is closed, at most
`max_connections` are served at once, and when the process runs out of file
descriptors the server waits a moment before it accepts again, closing the
connection idle the longest, instead of spinning on a listening socket that
stays ready while `accept` fails.
"""

from __future__ import annotations

import contextlib
import email.utils
import errno
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from runner.sandbox.replies import Reply

# (method, path, query, headers, body, client ip) -> Reply
Handler = Callable[[str, str, str, dict[str, str], bytes, str], Reply]

#: seconds a connection may send nothing, or take to take an answer, before it is closed
DEFAULT_IDLE_TIMEOUT = 60.0
#: connections served at once, one thread each; more wait in the listen queue
DEFAULT_MAX_CONNECTIONS = 256
#: what `accept` says when the process or the system has no descriptor to spare
_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
#: seconds between tries to accept while out of descriptors: the first, and the most
_FIRST_PAUSE, _LONGEST_PAUSE = 0.05, 1.0
#: seconds the accept loop waits for a free slot before it looks at the socket again
_SLOT_WAIT = 0.5


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not hold up a shutdown
    allow_reuse_address = True
    request_queue_size = 128  # clients beyond max_connections wait here, not refused
    #: once bound, the socket's own name (getsockname), whose host is text
    server_address: tuple[str, int] | tuple[str, int, int, int]

    def __init__(
        self,
        address: tuple[str, int],
        handle: Handler,
        clock: Callable[[], float] = time.time,
        *,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        self.handle_request_fn = handle
        self.clock = clock  # the Date header tells the sandbox's time, as a server's does
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        #: every connection served, oldest first, and whether it waits for a request
        self._open: dict[socket.socket, bool] = {}
        self._slots = threading.Condition(threading.Lock())
        self._pause = 0.0
        self._closing = threading.Event()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _RequestHandler)

    # -- connections: a slot each, idle ones closed first when short ----------------
    def get_request(self) -> tuple[socket.socket, object]:
        """Accept one connection once a slot is free. An OSError sends the
        accept loop back to `select`, which finds the client still waiting."""
        with self._slots:
            if len(self._open) >= self.max_connections:
                self._shed_idle()
                if not self._slots.wait_for(
                    lambda: len(self._open) < self.max_connections, timeout=_SLOT_WAIT
                ):
                    raise OSError(errno.EAGAIN, "every connection slot is taken")
        try:
            request, address = super().get_request()
        except OSError as e:
            if e.errno in _OUT_OF_DESCRIPTORS:
                self._out_of_descriptors()
            raise
        self._pause = 0.0
        with self._slots:
            self._open[request] = True
        return request, address

    def _out_of_descriptors(self) -> None:
        """The listening socket stays ready while `accept` fails: without a pause
        the accept loop would spin a core. Close the connection idle the longest
        (its descriptor is the one freed), and wait a moment, longer each time."""
        with self._slots:
            self._shed_idle()
        self._pause = min(_LONGEST_PAUSE, max(_FIRST_PAUSE, self._pause * 2))
        self._closing.wait(self._pause)

    def _shed_idle(self) -> None:
        """Close the connection that has waited longest for a request (the slots'
        lock is held): its thread sees the end of the stream and lets go."""
        for conn, idle in self._open.items():
            if idle:
                self._open[conn] = False  # closed once: not chosen again
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                return

    def waiting(self, conn: socket.socket, idle: bool) -> None:
        """A connection's thread says whether it is waiting for a request line."""
        with self._slots:
            if conn in self._open:
                self._open[conn] = idle

    def shutdown_request(self, request) -> None:
        try:
            super().shutdown_request(request)
        finally:
            with self._slots:
                self._open.pop(request, None)
                self._slots.notify_all()

    def open_connections(self) -> int:
        """Connections being served now."""
        with self._slots:
            return len(self._open)

    def shutdown(self) -> None:
        self._closing.set()  # a pause for descriptors ends at once
        super().shutdown()

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
        # every read and write of this connection: silent this long, it is closed
        self.connection.settimeout(self.server.idle_timeout)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_one_request(self) -> None:
        self.server.waiting(self.connection, True)  # until its request line is in
        super().handle_one_request()

    def parse_request(self) -> bool:
        self.server.waiting(self.connection, False)  # a request has begun
        return super().parse_request()

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
