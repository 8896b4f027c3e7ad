"""Fixtures shared by every test folder: the real `segrun` command, a sandbox, and
the fake export server. The sandbox's own tests (tests/sandbox) override `sandbox`
with one of their own, shared by a module."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from runner.sandbox import Sandbox, running_sandbox
from tests.support.fake_server import FakeServer, serving
from tests.support.processes import segrun_argv


def _loopback_only(event: str, args: tuple) -> None:
    """Tests reach 127.0.0.1 and nothing else: a connection anywhere else from this
    process (an example spec's real host, a name that resolves outward) is refused as
    the network refuses one, before a packet leaves."""
    if event != "socket.connect":
        return
    sock, address = args
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    host = address[0]
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
        if ip.is_loopback or ip.is_unspecified:  # 0.0.0.0 is this machine on Linux
            return
    except ValueError:
        pass
    raise ConnectionRefusedError(f"tests connect to loopback only, not {host}")


sys.addaudithook(_loopback_only)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: two workers a core. About half of the suite's time is waiting (on
    request deadlines, trickles, stop signals, kills at random moments, a slow page),
    which a second worker a core fills: 4 minutes instead of 5 and a half here."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return 2 * (cores or 1)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked xdist_group must run with its group, one after another on one
    worker (--dist loadgroup tags its id with the group): stop if that silently
    failed, as it does with pytest 9.2 and pytest-xdist 3.8 (pytest-xdist#1386)."""
    if not getattr(config.option, "loadgroup", False):
        return
    loose = [i.nodeid for i in items if i.get_closest_marker("xdist_group") and "@" not in i.nodeid]
    if loose:
        raise pytest.UsageError(
            f"--dist loadgroup did not group {loose[0]} (and {len(loose) - 1} more): "
            "install the pytest and pytest-xdist versions pyproject.toml's test extra names"
        )


@pytest.fixture(autouse=True)
def _umask_put_back() -> Iterator[None]:
    """`segrun run` in this process makes the process umask private for good
    (runner/redaction/sink.py, keep_private); every child started later inherits
    it. Put back after each test, so no test runs under another's umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    yield
    os.umask(mask)


@pytest.fixture(autouse=True)
def _secrets_forgotten() -> Iterator[None]:
    """A command run in this process teaches the process's redactor every secret it saw
    (runner/redaction/sink.py), as a CLI process must. Each test starts with a redactor
    that knows none, so one test's secrets (a fuzzer's three-character one) never mask
    another's output."""
    from runner.redaction import sink

    kept = sink._current
    sink._current = sink.Sink()
    yield
    sink._current = kept


@pytest.fixture
def segrun():
    """Run the installed CLI in a subprocess, as a user would."""

    def run(
        *args: str,
        cwd: str | os.PathLike | None = None,
        env: dict | None = None,
        timeout: float = 120,
        input: str | None = None,
    ) -> subprocess.CompletedProcess:
        full_env = {**os.environ, **(env or {})}
        full_env.pop("SEGRUN_DEBUG", None)
        return subprocess.run(
            [*segrun_argv(), *args],
            cwd=cwd,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )

    return run


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A sandbox on 127.0.0.1 of 300 profiles, for one test."""
    with running_sandbox(profiles=300, seed=11) as sb:
        yield sb


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    """The scripted fake export server on 127.0.0.1 (tests/support/fake_server.py)."""
    with serving() as server:
        yield server
