"""`segrun sandbox` as a person starts it: a real process on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import requests

from runner.apifacts.api import endpoints
from runner.sandbox import DEMO

SEGRUN = [sys.executable, "-m", "runner"]


def test_serves_prints_credentials_and_stops_cleanly_on_ctrl_c() -> None:
    proc = subprocess.Popen(
        [*SEGRUN, "sandbox", "--profiles", "30", "--processing-seconds", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("segrun sandbox serving http://127.0.0.1:")
        base_url = first.split()[-1]
        lines = [proc.stdout.readline().strip() for _ in range(4)]
        for name, value in DEMO.environment().items():
            assert f"export {name}={value}" in lines
        url = base_url + endpoints()["status"].render(clientId=DEMO.client_id, accessToken=1)
        assert requests.get(url, timeout=5).status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "Traceback" not in err


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SEGRUN, "sandbox", *args], capture_output=True, text=True, timeout=20, env={**os.environ}
    )


def test_bad_fault_syntax_is_one_line_and_exit_2() -> None:
    done = _run("--faults", "503=lots")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "503=lots" in done.stderr


def test_non_loopback_host_needs_allow_remote() -> None:
    done = _run("--host", "0.0.0.0")
    assert done.returncode == 2 and "--allow-remote" in done.stderr


def test_bad_data_file_is_exit_2(tmp_path) -> None:
    bad = tmp_path / "d.yaml"
    bad.write_text("segment_groups: [{name: x, criteria: {bogus: 1}}]\n")
    done = _run("--data", str(bad))
    assert done.returncode == 2 and "criteria.bogus" in done.stderr


@pytest.mark.parametrize("port", ["99999", "-1", "65536", "x"])
def test_sandbox_with_an_impossible_port_is_exit_2(segrun, port):
    done = segrun("sandbox", "--port", port)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "--port" in done.stderr
