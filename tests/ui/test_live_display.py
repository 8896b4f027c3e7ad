"""The live display in a real pseudo-terminal, read back through a terminal emulator."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios

import pyte

from runner.sandbox import running_sandbox
from tests.support.processes import read_terminal, segrun_argv
from tests.support.specs import write_spec

COLUMNS = 60
#: the emulator is wider than the terminal the program is told of, so a line
#: longer than COLUMNS shows up past it instead of silently wrapping
EMULATED = 160

JOBS = """
- name: a-job-with-a-name-long-enough-to-overflow-sixty-columns
  segment_group: All Profiles
  page_size: 100
- name: sheet
  segment_group: All Profiles
  page_size: 200
  output: {format: csv}
  retry: {attempts: 4, backoff: 1s, max_backoff: 1s}
"""


def drive(argv: list[str], cwd, timeout: float = 90) -> tuple[list[list[str]], int, str]:
    """Run argv with stdin and stderr on a COLUMNS-wide pty (stdout, the summary, to a
    file); every screen it drew, its exit code and its stdout."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, COLUMNS, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    out = open(cwd / "stdout.txt", "w+")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=out,
        stderr=slave,
        cwd=cwd,
        env=env,
        close_fds=True,
        start_new_session=True,
    )
    os.close(slave)
    screen = pyte.Screen(EMULATED, 50)
    stream = pyte.ByteStream(screen)
    screens = []

    def draw(data: bytes) -> None:
        stream.feed(data)
        screens.append(list(screen.display))

    try:
        code = read_terminal(master, proc, timeout, draw)
    finally:
        out.close()
    return screens, code, (cwd / "stdout.txt").read_text()


def test_live_display_tells_rate_eta_retries_and_keeps_finished_jobs(tmp_path):
    with running_sandbox(profiles=2000, seed=5, faults="slow_seconds=0.15") as sandbox:
        spec = write_spec(tmp_path, sandbox.base_url, JOBS)
        # the first job's pages come slowly (so a rate and an ETA are measured);
        # the CSV job's second page is refused once with a 503, then retried
        sandbox.faults.script("retrieve", ["slow"] * 20 + ["ok", "503"])
        screens, code, summary = drive([*segrun_argv(), "run", str(spec), "--out", "run"], tmp_path)
    assert code == 0, "\n".join(screens[-1])
    for shown in screens:
        for line in shown:
            assert not line[COLUMNS:].strip(), f"a line wider than {COLUMNS} columns: {line!r}"
    every = ["\n".join(line.rstrip() for line in s) for s in screens]
    for shown in screens:  # nor wrapped by the program itself: a state line is whole or cut
        for line in shown:
            if line.lstrip().startswith(("Retrieving", "Committing", "Processing")):
                assert "elapsed" in line or line.rstrip().endswith("…"), line
    assert any(
        "rec/s" in s and "ETA" in s and "Retrieving" in s and "job 1 of 2" in s for s in every
    )
    assert any("job 2 of 2" in s for s in every)
    # while it waits, and folded at ": " to fit 60 columns
    assert any(
        "sheet: 503 on Retrieve at offset 201:\n" in s
        and "retrying in" in s
        and "attempt 2 of 4 (" in s
        and "left)" in s
        for s in every
    )
    last = every[-1]
    assert "✓ a-job-with-a-name-l…  succeeded  2,000 of 2,000 records" in last  # cut, not wrapped
    assert "✓ sheet  succeeded  2,000 of 2,000 records  " in last
    assert "sheet: 503 on Retrieve at offset 201:" in last  # the notice stays on screen
    assert "attempt 2 of 4" in last
    assert "run succeeded" in summary


