"""Jobs in flight share one OAuth token: fetched once, not by every thread."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from runner.apifacts import api
from runner.http.client import ApiClient
from runner.http.signing import OAuth2ClientCredentials
from runner.redaction.redact import Redactor


def test_threads_wanting_a_token_at_once_fetch_it_once():
    fetched = []

    class TokenEndpoint(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fetched.append(time.monotonic())
            time.sleep(0.3)  # a slow token endpoint: every thread asks while it thinks
            body = json.dumps({"access_token": "tok-abcdefgh-123", "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), TokenEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/token"
        auth = OAuth2ClientCredentials(url, "cid", "client-secret-value", "X/u", Redactor())
        client = ApiClient(  # the token request goes through the client that signs with it
            base_url=f"http://127.0.0.1:{server.server_address[1]}/",
            client_id="X",
            endpoints=api.endpoints(),
            auth=auth,
        )
        tokens: list[str] = []
        threads = [threading.Thread(target=lambda: tokens.append(auth.token())) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        client.close()
    finally:
        server.shutdown()
        server.server_close()
    assert tokens == ["tok-abcdefgh-123"] * 8
    assert len(fetched) == 1
