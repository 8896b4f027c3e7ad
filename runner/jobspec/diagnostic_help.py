"""Plain words and a `help:` for the spec problems people meet most.

The checker says what is wrong; this module says it the way a person would
and what to do, reading the source line where that takes seeing the text:
YAML syntax errors (libyaml's words become plain ones, the position moves to
where the mistake is), YAML 1.1 booleans where text is wanted, an enum value
with no close spelling, a key written one level too high. It only ever adds a
help line or rewords a syntax error: which problems exist is the checker's
business (runner/jobspec/check.py).
"""

from __future__ import annotations

import difflib
import os
import re
import stat
from collections.abc import Iterable

from runner.jobspec.diagnostics import Diagnostic

#: what YAML 1.1 (PyYAML, and so segrun) reads as booleans
_YAML11_BOOLEANS = {
    "yes": True,
    "no": False,
    "on": True,
    "off": False,
    "y": True,
    "n": False,
    "true": True,
    "false": False,
}
#: a source longer than this is not read again for advice (the loader refuses 10 MB)
MAX_SOURCE = 16 * 1024 * 1024
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def read_source(path: str) -> str | None:
    """The spec's text as the loader read it, for pointing into it; None when unreadable."""
    # O_NONBLOCK and a regular-file check: a FIFO or /dev/zero named as a spec
    # must not hang or flood the message that says it is not a spec.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(MAX_SOURCE)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data.decode("utf-8", errors="replace")


def source_lines(text: str | None) -> list[str]:
    """Lines as YAML counts them (\n, \r\n or \r; not the other breaks splitlines knows)."""
    return re.split(r"\r\n|\r|\n", text) if text is not None else []


def explain(diagnostics: Iterable[Diagnostic], text: str | None) -> list[Diagnostic]:
    """The same diagnostics, with help (and plain words for YAML syntax errors)."""
    lines = source_lines(text)
    out = []
    for d in diagnostics:
        if not d.shows_source:  # its text may be a customer's: no advice quotes it
            out.append(d)
            continue
        try:
            out.append(_explain(d, lines))
        except (IndexError, ValueError):  # advice is a bonus: never a crash
            out.append(d)
    return out


def _explain(d: Diagnostic, lines: list[str]) -> Diagnostic:
    if d.rule == "syntax" and d.message.startswith("invalid YAML: ") and lines:
        return _yaml_syntax(d, lines)
    if d.rule == "type" and d.message.endswith("not true/false") and lines:
        return _yaml11_boolean(d, lines)
    if d.rule == "type" and _EXPONENT_TEXT.search(d.message):
        return _yaml11_exponent(d)
    if d.rule == "allowed" and "did you mean" not in d.message:
        return _closest_choice(d)
    if d.rule == "unknown-key" and "did you mean" not in d.message:
        return _one_level_down(d)
    return d


# -- YAML syntax ------------------------------------------------------------------------
def _yaml_syntax(d: Diagnostic, lines: list[str]) -> Diagnostic:
    said = d.message.removeprefix("invalid YAML: ")
    line = lines[d.line - 1] if 0 < d.line <= len(lines) else ""
    if "cannot start any token" in said:
        if "\t" in line[: len(line) - len(line.lstrip())] or line[d.column - 1 : d.column] == "\t":
            return _moved(
                d,
                d.line,
                line.index("\t") + 1,
                "a tab indents this line; YAML indents with spaces only",
                "replace the tab with spaces (the same number as the lines around it)",
            )
        char = line[d.column - 1 : d.column]
        return _moved(
            d,
            d.line,
            d.column,
            f"a value cannot start with {char!r} unquoted",
            "put the value in quotes",
        )
    if "mapping values are not allowed" in said:
        return _colon(d, lines, line)
    if "while scanning a quoted scalar" in said:
        found = _unclosed_quote(lines, d.line)
        if found:
            row, col, quote = found
            return _moved(
                d,
                row,
                col,
                f"the quote {quote} opened here is never closed",
                f"end the value with {quote}, on the same line",
            )
    for kind, opener, closer in (("flow sequence", "[", "]"), ("flow mapping", "{", "}")):
        if f"while parsing a {kind}" in said:
            found = _unclosed_bracket(lines, d.line, d.column, opener, closer)
            row, col = found or (d.line, d.column)
            return _moved(
                d,
                row,
                col,
                f"the {opener} opened here is never closed",
                f"close it with {closer} (on one line, e.g. values: [a, b])"
                if opener == "["
                else f"close it with {closer} (e.g. output: {{format: csv}})",
            )
    if "expected '-' indicator" in said or ("block collection" in said and "block end" in said):
        return _moved(
            d,
            d.line,
            d.column,
            "this line is not an item of the list above",
            "start it with '- ' like the items above, or indent it under the item it belongs to",
        )
    if "while parsing a block mapping" in said:
        return _moved(
            d,
            d.line,
            d.column,
            "this line does not line up with the keys above",
            "indent it exactly like the other keys of the same mapping",
        )
    return d


