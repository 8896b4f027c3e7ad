"""Fixtures for the hostile-server tests: the server, and running segrun against it
as a child process whose time, memory and output are all watched."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from hostile_server import HostileServer

from segrun_testing import segrun_argv

LONG_SECRET = "h0stile-S3cr3t/with+odd=chars&q"
FOUR_CHAR_SECRET = "Zq8#"
OAUTH_CLIENT_ID = "hostile-client-7f3a"
OAUTH_TOKEN = "tok_5e4d3c2b1a09f8e7d6c5"


@pytest.fixture
def hostile():
    server = HostileServer([])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


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
    full_env = {**os.environ, "HOSTILE_SECRET": secret, "HOSTILE_CLIENT_ID": OAUTH_CLIENT_ID}
    full_env.update(env or {})
    full_env.pop("SEGRUN_DEBUG", None)
    argv = [*segrun_argv(), "run", str(spec_path), "--out", str(run_dir),
            "--state", str(state_dir / "state.json"), *args]
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env)
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [threading.Thread(target=lambda s=s, b=b: b.append(s.read()), daemon=True)
               for s, b in ((proc.stdout, out), (proc.stderr, err))]
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
        peak_rss_mib=rusage.ru_maxrss / 1024,
        run_dir=run_dir,
        state_dir=state_dir,
    )
