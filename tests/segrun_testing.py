"""Helpers shared by the test folders (a unique name: several conftest.py exist)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def segrun_argv() -> list[str]:
    exe = shutil.which("segrun")
    return [exe] if exe else [sys.executable, "-m", "runner"]


def assert_no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def until_run_made(run_dir: Path, proc: subprocess.Popen) -> None:
    """Wait (a bounded while) until a run has written its report, so there is a
    run to resume: on a loaded machine start-up alone can outlast a test's sleep."""
    for _ in range(300):
        if (run_dir / "report.json").exists() or proc.poll() is not None:
            return
        time.sleep(0.05)
