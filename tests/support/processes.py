"""The real `segrun` as a child process, as a user runs it, and the processes it starts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.fake_server import LONG_SECRET, OAUTH_CLIENT_ID, FakeServer
from tests.support.leaks import leaks


def segrun_argv() -> list[str]:
    exe = shutil.which("segrun")
    return [exe] if exe else [sys.executable, "-m", "runner"]


def segrun_environ(**extra: str) -> dict[str, str]:
    """This process's environment without SEGRUN_DEBUG (a traceback on purpose
    would pass for a crash), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k != "SEGRUN_DEBUG"}
    env.update(extra)
    return env


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
    probe = (
        "import json, resource, subprocess, sys\n"
        "rc = subprocess.run(json.loads(sys.argv[1]), capture_output=True).returncode\n"
        "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(argv)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=segrun_environ(),
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


#: runs `segrun` (runner.cli:main, the console script's target) and, as it exits,
#: writes its own VmHWM: exec starts a new address space, so the mark is segrun's
_OWN_PEAK = """
import atexit, sys
def _peak(path=sys.argv[1]):
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            open(path, "w").write(line.split()[1])
atexit.register(_peak)
sys.argv = ["segrun", *sys.argv[2:]]
from runner.cli import main
main()
"""


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mib: float
    run_dir: Path
    state_dir: Path

    def report(self) -> dict:
        return json.loads((self.run_dir / "report.json").read_text())


def run_segrun(
    tmp_path: Path,
    spec: str,
    secret: str,
    *args: str,
    timeout: float = 60,
    env: dict | None = None,
    signal_after: tuple[float, int] | None = None,
) -> Outcome:
    """`segrun run SPEC` in a child, its secret in HOSTILE_SECRET (and the OAuth
    client id in HOSTILE_CLIENT_ID); its own peak RSS, not the test's."""
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(spec)
    run_dir = tmp_path / "run"
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700, exist_ok=True)  # segrun never creates a given --state folder
    full_env = segrun_environ(HOSTILE_SECRET=secret, HOSTILE_CLIENT_ID=OAUTH_CLIENT_ID)
    full_env.update(env or {})
    peak_file = tmp_path / "peak-kib"
    # The child's peak must be its own: wait4's ru_maxrss also counts the pytest
    # process it was forked from (hundreds of MB late in a full run), so the
    # child reports the high-water mark of its own address space as it exits.
    argv = [
        sys.executable,
        "-c",
        _OWN_PEAK,
        str(peak_file),
        "run",
        str(spec_path),
        "--out",
        str(run_dir),
        "--state",
        str(state_dir / "state.json"),
        *args,
    ]
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env)
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [
        threading.Thread(target=lambda s=s, b=b: b.append(s.read()), daemon=True)
        for s, b in ((proc.stdout, out), (proc.stderr, err))
    ]
    for reader in readers:
        reader.start()
    if signal_after is not None:
        delay, signum = signal_after
        time.sleep(delay)
        proc.send_signal(signum)
    rusage = None
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - started > timeout:
            proc.kill()
            os.wait4(proc.pid, 0)
            raise AssertionError(f"segrun did not end within {timeout}s")
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(10)
    return Outcome(
        code=proc.returncode,
        stdout=b"".join(out).decode("utf-8", "replace"),
        stderr=b"".join(err).decode("utf-8", "replace"),
        seconds=time.monotonic() - started,
        peak_rss_mib=(int(peak_file.read_text()) if peak_file.exists() else rusage.ru_maxrss)
        / 1024,
        run_dir=run_dir,
        state_dir=state_dir,
    )


def assert_nothing_leaked(outcome: Outcome, server: FakeServer, secrets) -> None:
    """No spelling of a secret, nor of a signature the server received, in the run
    directory, the state folder or either stream."""
    where = [outcome.run_dir, outcome.state_dir]
    streams = [outcome.stdout, outcome.stderr]
    everything = [*secrets, *server.signatures()]
    found = [hit for s in everything for hit in leaks(s, where, streams)]
    assert not found, found


def assert_well_behaved(outcome: Outcome, server: FakeServer, secrets=(LONG_SECRET,)) -> None:
    """What every run against the fake server must show, whatever it was fed:
    no traceback, no internal error, bounded memory, and no credential anywhere."""
    assert "Traceback" not in outcome.stderr + outcome.stdout, outcome.stderr
    assert "internal error" not in outcome.stderr, outcome.stderr
    assert outcome.peak_rss_mib < 250, outcome.peak_rss_mib
    assert_nothing_leaked(outcome, server, list(secrets))


def on_a_terminal(argv: list[str], cwd: Path, env: dict | None = None, timeout: float = 120):
    """Run argv with stdout and stderr on a pseudo-terminal, as a person at a
    terminal runs it (so segrun draws its pictures); its exit code and every
    byte it wrote there."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        cwd=cwd,
        env={**segrun_environ(), "TERM": "xterm-256color", **(env or {})},
        close_fds=True,
        start_new_session=True,
    )
    os.close(slave)
    seen = bytearray()
    code = read_terminal(master, proc, timeout, seen.extend)
    return code, bytes(seen)


def read_terminal(master: int, proc: subprocess.Popen, timeout: float, feed) -> int:
    """What `proc` writes to the terminal whose leader is `master`, handed to `feed` as
    it comes, until the process closes it or `timeout` passes; its exit code. The leader
    is closed and the process killed, whatever happens."""
    import select

    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            feed(data)
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
