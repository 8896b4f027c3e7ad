"""One scripted stand-in for the export API on 127.0.0.1, for the tests of what segrun
does when a server lies, leaks, stalls or floods: the sandbox tells the truth by
design; this server says whatever a test scripts.

One server plays every scenario at once; the first segment of a request's path picks
it (`server.url("echo")` is `http://127.0.0.1:PORT/echo/`), so a spec's base_url and
its token_url may play two different ones. Every request is logged: its method and
path, when it arrived and which call it was, the Authorization it carried, the offset
and limit of a Retrieve. The scenarios
that leak echo the server's `secrets`, and every credential they receive, back into
messages, reason phrases and headers, so a test can check they are found nowhere
afterwards.

    with serving() as server:
        spec = spec_text(server.url("echo"))

    with serving_pages(page_script, rowcount=300) as (base_url, server):
        ...  # Retrieve answers whatever bytes page_script(offset, limit) returns
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

#: credentials the scenarios issue or the tests hand segrun, to be found nowhere after
LONG_SECRET = "h0stile-S3cr3t/with+odd=chars&q"
FOUR_CHAR_SECRET = "Zq8#"
OAUTH_CLIENT_ID = "hostile-client-7f3a"
OAUTH_TOKEN = "tok_5e4d3c2b1a09f8e7d6c5"
#: a secret whose base64 holds "+" and "/", so base64url spells it otherwise
BASE64_PUNCTUATED_SECRET = "h0stile-S3cr3t/with+odd=chars&q~~~???"
#: tokens nobody told segrun of, handed out in answers' headers ("handed-out",
#: "oauth-fragment"): a Location fragment, a token cookie, a session cookie
HANDED_OUT_TOKENS = (
    "fr4gment-t0ken-7Hq2xW9",
    "c00kie-t0ken-9Zx4pL1",
    "sess10n-c00kie-5Kp8vB3",
)

#: how long a trickle pauses between the bytes it sends, unless a test sets another
TRICKLE_PAUSE = 2.0
#: the most a trickle, a silence or a flood lasts: no test waits for its end
STALL_SECONDS = 60
HUGE_BYTES = 500 * 1024 * 1024
#: the records of the "paged-echo" scenario
PAGED_ECHO_TOTAL = 60

#: a Retrieve answer as a page script returns it: (status, body bytes, extra headers)
Answer = tuple[int, bytes, dict]
PageScript = Callable[[int, int], Answer]


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, pages: PageScript | None = None, rowcount: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        #: echoed back by the scenarios that leak
        self.secrets: list[str] = []
        #: "pages": what Retrieve answers, and the RowCount Status claims
        self.pages = pages
        self.rowcount = rowcount
        #: "oauth", "oauth-bad", "oauth-token": the token the token endpoint issues,
        #: and ("oauth-token") how long it thinks first
        self.oauth_token = ""
        self.token_delay = 0.0
        #: "retry-after": the Retry-After values Initiate answers 429 with, one each
        self.retry_after: list[str] = []
        #: "answer": the call answered otherwise, and with what (status, body, type)
        self.answer_call = "status"
        self.answer: tuple[int, bytes, str] = (200, b"{}", "application/json")
        self.trickle_pause = TRICKLE_PAUSE
        #: "oauth-rate": how long the tokens it issues last, the tokens issued, and how
        #: many requests it refused for a bearer token it never issued
        self.expires_in = 3600.0
        self.issued: set[str] = set()
        self.refused = 0
        #: "oauth-flaky": how many token requests trickle before one is answered
        self.token_failures = 0
        # what the server saw
        self.requests: list[tuple[str, str]] = []
        #: when each request arrived (time.monotonic()), and which call it was
        self.arrivals: list[tuple[float, str]] = []
        self.authorizations: list[str] = []
        self.retrieves: list[tuple[int, int]] = []
        self.commits = 0
        self.answered_once: set[tuple[str, int]] = set()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, scenario: str) -> str:
        return f"http://127.0.0.1:{self.port}/{scenario}/"

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up (a deadline, a cap, a stop signal) is what many
        scenarios are there to provoke: no traceback for it, which would land in
        whichever test runs next in this process."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def signatures(self) -> list[str]:
        """The PNAUTHINFO3 signatures segrun sent: credentials too."""
        return [a.rpartition("Signature=")[2] for a in self.authorizations if "Signature=" in a]


@contextlib.contextmanager
def serving(pages: PageScript | None = None, rowcount: int = 0) -> Iterator[FakeServer]:
    """The server on a free loopback port, for the block's duration."""
    server = FakeServer(pages, rowcount)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def serving_pages(pages: PageScript, rowcount: int) -> Iterator[tuple[str, FakeServer]]:
    """The "pages" scenario: its base URL, and the server."""
    with serving(pages, rowcount) as server:
        yield server.url("pages"), server