def _colon(d: Diagnostic, lines: list[str], line: str) -> Diagnostic:
    """`key: a: b` (an unquoted ': ' in a value) or a line indented under a key
    that already has a value; libyaml says the same for both."""
    head = line[: d.column - 1]
    m = re.match(r"^(\s*(?:-\s+)?)([^:#]+?):\s+(\S.*)$", head)
    if m and not m.group(3).startswith(("'", '"', "[", "{", "|", ">")):
        key, value = m.group(2).strip(), line[m.end(2) + 1 :].strip()
        return _moved(
            d,
            d.line,
            m.end(2) + 3 if len(line) > m.end(2) + 2 else d.column,
            f"the value of {key} holds ': ', which YAML reads as another key",
            f'quote the value: {key}: "{_strip_comment(value)}"',
        )
    indent = len(line) - len(line.lstrip())
    for row in range(d.line - 2, -1, -1):
        above = lines[row]
        if not above.strip() or above.lstrip().startswith("#"):
            continue
        above_indent = len(above) - len(above.lstrip())
        m = re.match(r"^(\s*(?:-\s+)?)([^:#]+?):\s+(\S.*)$", above)
        if above_indent < indent and m:
            key = m.group(2).strip()
            here = line.strip().split(":", 1)[0]
            return _moved(
                d,
                d.line,
                indent + 1,
                f"{here} is indented under {key}, which already has a value",
                f"indent {here} like {key} ({len(m.group(1))} spaces), or give "
                f"{key} no value on its own line",
            )
        break
    return _moved(
        d,
        d.line,
        d.column,
        "a ': ' where YAML does not expect a key",
        "quote the value that holds the ': '",
    )


def _unclosed_quote(lines: list[str], before: int) -> tuple[int, int, str] | None:
    """The last quote that opens a value and is not closed on its line."""
    for row in range(min(before, len(lines)) - 1, -1, -1):
        line = lines[row]
        for m in re.finditer(r"(?:^|[:\-\[,{]\s*|\s)(['\"])", line):
            quote, start = m.group(1), m.start(1)
            rest = line[start + 1 :]
            closed = rest.replace(quote * 2, "") if quote == "'" else re.sub(r"\\.", "", rest)
            if quote not in closed:
                return row + 1, start + 1, quote
    return None


def _unclosed_bracket(lines, line: int, column: int, opener: str, closer: str):
    depth = 0
    for row in range(min(line, len(lines)) - 1, -1, -1):
        text = lines[row] if row != line - 1 else lines[row][: max(column - 1, 0)]
        for col in range(len(text) - 1, -1, -1):
            if text[col] == closer:
                depth += 1
            elif text[col] == opener:
                if depth == 0:
                    return row + 1, col + 1
                depth -= 1
    return None


def _strip_comment(value: str) -> str:
    return re.split(r"\s+#", value, maxsplit=1)[0].strip()


def _moved(d: Diagnostic, line: int, column: int, message: str, help_: str) -> Diagnostic:
    return d._replace(line=line, column=max(column, 1), message=message, help=help_)


