"""A hostile API on 127.0.0.1, for the tests of what segrun does when a server lies,
leaks, stalls or floods (a unique module name: several conftest.py exist).

One server plays every scenario; the first path segment of the spec's base_url picks
it (`http://127.0.0.1:PORT/<scenario>/`). It echoes whatever credentials it receives
back into messages, reason phrases and headers, so a test can check they are found
nowhere afterwards.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, quote_plus

from runner.apifacts import api  # noqa: E402

LONG_SECRET = "h0stile-S3cr3t/with+odd=chars&q"
FOUR_CHAR_SECRET = "Zq8#"
OAUTH_CLIENT_ID = "hostile-client-7f3a"
OAUTH_TOKEN = "tok_5e4d3c2b1a09f8e7d6c5"

#: what a trickle sends between pauses, and how long it pauses
TRICKLE_PAUSE = 2.0
HUGE_BYTES = 500 * 1024 * 1024


class HostileServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, secrets: list[str]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.secrets = secrets  # echoed back by the scenarios that leak
        self.authorizations: list[str] = []  # every Authorization received
        self.requests: list[tuple[str, str]] = []
        self.oauth_token = ""
        self.retry_after: list[str] = []
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, scenario: str) -> str:
        return f"http://127.0.0.1:{self.port}/{scenario}/"


class Handler(BaseHTTPRequestHandler):
    server: HostileServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # quiet
        pass

    # -- helpers -----------------------------------------------------------------
    def _echo(self) -> str:
        auth = self.headers.get("Authorization", "")
        return " | ".join([*self.server.secrets, auth])

    def _echo_line(self) -> str:
        """The echo as a header value or reason phrase can carry it (no line breaks)."""
        return self._echo().replace("\r", " ").replace("\n", " ")

    def _send(self, status: int, body: object, *, reason: str | None = None, headers=()) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status, reason)
        self.send_header("Content-Type", "application/json")
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # -- dispatch ----------------------------------------------------------------
    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, method: str) -> None:
        self._read_body()
        path = self.path.split("?")[0]
        scenario, _, rest = path.lstrip("/").partition("/")
        with self.server.lock:
            self.server.requests.append((method, path))
            if self.headers.get("Authorization"):
                self.server.authorizations.append(self.headers["Authorization"])
        call = _call(method, rest)
        getattr(self, "s_" + scenario.replace("-", "_"))(call)

    # -- the flow that works, so a scenario can break one call only ---------------
    def _normal(self, call: str) -> None:
        if call == "initiate":
            self._send(200, {"AccessToken": 4242})
        elif call == "status":
            self._send(200, {"AccessToken": 4242, "Status": "Complete", "RowCount": 1})
        elif call == "retrieve":
            self._send(200, page([{"ProfileId": "P1", "Emails": [{"Address": "ann@example.com"}]}]))
        elif call == "commit":
            self._send(200, {"Message": "committed"})
        else:
            self._send(404, {"Message": "no such call"})

    # -- scenarios ----------------------------------------------------------------
    def s_fine(self, call: str) -> None:
        self._normal(call)

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
            body = page([{"ProfileId": "P1"}])
            self._send(200, body, reason=f"OK {line}", headers=[("X-Echo", line)])
        else:
            if call == "initiate":
                body = {"AccessToken": 4242, "Message": echo}
            elif call == "status":
                body = {"AccessToken": 4242, "Status": "Complete", "RowCount": 1, "Note": echo}
            else:
                body = {"Message": echo}
            self._send(200, body, reason=f"OK {line}", headers=[("X-Echo", line)])

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

    def s_trickle_headers(self, call: str) -> None:
        """Retrieve answers its status line, then a header byte every TRICKLE_PAUSE
        seconds, forever (60 s at most): no socket read ever times out."""
        if call != "retrieve":
            return self._normal(call)
        deadline = time.monotonic() + 60
        try:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while time.monotonic() < deadline:
                self.wfile.write(b"a")
                self.wfile.flush()
                time.sleep(TRICKLE_PAUSE)
        except OSError:
            pass

    def s_trickle(self, call: str) -> None:
        """Status answers a byte every TRICKLE_PAUSE seconds, forever (60 s at most)."""
        if call != "status":
            return self._normal(call)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(TRICKLE_PAUSE)
        except OSError:
            pass
        self.close_connection = True

    def s_silent(self, call: str) -> None:
        """Status never answers at all (60 s at most)."""
        if call != "status":
            return self._normal(call)
        time.sleep(60)
        self.close_connection = True

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
        self._send(200, page(records))

    def s_deep(self, call: str) -> None:
        """Status answers JSON nested 200,000 deep."""
        if call != "status":
            return self._normal(call)
        self._send(200, b"[" * 200_000 + b"]" * 200_000)

    def s_deep_error(self, call: str) -> None:
        """A 400 whose body is JSON nested 200,000 deep."""
        self._send(400, b"[" * 200_000 + b"]" * 200_000)

    def s_retry_after(self, call: str) -> None:
        """Initiate answers 429 with the next of the server's odd Retry-After values,
        then succeeds once they are used up."""
        with self.server.lock:
            value = self.server.retry_after.pop(0) if self.server.retry_after else None
        if call == "initiate" and value is not None:
            self.send_response(429)
            self.send_header("Retry-After", value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            return
        self._normal(call)


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _call(method: str, rest: str) -> str:
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


def page(records: list) -> dict:
    n = len(records)
    return {
        "Count": n,
        "HasMore": False,
        "Limit": 1000,
        "Offset": 1,
        "TotalResults": n,
        "UserProfilePreferences": records,
    }


#: a staging run needs an endpoint map the user confirmed: the inferred paths, written out
CONFIRMED_ENDPOINTS = "".join(
    f'  {call}: {{method: {e.method}, path: "{e.path}"}}\n' for call, e in api.endpoints().items()
).join(("endpoints:\n", ""))


#: runs `segrun` (runner.cli:main, the console script's target) and, as it exits,
#: writes its own VmHWM: exec starts a new address space, so the mark is segrun's
_OWN_PEAK = """
import atexit, sys
def _peak(path=sys.argv[1]):
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            open(path, "w").write(line.split()[1])
atexit.register(_peak)
sys.argv = ["segrun", *sys.argv[2:]]
from runner.cli import main
main()
"""


def spec_text(base_url: str, *, oauth: bool = False, jobs: str | None = None) -> str:
    """A staging spec aimed at the hostile server (http is allowed for loopback)."""
    if oauth:
        auth = (
            "auth:\n  scheme: oauth2\n  user_id: hostile-user\n"
            f"  token_url: {base_url}token\n"
            "  client_id_env: HOSTILE_CLIENT_ID\n  client_secret_env: HOSTILE_SECRET\n"
        )
    else:
        auth = (
            "auth:\n  scheme: PNAUTHINFO3-HMAC-SHA256\n  user_id: hostile-user\n"
            "  secret_env: HOSTILE_SECRET\n"
        )
    jobs = jobs or (
        "- name: people\n  segment_group: VIP Customers\n  last_datetime: last_success\n"
    )
    return (
        "version: 1\nclient_id: HostileCo\nenvironment: staging\n"
        f"base_url: {base_url}\n{auth}{CONFIRMED_ENDPOINTS}"
        "defaults:\n  poll: {interval: 50ms, timeout: 20s}\n"
        "  retry: {attempts: 2, backoff: 0s, max_backoff: 0s}\n"
        "jobs:\n" + textwrap.indent(jobs, "  ")
    )


def spellings(secret: str) -> set[str]:
    """Every way a secret could be written down: raw, URL-encoded, JSON-escaped, base64."""
    raw = secret.encode()
    forms = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    stripped = secret.strip()
    if stripped != secret:
        forms |= spellings(stripped)
    return {f for f in forms if f}


def leaks(secret: str, folders: list[Path], streams: list[str]) -> list[str]:
    """Where any spelling of `secret` turns up: file paths or stream numbers."""
    found = []
    forms = spellings(secret)
    for folder in folders:
        if not folder.exists():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            text = path.read_bytes().decode("utf-8", "replace")
            found += [f"{path}: {form!r}" for form in forms if form in text]
    for number, text in enumerate(streams):
        found += [f"stream {number}: {form!r}" for form in forms if form in text]
    return found


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mib: float
    run_dir: Path
    state_dir: Path


def run_segrun(
    tmp_path: Path,
    spec: str,
    secret: str,
    *args: str,
    timeout: float = 60,
    env: dict | None = None,
    signal_after: tuple[float, int] | None = None,
) -> Outcome:
    """`segrun run` in a child; its own peak RSS from wait4, not the test's."""
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(spec)
    run_dir = tmp_path / "run"
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700, exist_ok=True)  # segrun never creates a given --state folder
    full_env = {**os.environ, "HOSTILE_SECRET": secret, "HOSTILE_CLIENT_ID": OAUTH_CLIENT_ID}
    full_env.update(env or {})
    full_env.pop("SEGRUN_DEBUG", None)
    peak_file = tmp_path / "peak-kib"
    # The child's peak must be its own: wait4's ru_maxrss also counts the pytest
    # process it was forked from (hundreds of MB late in a full run), so the
    # child reports the high-water mark of its own address space as it exits.
    argv = [
        sys.executable,
        "-c",
        _OWN_PEAK,
        str(peak_file),
        "run",
        str(spec_path),
        "--out",
        str(run_dir),
        "--state",
        str(state_dir / "state.json"),
        *args,
    ]
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env)
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [
        threading.Thread(target=lambda s=s, b=b: b.append(s.read()), daemon=True)
        for s, b in ((proc.stdout, out), (proc.stderr, err))
    ]
    for reader in readers:
        reader.start()
    if signal_after is not None:
        delay, signum = signal_after
        time.sleep(delay)
        proc.send_signal(signum)
    rusage = None
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - started > timeout:
            proc.kill()
            os.wait4(proc.pid, 0)
            raise AssertionError(f"segrun did not end within {timeout}s")
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(10)
    return Outcome(
        code=proc.returncode,
        stdout=b"".join(out).decode("utf-8", "replace"),
        stderr=b"".join(err).decode("utf-8", "replace"),
        seconds=time.monotonic() - started,
        peak_rss_mib=(int(peak_file.read_text()) if peak_file.exists() else rusage.ru_maxrss)
        / 1024,
        run_dir=run_dir,
        state_dir=state_dir,
    )
