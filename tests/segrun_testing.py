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


def peak_rss_mb(argv: list[str], timeout: float = 300) -> tuple[int, int]:
    """Exit code and peak RSS (MB) of the process `argv` alone, measured by a
    fresh parent (this test process's own peak would count otherwise)."""
    import json
    import os

    probe = (
        "import json, resource, subprocess, sys\n"
        "rc = subprocess.run(json.loads(sys.argv[1]), capture_output=True).returncode\n"
        "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "SEGRUN_DEBUG"}
    out = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(argv)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    rc, mb = out.stdout.split()
    return int(rc), int(mb)


def child_pids(pid: int) -> list[int]:
    """The processes `pid` started (Linux /proc; empty when it is gone)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def process_alive(pid: int) -> bool:
    """Running or sleeping, not gone and not a zombie (Linux /proc)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_cli_sandbox(*options: str) -> tuple[subprocess.Popen, str]:
    """`segrun sandbox --port 0 --processing-seconds 0 OPTIONS` as a process, once
    it serves (everything it prints at start is read): the process and its base URL."""
    from runner.sandbox import DEMO

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner",
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
