"""Hostile spec files: each fails cleanly, with its line, exit 2, no traceback."""

from __future__ import annotations

import tracemalloc

import pytest

from runner.jobspec.loader import MAX_DEPTH, LoadProblem, load_bytes, load_text
from tests.support.processes import assert_no_traceback

BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{p}: &{p} [{','.join(['*' + c] * 9)}]\n" for p, c in zip("bcdefghi", "abcdefgh", strict=True)
)


def run_cli(segrun, tmp_path, data: bytes, *extra: str):
    path = tmp_path / "hostile.yaml"
    path.write_bytes(data)
    result = segrun("validate", *extra, str(path), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert_no_traceback(result)
    return result.stdout.strip()


def test_billion_laughs_fails_with_little_memory(segrun, tmp_path):
    tracemalloc.start()
    with pytest.raises(LoadProblem) as caught:
        load_text(BILLION_LAUGHS)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert caught.value.rule == "alias"
    assert peak < 5_000_000
    out = run_cli(segrun, tmp_path, BILLION_LAUGHS.encode())
    assert ":6:" in out or ":7:" in out or ":8:" in out or ":9:" in out
    assert "alias" in out


def test_alias_count_is_capped(segrun, tmp_path):
    text = "x: &x 1\ny: [" + ", ".join(["*x"] * 101) + "]\n"
    out = run_cli(segrun, tmp_path, text.encode())
    assert "hostile.yaml:2:" in out and "more than 100 aliases" in out


def test_a_few_aliases_are_fine():
    doc = load_text("x: &x {a: 1}\ny: *x\nz: [*x, *x]\n")
    assert doc.root["y"] == {"a": 1}


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 100_000])
def test_deep_nesting_is_a_clean_error(segrun, tmp_path, levels):
    text = "a: " + "[" * levels + "]" * levels + "\n"
    out = run_cli(segrun, tmp_path, text.encode())
    # The root mapping is level 1, so the 64th bracket (column 3 + 64) is level 65.
    # Far deeper, libyaml's own limit (1000 flow levels) may stop its scanner first.
    column = f"{3 + MAX_DEPTH}:" if levels == MAX_DEPTH + 1 else ""
    assert f"hostile.yaml:1:{column}" in out
    assert f"error: the document nests deeper than {MAX_DEPTH} levels" in out


def test_deep_block_nesting_is_a_clean_error(segrun, tmp_path):
    text = "".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + "  " * 200 + "x\n"
    out = run_cli(segrun, tmp_path, text.encode())
    assert "nests deeper than 64 levels" in out


def test_nesting_at_the_limit_is_allowed():
    text = "a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n"
    load_text(text)


def test_oversized_file(segrun, tmp_path):
    data = b"version: 1\n" + b"# padding\n" * (1024 * 1024 + 10)
    out = run_cli(segrun, tmp_path, data)
    assert "larger than 10,485,760 bytes" in out
    out = run_cli(segrun, tmp_path, b"version: 1\nclient_id: x\n", "--max-bytes", "10")
    assert "larger than 10 bytes" in out


def test_non_utf8_names_its_line(segrun, tmp_path):
    out = run_cli(segrun, tmp_path, b"version: 1\nclient_id: caf\xe9\n")
    assert out.startswith(f"{tmp_path / 'hostile.yaml'}:2:15: error: the file is not UTF-8 text")


def test_utf8_bom_is_fine():
    assert load_bytes("\ufeffversion: 1\n".encode()).root == {"version": 1}


def test_nul_byte(segrun, tmp_path):
    out = run_cli(segrun, tmp_path, b"version: 1\n\x00\n")
    assert "NUL" in out


def test_unreadable_path(segrun, tmp_path):
    result = segrun("validate", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert_no_traceback(result)
    assert "cannot read the file" in result.stdout


def test_complex_key(segrun, tmp_path):
    out = run_cli(segrun, tmp_path, b"? [a, b]\n: 1\n")
    assert "a key must be a plain value" in out
