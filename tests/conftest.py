"""Fixtures shared by every test folder: running the real `segrun` command."""

from __future__ import annotations

import os
import subprocess

import pytest

from segrun_testing import segrun_argv


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
