"""Attack on runner/sandbox/forked.py (commit 2e79551): 'a forked child keeps only its own
pipe: standard streams point at /dev/null and every other descriptor is closed',
so a worker, even one stopped (SIGSTOP) and outliving a SIGKILLed sandbox, holds
neither the listening socket nor the sandbox's stdout/stderr."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.processes import child_pids
from tests.support.sandbox_calls import start_cli_sandbox

needs_proc = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")


def _descriptors(pid: int) -> dict[int, str]:
    folder = Path(f"/proc/{pid}/fd")
    return {int(fd.name): os.readlink(fd) for fd in folder.iterdir()}


@needs_proc
def test_a_stopped_worker_holds_no_port_and_no_output_of_a_killed_sandbox() -> None:
    proc, url = start_cli_sandbox("--page-workers", "2", "--profiles", "50")
    workers = child_pids(proc.pid)
    try:
        assert len(workers) == 2
        for pid in workers:
            fds = _descriptors(pid)
            assert all(fds[fd] == os.devnull for fd in (0, 1, 2)), fds
            rest = {fd: t for fd, t in fds.items() if fd > 2}
            assert len(rest) == 1 and next(iter(rest.values())).startswith("socket:"), fds
            os.kill(pid, signal.SIGSTOP)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=20)  # end-of-file: no worker holds the pipes
        port = urlsplit(url).port
        with socket.socket() as again:
            again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            again.bind(("127.0.0.1", port))  # a worker holding the listener: EADDRINUSE
            again.listen()
    finally:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired, ProcessLookupError):
            proc.kill()
            proc.communicate(timeout=5)
