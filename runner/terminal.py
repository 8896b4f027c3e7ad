"""What a person sees on the terminal during and after a run.

Progress goes to stderr and only when stderr is a terminal; the summary goes to
stdout. Both streams are the redaction gate's (`runner.records.sink`) for the
whole command, so an error text quoting a server cannot print a secret.
"""

from __future__ import annotations

import sys
from typing import TextIO

from runner.execute import Progress
from runner.records.redact import Redactor
from runner.records.report import RunReport
from runner.spec.model import Job

BAR = 24


class TerminalProgress(Progress):
    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._done = 0
        self._total: int | None = None
        self._state = ""

    def start(self, job: Job) -> None:
        self._done, self._total, self._state = 0, None, "Initiate"
        self._draw(job)

    def status(self, job: Job, status: str) -> None:
        self._state = status
        self._draw(job)

    def total(self, job: Job, row_count: int) -> None:
        self._total = row_count
        self._draw(job)

    def advance(self, job: Job, records: int) -> None:
        self._done += records
        self._draw(job)

    def finish(self, job: Job, result) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()

    def _draw(self, job: Job) -> None:
        if not self.enabled:
            return
        if self._total:
            filled = min(BAR, BAR * self._done // self._total)
            bar = "#" * filled + "." * (BAR - filled)
            text = f"{job.name}  [{bar}]  {self._done:,}/{self._total:,} records"
        else:
            text = f"{job.name}  {self._state}..."
        self.stream.write("\r\x1b[2K" + text)
        self.stream.flush()


def verbose_observer(redactor: Redactor, stream: TextIO | None = None):
    """-v: one line per attempt; URLs pass through the redactor like the transcript."""
    stream = stream or sys.stderr

    def observe(job, call, attempt, request, response, error, elapsed) -> None:
        outcome = str(response.status_code) if response is not None else f"error: {error}"
        retry = f" (attempt {attempt})" if attempt > 1 else ""
        line = (
            f"[{job}] {request.method} {request.url} -> {outcome} in {elapsed * 1000:.0f}ms{retry}"
        )
        stream.write("\r\x1b[2K" * stream.isatty() + redactor.scan(redactor.url(line)) + "\n")
        stream.flush()

    return observe


def summary(report: RunReport, run_dir: str) -> str:
    rows = [("job", "status", "records", "retries", "time", "output / error")]
    for job in report.jobs:
        detail = job.output or job.error or "; ".join(job.notes) or ""
        rows.append(
            (
                job.name,
                job.status,
                f"{job.records:,}",
                str(job.retries),
                f"{job.duration_s:.1f}s",
                detail,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r[:5])) + "  " + r[5] for r in rows
    ]
    # Warnings of jobs that succeeded would hide behind their output path: say them.
    lines += [
        f"{job.name}: {note}"
        for job in report.jobs
        for note in job.notes
        if note.startswith("warning:")
    ]
    counts = {s: report.count(s) for s in ("succeeded", "failed", "skipped", "interrupted")}
    told = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines += [
        "",
        f"run {report.status}: {told}",
        f"  exports:    {run_dir}/exports/",
        f"  transcript: {run_dir}/transcript.har (readable: transcript.txt)",
        f"  report:     {run_dir}/report.json (CI: junit.xml)",
    ]
    return "\n".join(lines) + "\n"