def test_verbose_off_a_terminal_prints_one_plain_line_per_event(segrun, tmp_path):
    with running_sandbox(profiles=300, seed=5) as sandbox:
        spec = write_spec(tmp_path, sandbox.base_url, JOBS)
        sandbox.faults.script("retrieve", ["ok"] * 4 + ["503"])
        quiet = segrun("run", str(spec), "--out", str(tmp_path / "q"))
        sandbox.faults.script("retrieve", ["ok"] * 4 + ["503"])
        loud = segrun("run", "-v", str(spec), "--out", str(tmp_path / "v"))
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert loud.returncode == 0
    lines = loud.stderr.splitlines()
    assert "\x1b" not in loud.stderr and "\r" not in loud.stderr
    assert "[sheet] job 2 of 2: Initiate" in lines
    assert "[sheet] RowCount 300: retrieving" in lines
    assert any(
        line.startswith("[sheet] 503 on Retrieve at offset 201: retrying in")
        and line.endswith("attempt 2 of 4")
        for line in lines
    )
    assert any(line.startswith("✓ sheet  succeeded  300 of 300 records") for line in lines)


def test_spec_errors_of_plan_and_run_show_the_source_on_a_terminal(tmp_path):
    spec = tmp_path / "jobs.yaml"
    spec.write_text(
        "version: 1\nclient_id: SanchezAssociates\njobs:\n  - name: no\n    segment_group: VIP\n"
    )
    for command in ("plan", "run"):
        screens, code, _ = drive([*segrun_argv(), command, str(spec)], tmp_path)
        shown = "\n".join(line.rstrip() for line in screens[-1])
        assert code == 2
        assert "error: jobs[0].name: must be a string, not true/false" in shown
        assert f" --> {spec}:4:11" in shown
        assert "4 |   - name: no\n  |           ^^\n" in shown
        assert '  = help: YAML 1.1 reads no as false; for text, quote it: name: "no"' in shown


THREE = """
- {name: first, segment_group: All Profiles, page_size: 100}
- {name: second, segment_group: VIP Customers, page_size: 50}
- {name: third, segment_group: Email Subscribers, page_size: 50}
"""


def test_jobs_in_flight_are_drawn_together_and_each_line_stays_whole(tmp_path):
    with running_sandbox(
        profiles=1500, seed=5, faults="slow_seconds=0.05,retrieve:slow=0.5", processing_seconds=0.3
    ) as sandbox:
        spec = write_spec(tmp_path, sandbox.base_url, THREE)
        screens, code, summary = drive(
            [*segrun_argv(), "run", str(spec), "--jobs", "3", "--out", "run"], tmp_path
        )
    assert code == 0, "\n".join(screens[-1])
    every = ["\n".join(line.rstrip() for line in s) for s in screens]
    # at some moment, several running jobs, each with its two lines
    assert any(sum(f"job {n} of 3" in s for n in (1, 2, 3)) >= 2 for s in every)
    for shown in screens:
        for line in shown:
            assert not line[COLUMNS:].strip(), f"a line wider than {COLUMNS} columns: {line!r}"
    last = every[-1]
    for name in ("first", "second", "third"):
        assert sum(line.startswith(f"✓ {name}  succeeded") for line in last.splitlines()) == 1
    rows = [line.split()[0] for line in summary.splitlines()[1:4]]
    assert rows == ["first", "second", "third"]


def test_verbose_lines_of_jobs_in_flight_never_mix(segrun, tmp_path):
    with running_sandbox(profiles=600, seed=5) as sandbox:
        spec = write_spec(tmp_path, sandbox.base_url, THREE)
        loud = segrun("run", "-v", "--jobs", "3", str(spec), "--out", str(tmp_path / "v"))
    assert loud.returncode == 0, loud.stderr
    names = ("first", "second", "third")
    lines = loud.stderr.splitlines()
    assert len(lines) > 30
    for line in lines:  # each line one whole event of one job
        assert line.startswith(tuple(f"[{n}] " for n in names)) or line.startswith("✓ "), line
        assert not any(f"[{n}] " in line[1:] for n in names), line  # no second one inside
    for name in names:
        assert f"[{name}] RowCount" in loud.stderr
        assert sum(line.startswith(f"✓ {name}  succeeded") for line in lines) == 1
