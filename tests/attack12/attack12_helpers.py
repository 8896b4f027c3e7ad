"""Helpers for the issue-12 attacks (a unique module name: several conftest.py exist)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from runner.commands.run import RunOptions, run_spec


def write_spec(tmp_path: Path, base_url: str, jobs: str, top: str = "") -> Path:
    head = f"version: 1\nclient_id: SanchezAssociates\nenvironment: sandbox\nbase_url: {base_url}\n"
    head += textwrap.dedent(top)
    head += ("defaults:\n  poll: {interval: 50ms, timeout: 20s}\n"
             "  retry: {attempts: 4, backoff: 0s, max_backoff: 0s}\n")
    path = tmp_path / "spec.yaml"
    path.write_text(head + "jobs:\n" + textwrap.indent(textwrap.dedent(jobs).strip("\n"), "  ") + "\n")
    return path


def run(spec: Path, tmp_path: Path, **options):
    options.setdefault("out", tmp_path / "run")
    options.setdefault("quiet", True)
    return run_spec(str(spec), RunOptions(**options), environ={})


def one_job(page_size: int = 5, concurrency: int = 1, extra: str = "") -> str:
    return (f"- name: one\n  segment_group: VIP Customers\n  page_size: {page_size}\n"
            f"  concurrency: {concurrency}\n{extra}")
