"""What a person sees on the terminal after a run, and the -v request lines.

The live display during a run is runner/ui/live.py; the summary goes to stdout.
Both streams are the redaction gate's (`runner.redaction.sink`) for the whole
command, so an error text quoting a server cannot print a secret.
"""

from __future__ import annotations

import sys
from typing import TextIO

from runner.records.hints import advice_for, resume_command
from runner.records.report import RunReport
from runner.redaction.redact import Redactor


def verbose_observer(redactor: Redactor, stream: TextIO | None = None):
    """-v: one line per attempt; URLs pass through the redactor like the transcript."""
    stream = stream or sys.stderr

    def observe(job, call, attempt, request, answer, error, elapsed) -> None:
        outcome = str(answer.status) if answer is not None else f"error: {error}"
        retry = f" (attempt {attempt})" if attempt > 1 else ""
        line = (
            f"[{job}] {request.method} {request.url} -> {outcome} in {elapsed * 1000:.0f}ms{retry}"
        )
        stream.write("\r\x1b[2K" * stream.isatty() + redactor.scan(redactor.url(line)) + "\n")
        stream.flush()

    return observe


#: yellow, as the live display and diagnostics paint a warning
_WARNING = "\x1b[1;33m{}\x1b[0m"


def summary(report: RunReport, run_dir: str, *, color: bool = False) -> str:
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
    warnings = [
        f"{job.name}: {note}"
        for job in report.jobs
        for note in job.notes
        if note.startswith("warning:")
    ]
    warnings += [
        f"{job.name}: warning: 0 records: the export holds no record"
        for job in report.jobs
        if job.status == "succeeded" and job.records == 0
    ]
    lines += [_WARNING.format(w) if color else w for w in warnings]
    counts = {s: report.count(s) for s in ("succeeded", "failed", "skipped", "interrupted")}
    told = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines += [
        "",
        f"run {report.status}: {told}",
        f"  exports:    {run_dir}/exports/",
        f"  transcript: {run_dir}/transcript.har (readable: transcript.txt)",
        f"  report:     {run_dir}/report.json (CI: junit.xml)",
        f"  open:       {run_dir}/report.html",
    ]
    held = [job.name for job in report.jobs if job.kind == "expectation"]
    if report.status in ("failed", "interrupted") and len(held) < report.count(
        "failed"
    ) + report.count("interrupted"):
        lines.append(f"  resume:     {resume_command(report.spec, run_dir)}")
    lines += [f"  accept:     segrun accept {run_dir} {name}  (after review)" for name in held]
    helps: dict[str, list[str]] = {}  # each piece of advice once, naming its jobs
    for job in report.jobs:
        hint = advice_for(job.kind) if job.status == "failed" else None
        if hint:
            helps.setdefault(hint, []).append(job.name)
    lines += [f"help: {', '.join(names)}: {hint}" for hint, names in helps.items()]
    return "\n".join(lines) + "\n"
