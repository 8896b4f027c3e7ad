"""`callback_url`: sent as the Initiate body's `CallbackURL` (the export overview and
the legacy Initiate page); the sandbox POSTs the status JSON there when the
export is done, to loopback hosts only."""

from __future__ import annotations

import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from runner.sandbox import DEMO
from tests.support.runs import job, run
from tests.support.specs import write_spec


class Receiver:
    """A loopback HTTP server that keeps every POSTed body."""

    def __init__(self) -> None:
        received: queue.Queue = queue.Queue()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                received.put((self.path, self.headers.get("Content-Type"), self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/export?from=segrun"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_loopback_callback_receives_the_final_status(sandbox, tmp_path):
    receiver = Receiver()
    try:
        spec = write_spec(
            tmp_path,
            sandbox.base_url,
            f"""
            - name: everyone
              segment_group: All Profiles
              callback_url: "{receiver.url}"
        """,
        )
        outcome = run(spec, tmp_path)
        path, content_type, body = receiver.received.get(timeout=20)
    finally:
        receiver.close()
    everyone = job(outcome, "everyone")
    assert everyone.status == "succeeded", everyone.error
    assert path == "/hooks/export?from=segrun"
    assert content_type.startswith("application/json")
    status = json.loads(body)
    assert status["AccessToken"] == everyone.access_token
    assert status["Status"] in ("Complete", "Retrieved")  # done; retrieval may have raced it
    assert status["RowCount"] == everyone.records == 300
    har = json.loads((tmp_path / "run" / "transcript.har").read_text())
    sent = json.loads(har["log"]["entries"][0]["request"]["postData"]["text"])
    assert sent == {"CallbackURL": receiver.url}


def test_the_sandbox_accepts_but_never_calls_a_remote_callback(sandbox, tmp_path):
    spec = write_spec(
        tmp_path,
        sandbox.base_url,
        """
        - name: everyone
          segment_group: All Profiles
          callback_url: "https://hooks.example.invalid/export"
    """,
    )
    outcome = run(spec, tmp_path)
    assert job(outcome, "everyone").status == "succeeded"
    for _ in range(100):
        if sandbox.counters.snapshot().get("callbacks.skipped (not loopback)"):
            break
        threading.Event().wait(0.05)
    assert sandbox.counters.snapshot().get("callbacks.skipped (not loopback)") == 1


def test_callback_url_must_be_https_or_loopback(segrun, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nclient_id: X\njobs:\n  - segment_group: VIP\n"
        "    callback_url: http://hooks.example.com/x\n"
        "  - segment_group: Other\n    callback_url: not a url\n"
    )
    result = segrun("validate", str(spec))
    assert result.returncode == 2
    assert (
        "jobs[0].callback_url: must use https (plain http is allowed only for a loopback host)"
        in result.stdout
    )
    assert "jobs[1].callback_url: 'not a url' is not an http(s) URL" in result.stdout


def test_the_sandbox_refuses_a_malformed_callback_url(sandbox):
    from tests.support.sandbox_calls import Client

    client = Client(sandbox)
    r = client.initiate("All Profiles", {"CallbackURL": "ftp://x"})
    assert r.status_code == 400
    assert r.json() == {"Message": "CallbackURL must be an absolute http or https URL"}
    assert DEMO.client_id  # the demo account signed it
