"""Mutated example specs never end `validate`, `plan` or `run --dry-run` with
anything but exit 0 or 2, a traceback, or a hang (tests/support/spec_fuzzer.py).

CI runs a bounded number of inputs in-process plus a few through the real CLI.
The long run is one command, not part of the default suite:

    python tests/support/spec_fuzzer.py --inputs 100000
"""

from __future__ import annotations

import itertools

import pytest

from runner.jobspec.check import check_file
from tests.support import spec_fuzzer
from tests.support.processes import assert_no_traceback

IN_PROCESS_INPUTS = 100
CLI_INPUTS = 2


@pytest.mark.parametrize("seed", [1, 2])
def test_mutated_examples_end_cleanly_in_process(tmp_path, monkeypatch, seed):
    monkeypatch.chdir(tmp_path)
    problems = [
        (number, outcome.command, outcome.problem, outcome.output[-500:], text)
        for number, text, found in spec_fuzzer.fuzz(IN_PROCESS_INPUTS, seed, tmp_path)
        for outcome in found
    ]
    assert not problems, problems[0]


def test_mutated_examples_end_cleanly_through_the_cli(segrun, tmp_path):
    spec_fuzzer.prepare_folder(tmp_path)
    spec = tmp_path / "fuzz.yaml"
    for text in itertools.islice(spec_fuzzer.inputs(seed=3), CLI_INPUTS):
        spec.write_text(text, encoding="utf-8", errors="surrogatepass")
        for command in spec_fuzzer.COMMANDS:
            result = segrun(*command, str(spec), cwd=tmp_path, env=spec_fuzzer.ENVIRON, timeout=60)
            assert result.returncode in (0, 2), (command, text, result.stderr)
            assert_no_traceback(result)


def test_every_hostile_token_in_value_positions(tmp_path, monkeypatch):
    """Not random: each dictionary token in place of one value of each example
    (rotating, so every value position meets several tokens), through the spec check:
    an exception there is what the CLI turns into exit 70."""
    monkeypatch.chdir(tmp_path)
    spec_fuzzer.prepare_folder(tmp_path)
    spec = tmp_path / "fuzz.yaml"
    checked = 0
    for example in ("incremental.yaml", "alternate-ids.yaml", "quickstart.yaml"):
        lines = (spec_fuzzer.EXAMPLES / example).read_text().splitlines()
        positions = [
            (i, m)
            for i, line in enumerate(lines)
            if (m := spec_fuzzer._VALUE.match(line)) and not line.lstrip().startswith("#")
        ]
        for t, token in enumerate(spec_fuzzer.TOKENS):
            for i, m in (positions[t % len(positions)],):
                text = "\n".join([*lines[:i], m[1] + token, *lines[i + 1 :]]) + "\n"
                spec.write_text(text, encoding="utf-8", errors="surrogatepass")
                check_file(spec, environ=spec_fuzzer.ENVIRON, unset_is_error=t % 2 == 0)
                checked += 1
    assert checked == 3 * len(spec_fuzzer.TOKENS)
