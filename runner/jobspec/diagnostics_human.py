"""Diagnostics as a person on a terminal reads them, the way rustc and Hurl print them:

    error: jobs[0].name: must be a string, not true/false
     --> jobs.yaml:4:11
      |
    4 |   - name: no
      |           ^^
      = help: YAML 1.1 reads no as false; for text, quote it: name: "no"

`--format text` keeps the one-line form (the default off a terminal).

A secret pasted into the spec is masked in every source line drawn, whichever
problem the line is drawn for (runner/jobspec/pasted.py finds it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from runner.jobspec.diagnostic_help import read_source, source_lines
from runner.jobspec.diagnostics import ERROR, Diagnostic, capped
from runner.jobspec.pasted import secret_spans
from runner.redaction.redact import REDACTED

#: a source line with its pasted secrets masked, and where each column moved to
_Source = tuple[str, list[tuple[int, int]]]

_TAB = 4
_COLOURS = {"error": "1;31", "warning": "1;33", "help": "1;36", "gutter": "1;34", "caret": "1;31"}


def render_human(
    diagnostics: Iterable[Diagnostic], *, color: bool = False, per_rule: int | None = None
) -> str:
    """Each problem with its source line and a caret under the offending node
    (with `per_rule`, as many of one rule as render_text shows, then a count)."""
    sources: dict[str, list[_Source]] = {}
    blocks = []
    for d in capped(diagnostics, per_rule):
        if isinstance(d, str):
            blocks.append(d + "\n")
            continue
        if not d.shows_source:
            blocks.append(_block(d, [], color))
            continue
        if d.file not in sources:
            sources[d.file] = _masked_source(read_source(d.file))
        blocks.append(_block(d, sources[d.file], color))
    return "".join(blocks)


def _masked_source(text: str | None) -> list[_Source]:
    """The file's lines, each with its pasted secrets replaced by the marker and
    the spans masked (so a caret after one still points at its node)."""
    spans = secret_spans(text) if text is not None else {}
    lines = []
    for number, line in enumerate(source_lines(text)):
        masked = sorted(spans.get(number, []))
        for start, end in reversed(masked):
            line = line[:start] + REDACTED + line[end:]
        lines.append((line, masked))
    return lines


def _moved(column: int, masked: list[tuple[int, int]]) -> int:
    """A 1-based column of the line as written, in the masked line."""
    shift = 0
    for start, end in masked:
        if column - 1 >= end:
            shift += len(REDACTED) - (end - start)
        elif column - 1 > start:
            return start + 1 + shift  # inside a mask: at its start
    return column + shift


def wants_color(stream) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _block(d: Diagnostic, lines: list[_Source], color: bool) -> str:
    def paint(kind: str, text: str) -> str:
        return f"\x1b[{_COLOURS[kind]}m{text}\x1b[0m" if color else text

    kind = "error" if d.severity == ERROR else "warning"
    subject = f"{d.path}: " if d.path else ""
    out = [f"{paint(kind, d.severity)}: {subject}{d.message}"]
    number = str(d.line) if d.line else ""
    pad = " " * max(len(number), 1)
    where = f"{d.file}:{d.line}:{d.column}" if d.line else d.file
    out.append(f"{pad}{paint('gutter', '-->')} {where}")
    if d.line and d.line <= len(lines):
        line, masked = lines[d.line - 1]
        column = _moved(d.column, masked)
        raw = _printable(line)
        column = len(_printable(line[: column - 1])) + 1
        shown = raw.expandtabs(_TAB)
        start = len(raw[: column - 1].expandtabs(_TAB))
        width = len(raw[: column - 1 + _span(raw, column)].expandtabs(_TAB)) - start
        bar = paint("gutter", "|")
        out += [
            f"{pad} {bar}",
            f"{paint('gutter', number)} {bar} {shown}",
            f"{pad} {bar} {' ' * start}{paint('caret', '^' * max(width, 1))}",
        ]
    if d.help:
        out.append(f"{pad} {paint('gutter', '=')} {paint('help', 'help')}: {d.help}")
    return "\n".join(out) + "\n\n"


def _printable(line: str) -> str:
    """Control characters other than tab shown as \\xNN: a spec must not drive the terminal."""
    return re.sub(r"[\x00-\x08\x0a-\x1f\x7f\x9b]", lambda m: f"\\x{ord(m.group()):02x}", line)


def _span(line: str, column: int) -> int:
    """How many characters the node at `column` covers: a quoted or bracketed
    value whole, a key up to its colon, a plain value up to a comment."""
    rest = line[column - 1 :]
    if not rest:
        return 1
    first = rest[0]
    if first in "\"'":
        end = rest.find(first, 1)
        return end + 1 if end > 0 else len(rest.rstrip())
    if first in "[{":
        closer, depth = "]" if first == "[" else "}", 0
        for i, c in enumerate(rest):
            depth += c == first
            depth -= c == closer
            if depth == 0:
                return i + 1
        return len(rest.rstrip())
    if first in " \t":
        return len(rest) - len(rest.lstrip(" \t")) or 1
    in_flow = line[: column - 1].count("[") + line[: column - 1].count("{") > (
        line[: column - 1].count("]") + line[: column - 1].count("}")
    )
    stops = [m.start() for m in (re.search(r":(\s|$)", rest), re.search(r"\s#", rest)) if m]
    if in_flow:
        stops += [i for i, c in enumerate(rest) if c in ",]}"][:1]
    end = min(stops) if stops else len(rest)
    return max(len(rest[:end].rstrip()), 1)
