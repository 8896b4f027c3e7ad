"""Runs of a spec: in this process (`run_spec`, as the CLI calls it), in a forked
child that may crash, or as the `segrun run` command against a page script."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from runner.commands.run import RunOptions, run_spec
from runner.system import durable
from tests.support.fake_server import PageScript, serving_pages
from tests.support.processes import peak_rss_mb, segrun_argv, segrun_environ
from tests.support.specs import one_job, write_spec


def run(spec: Path, tmp_path: Path, environ: dict | None = None, **options):
    """`segrun run` in this process (quiet, into tmp_path/run unless told): its outcome."""
    options.setdefault("out", tmp_path / "run")
    options.setdefault("quiet", True)
    return run_spec(str(spec), RunOptions(**options), environ=environ or {})


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def job(outcome, name: str):
    return next(j for j in outcome.report.jobs if j.name == name)


def crash_run(spec: Path, run_dir: Path, crash_at: int | str, log: Path) -> int:
    """`segrun run` in a forked child (the imports are already paid for: ~40 of these
    per walk), crashing at its `crash_at`-th durable operation (or the one named
    `WHAT#K`: runner/system/durable.py). Returns what
    os.waitpid says: -9 for the crash, 0 when the run finished first."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 3
        try:
            os.environ[durable.CRASH_ENV], os.environ[durable.LOG_ENV] = str(crash_at), str(log)
            durable._count, durable._named = 0, {}
            outcome = run_spec(str(spec), RunOptions(out=run_dir, quiet=True), environ={})
            code = outcome.report.exit_code
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def export_by_cli(
    tmp_path: Path, answer: PageScript, total: int, page_size: int, timeout: float = 60
):
    """`segrun run` as a user runs it, against the fake server answering pages with
    `answer(offset, limit)`: the finished process and the export's lines (none
    when no export was placed)."""
    with serving_pages(answer, total) as (base_url, _):
        spec = write_spec(tmp_path, base_url, one_job(page_size))
        done = subprocess.run(
            [*segrun_argv(), "run", str(spec), "--out", str(tmp_path / "run"), "--quiet"],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=segrun_environ(),
        )
    out = tmp_path / "run" / "exports" / "one.jsonl"
    return done, out.read_bytes().splitlines() if out.exists() else []


def export_peak_mb(
    tmp_path: Path, answer: PageScript, total: int, page_size: int, concurrency: int
) -> int:
    """Peak RSS (MB) of `segrun run` exporting from the fake server answering pages
    with `answer(offset, limit)` at this concurrency; the run must succeed."""
    with serving_pages(answer, total) as (base_url, _):
        spec = write_spec(tmp_path, base_url, one_job(page_size, concurrency))
        out = tmp_path / f"run-{concurrency}"
        rc, mb = peak_rss_mb([*segrun_argv(), "run", str(spec), "--out", str(out), "--quiet"])
    assert rc == 0
    return mb
