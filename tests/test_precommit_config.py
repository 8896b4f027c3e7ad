"""The project's own .pre-commit-config.yaml: its segrun hook, run by the real
pre-commit tool on this checkout, checks every example and passes.

(`segrun validate examples/*.yaml` on its own is kept by
tests/spec/test_schema_command.py; this keeps the hook that runs it on commits,
whose `files` pattern could otherwise drift away from examples/ unnoticed.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import yaml

from tests.support import ROOT

CONFIG = ROOT / ".pre-commit-config.yaml"
HOOK = "segrun-validate-examples"


def local_hooks() -> dict[str, dict]:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    return {
        hook["id"]: hook
        for repo in config["repos"]
        if repo["repo"] == "local"
        for hook in repo["hooks"]
    }


def test_the_segrun_hook_picks_every_example_spec():
    hook = local_hooks()[HOOK]
    assert hook["entry"] == "segrun validate"
    assert hook["language"] == "system"
    pattern = re.compile(hook["files"])
    examples = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "examples").iterdir())
    picked = [name for name in examples if pattern.search(name)]
    assert picked == [name for name in examples if name.endswith((".yaml", ".yml"))]
    assert len(picked) >= 4


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("git", "pre-commit", "segrun")),
    reason="needs git, pre-commit and segrun on PATH",
)
def test_pre_commit_runs_the_segrun_hook_on_the_examples_and_it_passes(tmp_path):
    inside = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"], cwd=ROOT, capture_output=True, text=True
    )
    if inside.stdout.strip() != "true":
        pytest.skip("not a git checkout: pre-commit picks files from git")
    env = {k: v for k, v in os.environ.items() if k != "SEGRUN_DEBUG"}
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")
    result = subprocess.run(
        ["pre-commit", "run", HOOK, "--all-files", "--verbose", "--color", "never"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert re.search(r"segrun validate examples/\.+Passed", out), out
    assert re.search(r"\d+ specs? checked: all valid \(0 errors", out), out
