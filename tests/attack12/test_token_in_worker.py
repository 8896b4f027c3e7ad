"""Attack: the OAuth token exchange made from a worker thread (--jobs 2+, or a token
refreshed by a page in flight). Its POST goes through its own requests.Session, not
the abortable one, and `network_wait` arms no alarm outside the main thread: a token
endpoint trickling its headers holds the worker for ever, and Ctrl-C cannot cut it."""

from __future__ import annotations

import contextlib
import os
import signal
import socketserver
import subprocess
import textwrap
import threading
import time

import pytest

from tests.support.fake_server import envelope, serving_pages
from tests.support.processes import segrun_argv
from tests.support.specs import write_spec


class _Trickle(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with contextlib.suppress(OSError):
            self.request.recv(65536)
            self.request.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _ in range(600):  # a byte every 0.3 s: no socket timeout ever trips
                time.sleep(0.3)
                self.request.sendall(b"a")


@contextlib.contextmanager
def _trickling_token_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token"
    finally:
        server.shutdown()
        server.server_close()


def _page(offset: int, limit: int):
    return 200, envelope([b'{"ProfileId":1}'], offset, limit, 1, False), {}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_one_ctrl_c_stops_a_run_waiting_on_a_trickling_token_endpoint(tmp_path, jobs):
    with _trickling_token_server() as token_url, serving_pages(_page, 1) as (base_url, _):
        top = textwrap.dedent(f"""\
            auth:
              scheme: oauth2
              user_id: demo-user
              token_url: {token_url}
              client_id_env: OAUTH_ID
              client_secret_env: OAUTH_SECRET
            """)
        jobs_text = "- name: a\n  segment_group: VIP\n- name: b\n  segment_group: VIP\n"
        spec = write_spec(tmp_path, base_url, jobs_text, top)
        env = {k: v for k, v in os.environ.items() if k != "SEGRUN_DEBUG"}
        env.update(OAUTH_ID="id-" + "i" * 45, OAUTH_SECRET="client-secret-" + "s" * 50)
        proc = subprocess.Popen(
            [
                *segrun_argv(),
                "run",
                str(spec),
                "--out",
                str(tmp_path / "run"),
                "-q",
                "--jobs",
                jobs,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(3)
        assert proc.poll() is None  # still waiting on the token endpoint
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail("one Ctrl-C did not stop the run within 10 s")
    assert proc.returncode == 130, err.decode()[-1000:]
