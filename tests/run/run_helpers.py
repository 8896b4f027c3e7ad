"""Helpers for the executor's tests (a unique module name: several conftest.py exist)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from runner.commands.run import RunOptions, run_spec


def write_spec(tmp_path: Path, base_url: str | None, jobs: str, top: str = "") -> Path:
    """A spec aimed at a running sandbox (base_url: the demo account signs)."""
    head = "version: 1\nclient_id: SanchezAssociates\nenvironment: sandbox\n"
    if base_url:
        head += f"base_url: {base_url}\n"
    head += textwrap.dedent(top)
    head += "defaults:\n  poll: {interval: 50ms, timeout: 20s}\n  retry: {attempts: 4, backoff: 0s, max_backoff: 0s}\n"
    path = tmp_path / "spec.yaml"
    path.write_text(
        head + "jobs:\n" + textwrap.indent(textwrap.dedent(jobs).strip("\n"), "  ") + "\n"
    )
    return path


def run(spec: Path, tmp_path: Path, environ: dict | None = None, **options):
    options.setdefault("out", tmp_path / "run")
    options.setdefault("quiet", True)
    return run_spec(str(spec), RunOptions(**options), environ=environ or {})


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def job(outcome, name: str):
    return next(j for j in outcome.report.jobs if j.name == name)
