"""Every number option of the command line, through one click type.

click's FloatRange lets NaN through (`nan < 0.1` and `nan > 86400` are both false) and
its IntRange takes an integer of any length its bounds allow; either reaches a clock or
a wait after the run has sent, and fails there as a bug. `number(...)` is the type of
every number option of every command: NaN and the infinities are refused, an option
with no natural ceiling still has one (runner/system/numbers.py), and the usage error
(exit 2) names the option and quotes at most a few characters of what was typed.
"""

from __future__ import annotations

import re
from typing import Any

import click

from runner.system.numbers import MAX_COUNT, number_problem

#: an integer written with more digits than any bound here has
_LONG_INTEGER = re.compile(r"\s*[-+]?[0-9][0-9_]{19,}\s*")


class _Checked:
    """The check shared by the integer and the float type (a mixin over click's
    own range types, so `--help` shows the range as before)."""

    min: Any
    max: Any
    min_open: bool
    integer = False

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str):
            shown = repr(value.strip()[:40])
            if self.integer and _LONG_INTEGER.fullmatch(value):
                digits = sum(c.isdigit() for c in value)
                self.fail(  # type: ignore[attr-defined]
                    f"an integer of {digits:,} digits is out of range ({self._describe_range()})",
                    param,
                    ctx,
                )
            try:
                number = int(value) if self.integer else float(value)
            except ValueError:
                what = "an integer" if self.integer else "a number"
                self.fail(f"{shown} is not {what}", param, ctx)  # type: ignore[attr-defined]
        else:  # a default, or a value handed in by a caller
            shown, number = repr(value), value
        problem = number_problem(
            number,
            low=None if self.min_open else self.min,
            above=self.min if self.min_open else None,
            high=self.max,
            integer=self.integer,
        )
        if problem:
            self.fail(f"{shown} {problem}", param, ctx)  # type: ignore[attr-defined]
        return number

    def _describe_range(self) -> str:
        low = None if self.min is None else _short(self.min)
        high = None if self.max is None else _short(self.max)
        left = "<" if self.min_open else "<="
        if low is None:
            return f"x<={high}"
        if high is None:
            return f"x{left.replace('<', '>')}{low}"
        return f"{low}{left}x<={high}"


class _Float(_Checked, click.FloatRange):
    pass


class _Int(_Checked, click.IntRange):
    integer = True


def _short(bound: float) -> str:
    return str(bound) if isinstance(bound, int) else f"{bound:.6g}"


def number(
    kind: type[int] | type[float],
    low: float | None = None,
    high: float | None = None,
    *,
    above: float | None = None,
) -> click.ParamType:
    """The type of a number option: `kind` int or float, at least `low` (or more than
    `above`) and at most `high`. An integer without a `high` of its own gets the
    largest count segrun takes anywhere: a byte count or a seed of 400 digits is a typo,
    not a wish."""
    if kind is int:
        return _Int(None if low is None else int(low), MAX_COUNT if high is None else int(high))
    if above is not None:
        return _Float(above, high, min_open=True)
    return _Float(low, high)
