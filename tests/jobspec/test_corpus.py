"""Every invalid spec in the corpus yields exactly the diagnostics written at its end."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.jobspec.check import check_file
from tests.support.processes import assert_no_traceback

CORPUS = Path(__file__).parent / "corpus" / "invalid"
FILES = sorted(CORPUS.glob("*.yaml"))


def expected(path: Path) -> list[str]:
    return [
        line[len("# expect: ") :].rstrip("\n")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("# expect: ")
    ]


def test_corpus_is_large_enough():
    assert len(FILES) >= 40


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_invalid_spec(path: Path, monkeypatch):
    monkeypatch.chdir(CORPUS)  # diagnostics name files as given
    want = expected(path)
    assert want, f"{path.name} has no '# expect:' lines"
    got = [str(d) for d in check_file(path.name, environ={}).diagnostics]
    assert got == want


def test_corpus_through_the_cli(segrun):
    """One process for all files: sorted by file and line, exit 2, no traceback."""
    result = segrun(
        "validate", *[p.name for p in FILES], cwd=CORPUS, env={"HOME": os.environ.get("HOME", "/")}
    )
    assert result.returncode == 2
    assert_no_traceback(result)
    want = [line for p in FILES for line in expected(p)]
    got = result.stdout.splitlines()
    assert sorted(got) == sorted(want)
    keys = [
        (line.split(":")[0], int(line.split(":")[1]) if line.split(":")[1].isdigit() else 0)
        for line in got
    ]
    assert keys == sorted(keys)
    assert "invalid" in result.stderr
