"""Helpers for the issue-12 attacks (a unique module name: several conftest.py exist)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from runner.commands.run import RunOptions, run_spec


def write_spec(tmp_path: Path, base_url: str, jobs: str, top: str = "") -> Path:
    head = f"version: 1\nclient_id: SanchezAssociates\nenvironment: sandbox\nbase_url: {base_url}\n"
    head += textwrap.dedent(top)
    head += (
        "defaults:\n  poll: {interval: 50ms, timeout: 20s}\n"
        "  retry: {attempts: 4, backoff: 0s, max_backoff: 0s}\n"
    )
    path = tmp_path / "spec.yaml"
    path.write_text(
        head + "jobs:\n" + textwrap.indent(textwrap.dedent(jobs).strip("\n"), "  ") + "\n"
    )
    return path


def run(spec: Path, tmp_path: Path, **options):
    options.setdefault("out", tmp_path / "run")
    options.setdefault("quiet", True)
    return run_spec(str(spec), RunOptions(**options), environ={})


def one_job(page_size: int = 5, concurrency: int = 1, extra: str = "") -> str:
    return (
        f"- name: one\n  segment_group: VIP Customers\n  page_size: {page_size}\n"
        f"  concurrency: {concurrency}\n{extra}"
    )


def export_by_cli(tmp_path: Path, answer, total: int, page_size: int, timeout: float = 60):
    """`segrun run` as a user runs it, against a raw server answering pages with
    `answer(offset, limit)`: the finished process and the export's lines (none
    when no export was placed)."""
    import os
    import subprocess

    from raw_server import running_raw

    from segrun_testing import segrun_argv

    with running_raw(answer, total) as (base_url, _):
        spec = write_spec(tmp_path, base_url, one_job(page_size))
        env = {k: v for k, v in os.environ.items() if k != "SEGRUN_DEBUG"}
        done = subprocess.run(
            [*segrun_argv(), "run", str(spec), "--out", str(tmp_path / "run"), "--quiet"],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    out = tmp_path / "run" / "exports" / "one.jsonl"
    return done, out.read_bytes().splitlines() if out.exists() else []


def export_peak_mb(tmp_path: Path, answer, total: int, page_size: int, concurrency: int) -> int:
    """Peak RSS (MB) of `segrun run` exporting from a raw server answering pages
    with `answer(offset, limit)` at this concurrency; the run must succeed."""
    from raw_server import running_raw

    from segrun_testing import peak_rss_mb, segrun_argv

    with running_raw(answer, total) as (base_url, _):
        spec = write_spec(tmp_path, base_url, one_job(page_size, concurrency))
        out = tmp_path / f"run-{concurrency}"
        rc, mb = peak_rss_mb([*segrun_argv(), "run", str(spec), "--out", str(out), "--quiet"])
    assert rc == 0
    return mb