def call_of(method: str, rest: str) -> str:
    """Which call of the export flow a request is, from its path after the scenario."""
    parts = rest.split("/")
    if rest == "token":
        return "token"
    if method == "POST" and "Segment" in parts:
        return "initiate"
    if parts[-1] == "Status":
        return "status"
    if parts[-1] == "Commit":
        return "commit"
    return "retrieve"


class Handler(BaseHTTPRequestHandler):
    server: FakeServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else every small answer waits out a delayed ACK

    def log_message(self, format, *args) -> None:  # quiet
        pass

    # -- answering -----------------------------------------------------------------
    def _send(
        self,
        status: int,
        body: object,
        *,
        reason: str | None = None,
        headers=(),
        content_type: str | None = "application/json",
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status, reason)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _echo(self) -> str:
        auth = self.headers.get("Authorization", "")
        return " | ".join([*self.server.secrets, auth])

    def _echo_line(self) -> str:
        """The echo as a header value or reason phrase can carry it (no line breaks)."""
        return self._echo().replace("\r", " ").replace("\n", " ")

    def _secret(self) -> str:
        return self.server.secrets[0] if self.server.secrets else LONG_SECRET

    # -- dispatch --------------------------------------------------------------------
    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0]
        scenario, _, rest = path.lstrip("/").partition("/")
        call = call_of(method, rest)
        with self.server.lock:
            self.server.arrivals.append((time.monotonic(), call))
            self.server.requests.append((method, path))
            if self.headers.get("Authorization"):
                self.server.authorizations.append(self.headers["Authorization"])
        getattr(self, "s_" + scenario.replace("-", "_"))(call)

    # -- the flow that works, so a scenario can break one call only --------------------
    def _normal(self, call: str) -> None:
        if call == "initiate":
            self._send(200, {"AccessToken": 4242})
        elif call == "status":
            self._send(200, {"AccessToken": 4242, "Status": "Complete", "RowCount": 1})
        elif call == "retrieve":
            self._send(
                200, page_body([{"ProfileId": "P1", "Emails": [{"Address": "ann@example.com"}]}])
            )
        elif call == "commit":
            self._send(200, {"Message": "committed"})
        else:
            self._send(404, {"Message": "no such call"})

    def s_fine(self, call: str) -> None:
        self._normal(call)

    # -- pages a test scripts ------------------------------------------------------------
    def s_pages(self, call: str) -> None:
        """Retrieve answers whatever bytes `server.pages(offset, limit)` returns; Status
        claims `server.rowcount`; Commit answers 200 with no body."""
        json_utf8 = "application/json; charset=utf-8"
        if call == "commit":
            with self.server.lock:
                self.server.commits += 1
            return self._send(200, b"", content_type=json_utf8)
        if call == "status":
            status = {"Status": "Complete", "RowCount": self.server.rowcount}
            return self._send(200, status, content_type=json_utf8)
        if call != "retrieve":
            return self._send(200, b'{"AccessToken": 4242}', content_type=json_utf8)
        assert self.server.pages is not None, "serving_pages(...) gives the pages a script"
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        offset, limit = int(query["offset"]), int(query["limit"])
        with self.server.lock:
            self.server.retrieves.append((offset, limit))
        code, page, extra = self.server.pages(offset, limit)
        headers = {"Content-Type": json_utf8, **extra}
        self._send(code, page, headers=headers.items(), content_type=None)

    def s_answer(self, call: str) -> None:
        """`server.answer_call` answered with `server.answer` (status, body, type); a
        204 or 304 with no body at all. Every other call works."""
        if call != self.server.answer_call:
            return self._normal(call)
        status, body, content_type = self.server.answer
        if status in (204, 304):
            self.send_response(status)
            self.end_headers()
            return
        self._send(status, body, content_type=content_type)

    # -- echoes of the credentials ------------------------------------------------------
    def s_echo(self, call: str) -> None:
        """A 401 that echoes the secrets and the Authorization it got everywhere it can:
        the Message, the reason phrase, a header, the Content-Type."""
        echo, line = self._echo(), self._echo_line()
        data = json.dumps({"Message": f"denied: {echo}"}).encode()
        self.send_response(401, f"Denied {line}")
        self.send_header("Content-Type", f'application/json; charset=utf-8; x="{line}"')
        self.send_header("X-Echo", line)
        self.send_header("WWW-Authenticate", f'Basic realm="{line}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def s_echo_retry(self, call: str) -> None:
        """The same echo on a 503, so it is retried and ends in 'failed after N attempts'."""
        echo, line = self._echo(), self._echo_line()
        self._send(
            503,
            {"Message": f"busy: {echo}"},
            reason=f"Busy {line}",
            headers=[("X-Echo", line), ("Retry-After", "0")],
        )

    def s_echo_ok(self, call: str) -> None:
        """A run that succeeds, with every answer echoing the credentials in headers,
        reason phrases and the records' envelope neighbours."""
        echo, line = self._echo(), self._echo_line()
        if call == "retrieve":
            body = page_body([{"ProfileId": "P1"}])
        elif call == "initiate":
            body = {"AccessToken": 4242, "Message": echo}
        elif call == "status":
            body = {"AccessToken": 4242, "Status": "Complete", "RowCount": 1, "Note": echo}
        else:
            body = {"Message": echo}
        self._send(200, body, reason=f"OK {line}", headers=[("X-Echo", line)])

    def s_paged_echo(self, call: str) -> None:
        """Pages of 60 records, every answer echoing the credentials: each job's Retrieve
        path is its own (a token per segment group `GroupN`), the first answer at each
        offset 1, 21, 41... is a 503, and offset 41 is a 400 for good."""
        echo, line = self._echo(), self._echo_line()
        url = urlsplit(self.path)
        if call == "initiate":
            group = url.path.rstrip("/").rpartition("/")[2]
            return self._send(200, {"AccessToken": 4000 + int(group.removeprefix("Group"))})
        if call == "status":
            body = {"Status": "Complete", "RowCount": PAGED_ECHO_TOTAL, "Note": echo}
            return self._send(200, body)
        if call != "retrieve":
            return self._normal(call)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        offset, limit = int(query["offset"]), int(query["limit"])
        key = (url.path, offset)  # the path holds the job's own token
        with self.server.lock:
            first = key not in self.server.answered_once
            self.server.answered_once.add(key)
        if offset == 41:
            headers = [("X-Echo", line)]
            return self._send(
                400, {"Message": f"bad offset: {echo}"}, reason=f"Bad {line}", headers=headers
            )
        if first and offset % 20 == 1:
            headers = [("X-Echo", line), ("Retry-After", "0")]
            return self._send(
                503, {"Message": f"busy: {echo}"}, reason=f"Busy {line}", headers=headers
            )
        last = min(offset + limit - 1, PAGED_ECHO_TOTAL)
        records = [{"ProfileId": f"P{n}"} for n in range(offset, last + 1)]
        body = {
            **page_body(records, offset, limit, PAGED_ECHO_TOTAL, last < PAGED_ECHO_TOTAL),
            "Echo": echo,
        }
        self._send(200, body, reason=f"OK {line}", headers=[("X-Echo", line)])

    # -- the first secret, spelled in every way a body, a header or a status line can ----
    def s_message_cut(self, call: str) -> None:
        """A Message whose 500th character falls inside the secret."""
        s = self._secret()
        self._send(401, {"Message": "x" * (500 - len(s) // 2) + s})

    def s_text_cut(self, call: str) -> None:
        """A body that is not JSON, whose 200th byte falls inside the secret."""
        s = self._secret()
        self._send(401, ("y" * (200 - len(s) // 2) + s).encode(), content_type="text/plain")

    def s_unicode_escapes(self, call: str) -> None:
        """The secret written as JSON \\uXXXX escapes."""
        escaped = "".join(f"\\u{ord(c):04x}" for c in self._secret())
        self._send(401, ('{"Message": "denied ' + escaped + '"}').encode())

    def s_escaped_slash(self, call: str) -> None:
        """JSON's optional escaped solidus."""
        s = self._secret().replace("/", "\\/")
        self._send(401, ('{"Message": "denied ' + s + '"}').encode())

    def s_base64url(self, call: str) -> None:
        """URL-safe base64 without its padding."""
        s = base64.urlsafe_b64encode(self._secret().encode()).decode().rstrip("=")
        self._send(401, {"Message": "denied " + s})

    def s_bom_escapes(self, call: str) -> None:
        """A body that starts with a UTF-8 byte-order mark, the secret in JSON \\u
        escapes with upper-case hex (as .NET's System.Text.Json writes them)."""
        escaped = "".join(f"\\u{ord(c):04X}" for c in self._secret())
        body = '{"Message": "denied ' + escaped + '"}'
        self._send(401, "\ufeff".encode() + body.encode())

    def s_utf_16(self, call: str) -> None:
        """The Message in UTF-16, with its byte-order mark and no charset."""
        body = json.dumps({"Message": "denied " + self._secret()})
        self._send(401, body.encode("utf-16"), content_type="application/json")

    def s_utf_16_bare(self, call: str) -> None:
        """A text body in UTF-16 with neither a byte-order mark nor a charset."""
        body = "denied " + self._secret()
        self._send(401, body.encode("utf-16-le"), content_type="text/plain")

    def s_lower_hex(self, call: str) -> None:
        """The secret URL-encoded with lower-case hex (as .NET's HttpUtility writes
        it) in the Message, the reason phrase and a Location header."""
        encoded = "".join(
            c if c.isascii() and (c.isalnum() or c in "-._~") else f"%{ord(c):02x}"
            for c in self._secret()
        )
        self._send(
            401,
            {"Message": "denied " + encoded},
            reason="Denied " + encoded,
            headers=[("Location", "/x?s=" + encoded)],
        )

    def s_handed_out(self, call: str) -> None:
        """Every call answers 401 handing out tokens in headers only: a Location
        whose fragment holds an access_token (the implicit grant's spelling), a
        cookie named access_token, a session cookie."""
        self._hand_out(401, {"Message": "sign in again"})

    def _hand_out(self, status: int, body: dict) -> None:
        fragment, token_cookie, session = HANDED_OUT_TOKENS
        where = f"http://127.0.0.1:{self.server.port}/cb"
        self._send(
            status,
            body,
            headers=[
                ("Location", f"{where}#access_token={fragment}&token_type=bearer"),
                ("Set-Cookie", f"access_token={token_cookie}; Path=/; HttpOnly"),
                ("Set-Cookie", f"session={session}; Secure"),
            ],
        )

    def s_gzip(self, call: str) -> None:
        data = gzip.compress(json.dumps({"Message": "denied " + self._secret()}).encode())
        self._send(401, data, headers=[("Content-Encoding", "gzip")])

    def s_key(self, call: str) -> None:
        """The secret as a JSON key, and in nested messages."""
        s = self._secret()
        self._send(401, {s: 1, "Message": {"Message": s}, "Errors": [{"Message": s}]})

    def s_headers(self, call: str) -> None:
        """A 503 with the secret in Location, Set-Cookie and Retry-After."""
        s = self._secret()
        self._send(
            503,
            {"Message": "busy"},
            headers=[("Location", "/x?s=" + s), ("Set-Cookie", "sid=" + s), ("Retry-After", s)],
        )

    def s_reason(self, call: str) -> None:
        self._send(401, {"Message": "no"}, reason="Denied " + self._secret())

    def s_busy(self, call: str) -> None:
        """A 503, retried, whose Message holds the secret after 30 characters."""
        message = "busy " + "z" * 30 + self._secret()
        self._send(503, {"Message": message}, headers=[("Retry-After", "1")])

    def s_chunked(self, call: str) -> None:
        """A chunked 401 split in the middle of the secret."""
        s = self._secret().encode()
        body = json.dumps({"Message": "denied " + s.decode()}).encode()
        mid = body.index(s) + len(s) // 2
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in (body[:mid], body[mid:]):
            self.wfile.write(_chunk(part))
            self.wfile.flush()
            time.sleep(0.05)
        self.wfile.write(b"0\r\n\r\n")

    def s_redirect(self, call: str) -> None:
        """Every call redirects to itself."""
        self._send(307, {"Message": "again"}, headers=[("Location", self.path)])

    # -- OAuth token endpoints --------------------------------------------------------------
    def s_oauth(self, call: str) -> None:
        """A token endpoint answering a token with a trailing newline; every call then
        echoes the bearer it got in a 401."""
        if call == "token":
            self._send(200, {"access_token": self.server.oauth_token + "\n", "expires_in": 3600})
        else:
            self.s_echo(call)

    def s_oauth_bad(self, call: str) -> None:
        """A token with a control character in the middle: it cannot go in a header."""
        if call == "token":
            token = self.server.oauth_token[:3] + "\x07\r\n" + self.server.oauth_token[3:]
            self._send(200, {"access_token": token, "expires_in": 3600})
        else:
            self.s_echo(call)

    def s_oauth_token(self, call: str) -> None:
        """A token endpoint that works: `server.oauth_token`, for an hour, after
        `server.token_delay` seconds (so threads may all ask while it thinks)."""
        if call != "token":
            return self._normal(call)
        time.sleep(self.server.token_delay)
        token = {
            "access_token": self.server.oauth_token,
            "token_type": "bearer",
            "expires_in": 3600,
        }
        self._send(200, token)

    def s_oauth_header(self, call: str) -> None:
        """The token endpoint also echoes the token it issues in headers."""
        if call != "token":
            return self._normal(call)
        self._send(
            200,
            {"access_token": OAUTH_TOKEN, "expires_in": 3600},
            headers=[("X-Token", OAUTH_TOKEN), ("Set-Cookie", "t=" + OAUTH_TOKEN)],
        )

    def s_oauth_fragment(self, call: str) -> None:
        """A token endpoint that hands its token out in headers only (a Location
        fragment and cookies), not in its body: segrun finds no access_token."""
        if call != "token":
            return self._normal(call)
        self._hand_out(200, {"token_type": "bearer", "expires_in": 3600})

    def s_oauth_basic(self, call: str) -> None:
        """The token endpoint echoes the Basic credentials it got in a 401."""
        if call != "token":
            return self._normal(call)
        self._send(401, {"Message": "bad client " + self.headers.get("Authorization", "")})

    def s_oauth_huge_expiry(self, call: str) -> None:
        """expires_in too big for a float."""
        if call != "token":
            return self._normal(call)
        body = '{{"access_token": "{}", "expires_in": 1{}}}'.format(OAUTH_TOKEN, "0" * 400)
        self._send(200, body.encode())

    def s_oauth_rate(self, call: str) -> None:
        """A token endpoint issuing tokens `tok-NNNN-...` that last `server.expires_in`
        seconds, and the export flow of `server.rowcount` records, which refuses (401)
        any bearer token the endpoint did not issue and counts it in `server.refused`."""
        server = self.server
        if call == "token":
            with server.lock:
                token = f"tok-{len(server.issued):04d}-" + "t" * 24
                server.issued.add(token)
            return self._send(200, {"access_token": token, "expires_in": server.expires_in})
        bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
        with server.lock:
            known = bearer in server.issued
            server.refused += not known
        if not known:
            return self._send(401, {"Message": "Authorization has been denied for this request."})
        if call == "initiate":
            self._send(200, {"AccessToken": 4242})
        elif call == "status":
            self._send(200, {"Status": "Complete", "RowCount": server.rowcount})
        elif call == "commit":
            self._send(200, {})
        else:
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            offset, limit = int(query["offset"]), int(query["limit"])
            last = min(offset + limit - 1, server.rowcount)
            records = [{"ProfileId": n} for n in range(offset, last + 1)]
            more = last < server.rowcount
            self._send(200, page_body(records, offset, limit, server.rowcount, more))

    def s_oauth_flaky(self, call: str) -> None:
        """A token endpoint whose first `server.token_failures` requests trickle their
        headers a byte every pause (STALL_SECONDS at most); later ones get a token for
        an hour. Every other call works, whatever bearer it carries."""
        if call != "token":
            return self._normal(call)
        with self.server.lock:
            fail = self.server.token_failures > 0
            self.server.token_failures -= fail
        if fail:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            return self._trickle(b"a")
        self._send(200, {"access_token": OAUTH_TOKEN, "expires_in": 3600})

    # -- stalls ------------------------------------------------------------------------------
    def s_trickle(self, call: str) -> None:
        """Status answers a byte every pause, forever (STALL_SECONDS at most)."""
        if call != "status":
            return self._normal(call)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self._trickle(b" ")

    def s_trickle_headers(self, call: str) -> None:
        """Retrieve (and a token endpoint) answer a status line, then a header byte every
        pause, forever (STALL_SECONDS at most): no socket read ever times out."""
        if call not in ("retrieve", "token"):
            return self._normal(call)
        self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        self._trickle(b"a")

    def s_header_lines(self, call: str) -> None:
        """Status answers a status line, then a whole header line every 0.5 s, forever."""
        if call != "status":
            return self._normal(call)
        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
        lines = (b"X-%d: y\r\n" % n for n in range(1_000_000))
        self._trickle(lines, pause=0.5)

    def s_continue(self, call: str) -> None:
        """Status answers interim 100 Continue responses, one every 0.5 s, forever."""
        if call != "status":
            return self._normal(call)
        self._trickle(b"HTTP/1.1 100 Continue\r\n\r\n", pause=0.5)

    def _trickle(self, data: bytes | Iterator[bytes], pause: float | None = None) -> None:
        deadline = time.monotonic() + STALL_SECONDS
        try:
            while time.monotonic() < deadline:
                self.wfile.write(data if isinstance(data, bytes) else next(data))
                self.wfile.flush()
                time.sleep(self.server.trickle_pause if pause is None else pause)
        except OSError:
            pass
        self.close_connection = True

    def s_silent(self, call: str) -> None:
        """Status never answers at all (STALL_SECONDS at most)."""
        if call != "status":
            return self._normal(call)
        time.sleep(STALL_SECONDS)
        self.close_connection = True

    # -- floods and depths -------------------------------------------------------------------
    def s_huge(self, call: str) -> None:
        """Retrieve answers 500 MB with no Content-Length (read until close)."""
        if call != "retrieve":
            return self._normal(call)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        self._flood(b'{"Count": 1, "UserProfilePreferences": [')

    def s_huge_chunked(self, call: str) -> None:
        """Retrieve answers 500 MB chunked."""
        if call != "retrieve":
            return self._normal(call)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._flood(b"[", chunked=True)

    def s_huge_declared(self, call: str) -> None:
        """Retrieve declares 500 MB up front (and would send them)."""
        if call != "retrieve":
            return self._normal(call)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(HUGE_BYTES))
        self.end_headers()
        self._flood(b"[")

    def _flood(self, head: bytes, chunked: bool = False) -> None:
        block = b'"' + b"x" * (1024 * 1024 - 3) + b'",'
        sent = 0
        try:
            self.wfile.write(_chunk(head) if chunked else head)
            while sent < HUGE_BYTES:
                self.wfile.write(_chunk(block) if chunked else block)
                sent += len(block)
        except OSError:
            pass
        self.close_connection = True

    def s_big_page(self, call: str) -> None:
        """One Retrieve page of 1,000 records of about 1 KiB: bigger than a small disk."""
        if call == "status":
            return self._send(200, {"AccessToken": 4242, "Status": "Complete", "RowCount": 1000})
        if call != "retrieve":
            return self._normal(call)
        records = [{"ProfileId": f"P{i}", "Notes": "n" * 1000} for i in range(1000)]
        self._send(200, page_body(records))

    def s_deep(self, call: str) -> None:
        """Status answers JSON nested 200,000 deep."""
        if call != "status":
            return self._normal(call)
        self._send(200, b"[" * 200_000 + b"]" * 200_000)

    def s_deep_error(self, call: str) -> None:
        """A 400 whose body is JSON nested 200,000 deep."""
        self._send(400, b"[" * 200_000 + b"]" * 200_000)

    def s_retry_after(self, call: str) -> None:
        """Initiate answers 429 with the next of the server's Retry-After values, then
        succeeds once they are used up."""
        with self.server.lock:
            value = self.server.retry_after.pop(0) if self.server.retry_after else None
        if call == "initiate" and value is not None:
            return self._send(429, b"{}", headers=[("Retry-After", value)])
        self._normal(call)

    # -- one answer per path, for the recorder's tests -----------------------------------
    def s_by_path(self, call: str) -> None:
        """/by-path/echo (what was received, as a careless proxy might), /token,
        /page?n=N (N records of about 600 bytes), /status, /busy (503), /drop (no answer),
        /truncated (less than its Content-Length), /slow?s=S."""
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        what = url.path.removeprefix("/by-path")
        if what.startswith("/echo"):
            echoed = {
                "path": self.path,
                "authorization": self.headers.get("Authorization"),
                "body": self._body.decode(),
            }
            auth = self.headers.get("Authorization", "")
            self._send(200, echoed, headers=[("X-Echo-Auth", auth)])
        elif what == "/token":
            issued = {
                "access_token": RECORDER_TOKEN,
                "token_type": "Bearer",
                "expires_in": 3600,
                "refresh_token": "refresh-" + RECORDER_TOKEN,
            }
            self._send(200, issued)
        elif what == "/page":
            self._send(200, records_page(int(query.get("n", ["10"])[0])))
        elif what == "/status":
            self._send(
                200, {"AccessToken": 12345, "Status": "Complete", "RowCount": 3, "ByteCount": 999}
            )
        elif what == "/busy":
            self._send(
                503,
                b'{"Message": "delay your request for some time"}',
                headers=[("Retry-After", "1")],
            )
        elif what == "/drop":
            self.close_connection = True
            self.connection.shutdown(2)
        elif what == "/truncated":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"Count": 1, "UserProf')
            self.wfile.flush()
            self.close_connection = True
        elif what == "/slow":
            time.sleep(float(query.get("s", ["1"])[0]))
            self._send(200, b"{}")
        else:
            self._send(404, b'{"Message": null}')


#: the token the "by-path" scenario's /token issues
RECORDER_TOKEN = "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


# -- pages ------------------------------------------------------------------------------------
def page_body(
    records: list, offset: int = 1, limit: int = 1000, total: int | None = None, more=False
) -> dict:
    """A Retrieve page as a decoded value (one page of everything by default)."""
    return {
        "Count": len(records),
        "HasMore": more,
        "Limit": limit,
        "Offset": offset,
        "TotalResults": len(records) if total is None else total,
        "UserProfilePreferences": records,
    }


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


def records_page(n: int) -> bytes:
    """A page shaped like Retrieve's, about 600 bytes a record."""
    items = [
        {
            "ProfileId": f"P{i:08d}",
            "IsActive": True,
            "CustomerType": "Individual",
            "CustomerName": f"Customer number {i}",
            "DefaultLocale": "en-US",
            "Emails": [{"Address": f"user{i}@example.com", "Type": "Personal"}],
            "PhoneNumbers": [{"Number": f"+1555{i:07d}", "Type": "Mobile"}],
            "Addresses": [
                {"Line1": f"{i} Main Street", "City": "Springfield", "PostalCode": "12345"}
            ],
            "ProfilePreferences": [
                {"Code": "NEWSLETTER", "Value": "Y", "ModifiedDate": "2026-11-01T10:00:00.003Z"},
                {"Code": "SMS", "Value": "N", "ModifiedDate": "2026-11-01T10:00:00.007Z"},
            ],
        }
        for i in range(n)
    ]
    return json.dumps(page_body(items, 1, n)).encode()


def record(n: int, **extra) -> dict:
    """The n-th record of the lying page scripts."""
    return {"ProfileId": f"P{n:06d}", "Emails": [{"EmailAddress": f"p{n}@example.com"}], **extra}


def lying_pages(mode: str, total: int = 25, record=record) -> PageScript:
    """Pages that lie about the records themselves (repeated, unending, beyond
    TotalResults), which no fault plan of the sandbox produces. `total` is what
    Retrieve claims; serve it with a RowCount (a liar may say less)."""

    def page(offset: int, limit: int) -> Answer:
        if mode == "same_records":  # every offset serves the first page again
            records = [record(n) for n in range(1, min(limit, total) + 1)]
            body = page_body(records, offset, limit, total, offset + limit <= total)
        elif mode == "hasmore_forever":  # honest records, but HasMore never turns false
            last = min(offset + limit - 1, total)
            body = page_body(
                [record(n) for n in range(offset, last + 1)], offset, limit, total, True
            )
        elif mode == "growing_total":  # TotalResults moves ahead of every page
            records = [record(n) for n in range(offset, offset + limit)]
            body = page_body(records, offset, limit, offset - 1 + 2 * limit, True)
        elif mode == "beyond_total":  # a full page where TotalResults says fewer remain
            records = [record(n) for n in range(offset, offset + limit)]
            body = page_body(records, offset, limit, total, offset + limit <= total)
        elif mode == "repeat_in_page":  # the page's last record is its first again
            last = min(offset + limit - 1, total)
            records = [record(n) for n in range(offset, last)] + [record(offset)]
            body = page_body(records, offset, limit, total, last < total)
        elif mode == "surrogates":  # text with no UTF-8 form, sent escaped as JSON allows
            last = min(offset + limit - 1, total)
            records = [
                record(n, Name="lone \ud800 surrogate \udfff") for n in range(offset, last + 1)
            ]
            body = page_body(records, offset, limit, total, last < total)
        elif mode in ("honest", "repeat_last"):
            last = min(offset + limit - 1, total)
            records = [record(n) for n in range(offset, last + 1)]
            if mode == "repeat_last" and last == total:  # the very last is the first again
                records[-1] = record(1)
            body = page_body(records, offset, limit, total, last < total)
        else:
            raise ValueError(mode)
        return 200, json.dumps(body).encode(), {}  # ASCII: \ud800 stays escaped

    return page


class Counting:
    """A page script that records, for every Retrieve, how many were held at once
    when it arrived; `answer` (by default `plain`) says what is answered."""

    def __init__(self, total: int, answer: PageScript | None = None) -> None:
        self.total = total
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.log: list[tuple[int, int]] = []  # (offset, requests held when it arrived)
        self._answer = answer or self.plain

    def plain(self, offset: int, limit: int) -> Answer:
        last = min(offset + limit - 1, self.total)
        records = [b'{"ProfileId":%d}' % n for n in range(offset, last + 1)]
        return 200, envelope(records, offset, limit, self.total, last < self.total), {}

    def __call__(self, offset: int, limit: int) -> Answer:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.log.append((offset, self.now))
        try:
            return self._answer(offset, limit)
        finally:
            with self.lock:
                self.now -= 1
