"""What a person sees: a progress bar on a terminal, nothing when not one."""

from __future__ import annotations

import io

from run_helpers import run, write_spec

from runner.terminal import TerminalProgress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_counts_records_of_rowcount_on_a_terminal(sandbox, tmp_path):
    screen = Terminal()
    spec = write_spec(tmp_path, sandbox.base_url, "- name: all\n  segment_group: All Profiles\n  page_size: 100\n")
    run(spec, tmp_path, progress=TerminalProgress(screen))
    drawn = screen.getvalue()
    assert "all  [" + "#" * 8 + "." * 16 + "]  100/300 records" in drawn
    assert "all  [" + "#" * 24 + "]  300/300 records" in drawn
    assert drawn.endswith("\r\x1b[2K")  # the bar is wiped when the job ends


def test_no_progress_when_not_a_terminal(sandbox, tmp_path):
    screen = io.StringIO()
    spec = write_spec(tmp_path, sandbox.base_url, "- segment_group: VIP Customers\n")
    run(spec, tmp_path, progress=TerminalProgress(screen))
    assert screen.getvalue() == ""


def test_summary_names_every_job_and_where_things_are(segrun, sandbox, tmp_path):
    spec = write_spec(tmp_path, sandbox.base_url, "- name: vip\n  segment_group: VIP Customers\n- name: nope\n  segment_group: Finance Audit\n")
    result = segrun("run", str(spec), "--out", str(tmp_path / "r"))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["job", "status", "records", "retries", "time", "output", "/", "error"]
    assert lines[1].split()[:2] == ["vip", "succeeded"] and lines[1].endswith("exports/vip.jsonl")
    assert lines[2].split()[:2] == ["nope", "failed"] and "HTTP 403" in lines[2]
    assert f"report:     {tmp_path / 'r'}/report.json" in result.stdout
    quiet = segrun("run", "-q", str(spec), "--out", str(tmp_path / "q"))
    assert quiet.returncode == 1 and quiet.stdout == ""
