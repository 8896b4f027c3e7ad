"""Signed calls to a sandbox with the demo account: a client for a sandbox running in
this process (`running_sandbox`), and `segrun sandbox` as a process of its own."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests

from runner.apifacts import auth
from runner.apifacts.api import endpoints
from runner.sandbox import DEMO, Sandbox
from tests.support.processes import child_pids

UTC = dt.timezone.utc


class Client:
    """A thin signed client over requests.Session, paths from the endpoint map."""

    def __init__(self, sandbox: Sandbox, user_id: str = DEMO.user_id, secret: str = DEMO.secret):
        self.sandbox = sandbox
        self.session = requests.Session()
        self.user_id, self.secret = user_id, secret
        self.client_id = DEMO.client_id
        self.scheme = DEMO.scheme

    def headers(self, client_id: str | None = None) -> dict[str, str]:
        header = auth.authorization(
            self.scheme,
            client_id or self.client_id,
            self.user_id,
            self.secret,
            dt.datetime.now(UTC),
        )
        return {"Authorization": header}

    def url(self, call: str, **params: object) -> str:
        params.setdefault("clientId", self.client_id)
        return self.sandbox.base_url + endpoints()[call].render(**params)

    def initiate(self, group: str, body: object = None, **kw) -> requests.Response:
        kw.setdefault("headers", self.headers())
        if body is not None and "data" not in kw:
            kw["json"] = body
        return self.session.post(self.url("initiate", segmentGroupName=group), timeout=10, **kw)

    def status(self, token: object, **kw) -> requests.Response:
        kw.setdefault("headers", self.headers())
        return self.session.get(self.url("status", accessToken=token), timeout=10, **kw)

    def retrieve(self, token: object, **params: object) -> requests.Response:
        return self.session.get(
            self.url("retrieve", accessToken=token),
            params=params,
            headers=self.headers(),
            timeout=10,
        )

    def commit(self, token: object, **params: object) -> requests.Response:
        return self.session.post(
            self.url("commit", accessToken=token),
            params=params,
            headers=self.headers(),
            timeout=10,
        )

    def start(self, group: str, body: object = None) -> int:
        """Initiate and wait for the export to leave Processing; its token."""
        r = self.initiate(group, body)
        assert r.status_code == 200, r.text
        token = r.json()["AccessToken"]
        self.wait(token)
        return token

    def wait(self, token: int, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            body = self.status(token).json()
            if body["Status"] != "Processing" or time.monotonic() > deadline:
                return body
            time.sleep(0.01)

    def export(self, group: str, body: object = None, limit: int = 1000) -> list[dict]:
        token = self.start(group, body)
        records, offset = [], 1
        while True:
            page = self.retrieve(token, limit=limit, offset=offset).json()
            records += page["UserProfilePreferences"]
            offset += page["Count"]
            if not page["HasMore"]:
                return records


# -- `segrun sandbox` as a process ---------------------------------------------------
#: the interpreter, started with the open-files limit of argv[1], becomes `python -m
#: runner ARGS` (the same process: its CPU time and descriptors are the sandbox's)
_LIMITED = (
    "import os, resource, sys\n"
    "n = int(sys.argv[1])\n"
    "resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'runner', *sys.argv[2:]])\n"
)


def start_cli_sandbox(*options: str, nofile: int | None = None) -> tuple[subprocess.Popen, str]:
    """`segrun sandbox --port 0 --processing-seconds 0 OPTIONS` as a process, once
    it serves (everything it prints at start is read): the process and its base URL.
    `nofile`: the most file descriptors it may hold (RLIMIT_NOFILE)."""
    python = [sys.executable, "-m", "runner"]
    if nofile is not None:
        python = [sys.executable, "-c", _LIMITED, str(nofile)]
    proc = subprocess.Popen(
        [
            *python,
            "sandbox",
            "--port",
            "0",
            "--processing-seconds",
            "0",
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = proc.stdout.readline()
    assert first.startswith("segrun sandbox serving "), proc.stderr.read()
    last = f"export {list(DEMO.environment())[-1]}="
    while not proc.stdout.readline().startswith(last):
        pass
    return proc, first.split()[-1]


@contextlib.contextmanager
def cli_sandbox(*options: str, nofile: int | None = None) -> Iterator[tuple[subprocess.Popen, str]]:
    """`start_cli_sandbox`, killed at the end with every worker it started (a
    stopped worker is woken first, so it can die)."""
    proc, url = start_cli_sandbox(*options, nofile=nofile)
    try:
        yield proc, url
    finally:
        for pid in child_pids(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)


def signed() -> dict:
    now = dt.datetime.now(UTC)
    return {
        "Authorization": auth.authorization(
            DEMO.scheme, DEMO.client_id, DEMO.user_id, DEMO.secret, now
        )
    }


def _export_base(url: str) -> str:
    u = urlsplit(url)
    return f"{u.scheme}://{u.netloc}{u.path}Async/{DEMO.client_id}/Export"


def initiate(url: str, group: str = "All Profiles", body: dict | None = None) -> str:
    """Initiate an export on the sandbox at `url` and wait until it is complete."""
    base = _export_base(url)
    r = requests.post(f"{base}/Segment/{group}", json=body or {}, headers=signed(), timeout=30)
    assert r.status_code == 200, r.text
    token = r.json()["AccessToken"]
    for _ in range(600):
        s = requests.get(f"{base}/{token}/Status", headers=signed(), timeout=30).json()
        if s["Status"] == "Complete":
            return token
        time.sleep(0.05)
    raise AssertionError("export never completed")


def retrieve(url: str, token: str, offset: int, limit: int, timeout: float = 30):
    """One Retrieve page (keepAlive, so the export can be read again)."""
    return requests.get(
        f"{_export_base(url)}/{token}?limit={limit}&offset={offset}&keepAlive=true",
        headers=signed(),
        timeout=timeout,
    )
