"""Helpers for the attack14 tests (a unique module name: several conftest.py exist):
a real `segrun sandbox` subprocess, signed calls with the demo account."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import requests

from runner.apifacts import auth
from runner.sandbox import DEMO
from segrun_testing import child_pids as children  # noqa: F401 - the attack14 tests' name
from segrun_testing import start_cli_sandbox as start

SEGRUN = [sys.executable, "-m", "runner"]


def signed() -> dict:
    now = dt.datetime.now(dt.timezone.utc)
    return {
        "Authorization": auth.authorization(
            DEMO.scheme, DEMO.client_id, DEMO.user_id, DEMO.secret, now
        )
    }


@contextlib.contextmanager
def sandbox(*options: str) -> Iterator[tuple[subprocess.Popen, str]]:
    proc, url = start(*options)
    try:
        yield proc, url
    finally:
        with contextlib.suppress(ProcessLookupError):
            for pid in children(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    import os

                    os.kill(pid, signal.SIGCONT)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)


def state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def export_base(url: str) -> str:
    return f"{urlsplit(url).scheme}://{urlsplit(url).netloc}{urlsplit(url).path}Async/{DEMO.client_id}/Export"


def initiate(url: str, group: str = "All Profiles", body: dict | None = None) -> str:
    base = export_base(url)
    r = requests.post(f"{base}/Segment/{group}", json=body or {}, headers=signed(), timeout=30)
    assert r.status_code == 200, r.text
    token = r.json()["AccessToken"]
    for _ in range(600):
        s = requests.get(f"{base}/{token}/Status", headers=signed(), timeout=30).json()
        if s["Status"] == "Complete":
            return token
        time.sleep(0.05)
    raise AssertionError("export never completed")


def page(url: str, token: str, offset: int, limit: int, timeout: float = 30) -> requests.Response:
    base = export_base(url)
    return requests.get(
        f"{base}/{token}?limit={limit}&offset={offset}&keepAlive=true",
        headers=signed(),
        timeout=timeout,
    )


def touch(url: str, ids: list[int]) -> dict:
    u = urlsplit(url)
    r = requests.post(
        f"{u.scheme}://{u.netloc}/_sandbox/touch", data=json.dumps({"ProfileIds": ids}), timeout=30
    )
    assert r.status_code == 200, r.text
    return r.json()
