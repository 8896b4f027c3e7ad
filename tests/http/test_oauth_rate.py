"""The OAuth token request is a request like any other: it takes its place in the run's
rate budget, so a run whose tokens expire quickly still never sends more than
`rate_limit` requests in any second, token requests and API calls together."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.processes import segrun_argv

RATE = 4
RECORDS, PAGE = 30, 5


class OAuthExportServer:
    """A token endpoint and the export flow on one server, which refuses any bearer
    token it did not issue and notes when every request arrived."""

    def __init__(self, expires_in: float) -> None:
        self.expires_in = expires_in
        self.arrivals: list[tuple[float, str]] = []
        self.issued: set[str] = set()
        self.refused = 0
        self.lock = threading.Lock()

    def arrived(self, what: str) -> None:
        with self.lock:
            self.arrivals.append((time.monotonic(), what))

    def issue(self) -> str:
        with self.lock:
            token = f"tok-{len(self.issued):04d}-" + "t" * 24
            self.issued.add(token)
            return token

    def knows(self, authorization: str | None) -> bool:
        with self.lock:
            ok = (authorization or "").removeprefix("Bearer ") in self.issued
            self.refused += not ok
            return ok


def page(offset: int, limit: int) -> dict:
    last = min(offset + limit - 1, RECORDS)
    return {
        "Count": last - offset + 1,
        "HasMore": last < RECORDS,
        "Limit": limit,
        "Offset": offset,
        "TotalResults": RECORDS,
        "UserProfilePreferences": [{"ProfileId": n} for n in range(offset, last + 1)],
    }


@contextlib.contextmanager
def running_server(expires_in: float) -> Iterator[tuple[str, OAuthExportServer]]:
    state = OAuthExportServer(expires_in)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def answer(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = urlsplit(self.path).path
            if path == "/token":
                state.arrived("token")
                self.answer(200, {"access_token": state.issue(), "expires_in": state.expires_in})
                return
            state.arrived("commit" if path.endswith("/Commit") else "initiate")
            if not state.knows(self.headers.get("Authorization")):
                self.answer(401, {"Message": "Authorization has been denied for this request."})
            elif path.endswith("/Commit"):
                self.answer(200, {})
            else:
                self.answer(200, {"AccessToken": 4242})

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urlsplit(self.path)
            status = url.path.endswith("/Status")
            state.arrived("status" if status else "retrieve")
            if not state.knows(self.headers.get("Authorization")):
                self.answer(401, {"Message": "Authorization has been denied for this request."})
            elif status:
                self.answer(200, {"Status": "Complete", "RowCount": RECORDS})
            else:
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                self.answer(200, page(int(query["offset"]), int(query["limit"])))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def most_in_one_second(times: list[float]) -> tuple[int, list[float]]:
    """The most arrivals within one second of each other, and those arrivals."""
    times = sorted(times)
    best, first, worst = 0, 0, (0, 0)
    for last, t in enumerate(times):
        while t - times[first] >= 1.0:
            first += 1
        if last - first + 1 > best:
            best, worst = last - first + 1, (first, last + 1)
    return best, times[worst[0] : worst[1]]


# The client fetches a token again 30 s before it expires. 30.5: due every half second,
# before a request waits for its place in the budget; 0.5: due at once, and expired
# again by the time the request is signed after its wait, so fetched while signing.
@pytest.mark.parametrize("expires_in", [30.5, 0.5])
def test_token_requests_count_against_the_rate_limit(tmp_path, expires_in):
    with running_server(expires_in) as (url, server):
        spec = tmp_path / "spec.yaml"
        spec.write_text(
            textwrap.dedent(f"""\
                version: 1
                client_id: SanchezAssociates
                environment: sandbox
                base_url: {url}/Profiles/v4/
                auth:
                  scheme: oauth2
                  user_id: demo-user
                  token_url: {url}/token
                  client_id_env: OAUTH_ID
                  client_secret_env: OAUTH_SECRET
                rate_limit: {{requests_per_second: {RATE}}}
                defaults:
                  page_size: {PAGE}
                  concurrency: 2
                  poll: {{interval: 50ms, timeout: 20s}}
                  retry: {{attempts: 1}}
                jobs:
                  - name: a
                    segment_group: VIP
                  - name: b
                    segment_group: VIP
            """)
        )
        env = {k: v for k, v in os.environ.items() if k != "SEGRUN_DEBUG"}
        env.update(OAUTH_ID="id-" + "i" * 45, OAUTH_SECRET="client-secret-" + "s" * 50)
        done = subprocess.run(  # its own process: the server's clock is not held up
            [*segrun_argv(), "run", str(spec), "--out", str(tmp_path / "run"), "-q", "--jobs", "2"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
    assert done.returncode == 0, done.stderr + done.stdout
    for name in ("a", "b"):
        lines = (tmp_path / "run" / "exports" / f"{name}.jsonl").read_text().splitlines()
        assert [json.loads(line)["ProfileId"] for line in lines] == list(range(1, RECORDS + 1))
    kinds = [what for _, what in server.arrivals]
    assert kinds.count("token") >= 3, kinds  # tokens expired and were fetched again mid-run
    assert server.refused == 0
    seen, bunch = most_in_one_second([t for t, _ in server.arrivals])
    first = min(t for t, _ in server.arrivals)
    assert seen <= RATE, [round(t - first, 3) for t in bunch]
