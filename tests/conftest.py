"""Fixtures shared by every test folder: the real `segrun` command, a sandbox, and
the fake export server. The sandbox's own tests (tests/sandbox) override `sandbox`
with one of their own, shared by a module."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from runner.sandbox import Sandbox, running_sandbox
from tests.support.fake_server import FakeServer, serving
from tests.support.processes import segrun_argv


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
