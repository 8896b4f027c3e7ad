"""Helpers shared by the test folders (a unique name: several conftest.py exist)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def segrun_argv() -> list[str]:
    exe = shutil.which("segrun")
    return [exe] if exe else [sys.executable, "-m", "runner"]


def assert_no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
