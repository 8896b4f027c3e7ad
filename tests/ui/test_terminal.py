"""What a person sees: live lines on a terminal (tests/ui/test_live_display.py), nothing
when not one, and the summary."""

from __future__ import annotations

import io

from runner.run.execute import Progress
from runner.ui.live import LiveDisplay, progress_for
from tests.support.runs import run
from tests.support.specs import write_spec


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_progress_when_not_a_terminal(sandbox, tmp_path):
    screen = io.StringIO()
    spec = write_spec(tmp_path, sandbox.base_url, "- segment_group: VIP Customers\n")
    run(spec, tmp_path, progress=progress_for(screen, quiet=False, verbose=False))
    assert screen.getvalue() == ""


def test_live_lines_on_a_terminal_and_none_when_quiet():
    assert isinstance(progress_for(Terminal(), quiet=False, verbose=False), LiveDisplay)
    assert type(progress_for(Terminal(), quiet=True, verbose=False)) is Progress


def test_summary_names_every_job_and_where_things_are(segrun, sandbox, tmp_path):
    spec = write_spec(
        tmp_path,
        sandbox.base_url,
        "- name: vip\n  segment_group: VIP Customers\n- name: nope\n  segment_group: Finance Audit\n",
    )
    result = segrun("run", str(spec), "--out", str(tmp_path / "r"))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "job",
        "status",
        "records",
        "retries",
        "time",
        "output",
        "/",
        "error",
    ]
    assert lines[1].split()[:2] == ["vip", "succeeded"] and lines[1].endswith("exports/vip.jsonl")
    assert lines[2].split()[:2] == ["nope", "failed"] and "HTTP 403" in lines[2]
    assert (
        f"report:     {tmp_path / 'r'}/report.json (CI: junit.xml)\n  open:       {tmp_path / 'r'}/report.html\n"
        in result.stdout
    )
    assert f"  resume:     segrun run {spec} --resume {tmp_path / 'r'}\n" in result.stdout
    assert "help: nope: the user lacks permission for this segment group" in result.stdout
    quiet = segrun("run", "-q", str(spec), "--out", str(tmp_path / "q"))
    assert quiet.returncode == 1 and quiet.stdout == ""
