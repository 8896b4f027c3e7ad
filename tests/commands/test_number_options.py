"""Every number option of every command refuses NaN, the infinities and integers of
hundreds of digits with a usage error naming the option (exit 2), before anything is
sent: one click type (runner/commands/numbers.py) keeps the promise for all of them."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from runner.cli import COMMANDS, cli
from runner.commands import numbers
from tests.support.processes import assert_no_traceback

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ["nan", "-nan", "NaN", "inf", "-inf", "infinity", "1e999", "-1e999", "1" + "0" * 400]
HOSTILE_INTEGERS = ["1" + "0" * 5000, "-1" + "0" * 400, "1e3", "1.5", "²"]


def _number_options() -> list[tuple[tuple[str, ...], click.Option]]:
    """(command path, option) for every option of every command whose value is a number."""
    found = []

    def walk(path: tuple[str, ...], command: click.Command) -> None:
        for param in command.params:
            if isinstance(param, click.Option) and isinstance(
                param.type, click.types._NumberParamTypeBase
            ):
                found.append((path, param))
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk((*path, name), sub)

    for name in COMMANDS:
        walk((name,), importlib.import_module(f"runner.commands.{name}").command)
    return found


OPTIONS = _number_options()


def test_every_number_option_has_the_one_checked_type():
    assert len(OPTIONS) >= 12, [o.opts for _, o in OPTIONS]
    loose = [(p, o.opts) for p, o in OPTIONS if not isinstance(o.type, numbers._Checked)]
    assert not loose, f"number options without runner.commands.numbers.number(): {loose}"


def _argv(path: tuple[str, ...], option: click.Option, value: str) -> list[str]:
    """The command with only this option wrong. What follows it fails on its own if the
    value slipped through (a sandbox asked to listen beyond loopback, a spec that does
    not exist), so a pass-through is a different message, never a hang or a run."""
    flag = max(option.opts, key=len)
    rest = {
        "validate": ["nowhere.yaml"],
        "run": ["nowhere.yaml"],
        "sandbox": ["--host", "192.0.2.1"],
    }.get(path[0], [])
    return [*path, f"{flag}={value}", *rest]


@pytest.mark.parametrize(
    ("path", "option"), OPTIONS, ids=[f"{' '.join(p)} {max(o.opts, key=len)}" for p, o in OPTIONS]
)
def test_hostile_numbers_are_usage_errors_naming_the_option(path, option):
    values = HOSTILE + (HOSTILE_INTEGERS if isinstance(option.type, click.IntRange) else [])
    for value in values:
        result = CliRunner().invoke(cli, _argv(path, option, value))
        flag = max(option.opts, key=len)
        assert result.exit_code == 2, (value, result.output)
        assert f"Invalid value for '{flag}'" in result.output, (value, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert len(result.output) < 2000, "the message quotes the whole number"


def test_request_timeout_nan_is_refused_before_anything_runs(segrun, tmp_path):
    """`--request-timeout nan` passed FloatRange(0.1, 86400) (NaN passes every
    comparison) and the run crashed with exit 70 after it had sent its Initiate."""
    shutil.copy(ROOT / "examples" / "quickstart.yaml", tmp_path / "q.yaml")
    for value in ("nan", "inf", "1e999", "-0"):
        result = segrun("run", "q.yaml", "--out", "run", "--request-timeout", value, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "Invalid value for '--request-timeout'" in result.stderr
        assert_no_traceback(result)
        assert not (tmp_path / "run").exists()  # nothing started, nothing sent


def test_ordinary_numbers_still_pass():
    seconds = numbers.number(float, 0.1, 86400)
    assert seconds.convert("2.5", None, None) == 2.5
    assert seconds.convert(300.0, None, None) == 300.0  # a default
    count = numbers.number(int, 1, 32)
    assert count.convert(" 4 ", None, None) == 4
    rate = numbers.number(float, 1 / 86400, 1000)
    assert rate.convert("0.0001", None, None) == 0.0001
    with pytest.raises(click.BadParameter, match="at least one|at least 1.15741e-05"):
        rate.convert("1e-10", None, None)
