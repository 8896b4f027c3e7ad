"""One type for every user-facing problem with a spec, and its one-line and JSON
renderings (the picture with the source line is runner/diagnostics_human.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, order=True)
class Diagnostic:
    file: str
    line: int  # 1-based; 0 when the problem is the file as a whole
    column: int  # 1-based
    path: str  # jobs[1].match_type; "" for the document
    message: str
    severity: str = ERROR
    rule: str = ""
    help: str = ""  # what to do about it, when there is something (runner/diagnostic_help.py)

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


def render_text(diagnostics: Iterable[Diagnostic]) -> str:
    return "".join(f"{d}\n" for d in sorted(diagnostics, key=sort_key))


def render_json(diagnostics: Iterable[Diagnostic]) -> str:
    return json.dumps([asdict(d) for d in sorted(diagnostics, key=sort_key)], indent=2) + "\n"
