"""The `segrun-validate` hook, run by the real pre-commit tool on a spec repository."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.support import ROOT

VALID = "version: 1\nclient_id: SanchezAssociates\njobs:\n  - segment_group: VIP Customers\n"
INVALID = "version: 1\nclient_id: SanchezAssociates\njobs:\n  - segment_group: VIP Customers\n    page_size: 0\n"


def git(*args: str, cwd) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_pre_commit_try_repo_rejects_the_invalid_spec(tmp_path):
    repo = tmp_path / "specs-repo"
    repo.mkdir()
    (repo / "good.yaml").write_text(VALID)
    (repo / "bad.yaml").write_text(INVALID)
    git("init", "-q", cwd=repo)
    git("add", ".", cwd=repo)
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    result = subprocess.run(
        [
            "pre-commit",
            "try-repo",
            str(ROOT),
            "segrun-validate",
            "--files",
            "good.yaml",
            "bad.yaml",
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "bad.yaml:5:16: error: jobs[0].page_size: must be at least 1, not 0" in out
    assert "good.yaml" not in out.replace("--files good.yaml", "")
