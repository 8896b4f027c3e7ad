"""One type for every user-facing problem with a spec, and its one-line and JSON
renderings (the picture with the source line is runner/jobspec/diagnostics_human.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple

from runner.system import strict_json

ERROR = "error"
WARNING = "warning"
# In text, the first this many diagnostics of one rule in one file; JSON has all.
SHOWN_PER_RULE = 20


class Diagnostic(NamedTuple):
    """Immutable, ordered and hashable like a frozen dataclass, but a tuple: a
    spec with 20,000 bad values makes 20,000 of these, and a dataclass's
    field-by-field frozen __init__ was a large part of reporting them."""

    file: str
    line: int  # 1-based; 0 when the problem is the file as a whole
    column: int  # 1-based
    path: str  # jobs[1].match_type; "" for the document
    message: str
    severity: str = ERROR
    rule: str = ""
    #: what to do about it, when there is something (runner/jobspec/diagnostic_help.py)
    help: str = ""
    #: false for a line of a values file: its text is customers' data, so no rendering
    #: shows the source line, only where it is
    shows_source: bool = True

    def __str__(self) -> str:
        """The one-line form (`--format text`, CI logs, pre-commit)."""
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        subject = f"{self.path}: " if self.path else ""
        advice = f" (help: {self.help})" if self.help else ""
        return f"{where}: {self.severity}: {subject}{self.message}{advice}"

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR


def sort_key(d: Diagnostic) -> tuple:
    return (d.file, d.line, d.column, d.severity != ERROR, d.path, d.message)


def render_text(diagnostics: Iterable[Diagnostic], per_rule: int | None = None) -> str:
    """One line a diagnostic. With `per_rule`, at most that many of one rule in one
    file, then a count: 20,000 bad values are one problem to a reader, not a wall."""
    return "".join(
        f"{d}\n" if isinstance(d, Diagnostic) else d for d in capped(diagnostics, per_rule)
    )


def capped(diagnostics: Iterable[Diagnostic], per_rule: int | None) -> list[Diagnostic | str]:
    """The diagnostics in order, at most `per_rule` of one rule in one file, each
    group cut short followed by its count line (a str); every renderer shares it."""
    ordered = sorted(diagnostics, key=sort_key)
    if per_rule is None:
        return list(ordered)
    totals = Counter((d.file, d.rule, d.severity) for d in ordered)
    shown: Counter = Counter()
    out: list[Diagnostic | str] = []
    for d in ordered:
        group = (d.file, d.rule, d.severity)
        shown[group] += 1
        if shown[group] <= per_rule:
            out.append(d)
        if shown[group] == per_rule and totals[group] > per_rule:
            more = totals[group] - per_rule
            out.append(
                f"{d.file}: note: and {more:,} more like this ({d.severity} {d.rule}); "
                "--format json lists them all\n"
            )
    return out


def render_json(diagnostics: Iterable[Diagnostic]) -> str:
    rows = [d._asdict() for d in sorted(diagnostics, key=sort_key)]
    for row in rows:
        del row["shows_source"]  # how a person's picture is drawn, not part of the problem
    return strict_json.dumps(rows, indent=2) + "\n"