# -- values ---------------------------------------------------------------------------
def _yaml11_boolean(d: Diagnostic, lines: list[str]) -> Diagnostic:
    line = lines[d.line - 1]
    token = re.match(r"[^\s,\]}#]+", line[d.column - 1 :])
    word = token.group() if token else ""
    if word.lower() not in _YAML11_BOOLEANS:
        return d
    key = d.path.rsplit(".", 1)[-1] if d.path else "the key"
    meaning = "true" if _YAML11_BOOLEANS[word.lower()] else "false"
    wanted = "text" if "string" in d.message else "a number"
    return d._replace(
        help=f'YAML 1.1 reads {word} as {meaning}; for {wanted}, quote it: {key}: "{word}"'
        if wanted == "text"
        else f"YAML 1.1 reads {word} as {meaning}; write a number"
    )


#: a number in exponent form that YAML 1.1 reads as text (it wants a dot and a sign: 1.0e-10)
_EXPONENT_TEXT = re.compile(
    r"must be (?:a number|a finite number|an integer), "
    r"not the string '([-+]?)([0-9]+)(?:\.([0-9]*))?[eE]([-+]?)([0-9]{1,3})'$"
)


def _yaml11_exponent(d: Diagnostic) -> Diagnostic:
    m = _EXPONENT_TEXT.search(d.message)
    assert m is not None
    sign, whole, fraction, exponent_sign, exponent = m.groups()
    dotted = f"{sign}{whole}.{fraction or '0'}e{exponent_sign or '+'}{exponent}"
    if "integer" in d.message:
        value = float(dotted)
        shown = f"{int(value)}" if value.is_integer() and abs(value) < 1e15 else None
        wanted = f"write {shown}" if shown else "write the whole number"
    else:
        wanted = f"write {dotted}"
    return d._replace(
        help=f"YAML 1.1 reads a number in exponent form as text unless it has a dot and a "
        f"signed exponent; {wanted}"
    )


def _closest_choice(d: Diagnostic) -> Diagnostic:
    m = re.match(r"^(.*) is not one of (.*)$", d.message)
    if not m:
        return d
    value = m.group(1).strip("'\"").lower()
    choices = [c.strip() for c in m.group(2).split(",")]
    candidates = [c for c in choices if c.lower().startswith(value) or value.startswith(c.lower())]
    if not candidates:  # a misspelt start: "Emial" for EmailAddress
        starts = {c.lower()[: len(value)]: c for c in choices}
        close = difflib.get_close_matches(value, list(starts), n=2, cutoff=0.75)
        candidates = [starts[c] for c in close]
    if len(candidates) != 1 or not value:
        return d
    return d._replace(help=f"did you mean {candidates[0]!r}?")


def _one_level_down(d: Diagnostic) -> Diagnostic:
    """`format: csv` written at the job's level instead of under `output:`."""
    from runner.jobspec.schema import spec_schema

    parts = [m.group(1) or int(m.group(2)) for m in _PATH_PART.finditer(d.path)]
    if not parts or not isinstance(parts[-1], str):
        return d
    key = parts[-1]
    fields: object = spec_schema()
    for part in parts[:-1]:
        if isinstance(part, int):
            continue
        if not isinstance(fields, dict):
            return d
        rules = fields.get(part)
        if not isinstance(rules, dict):
            return d
        inner = rules.get("schema")
        if rules.get("type") == "list" and isinstance(inner, dict):
            inner = inner.get("schema")
        if part == "defaults" and not isinstance(inner, dict):
            inner = fields["jobs"]["schema"]["schema"]
        fields = inner
    if not isinstance(fields, dict):
        return d
    homes = [
        name
        for name, rules in fields.items()
        if isinstance(rules, dict)
        and rules.get("type") == "dict"
        and isinstance(rules.get("schema"), dict)
        and key in rules["schema"]
    ]
    if len(homes) != 1:
        return d
    return d._replace(
        help=f"{key} belongs one level down, under {homes[0]}: "
        f"write it as {homes[0]}: {{{key}: ...}} or indent it under {homes[0]}:"
    )
