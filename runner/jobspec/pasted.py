"""A secret written into a spec, where only the NAME of its variable belongs.

The checker refuses it (`literal-secret`, or a `*_env` value that is no
variable's name); this module says where it is, so that nothing shows it back:
its values go to the redaction gate (`pasted_secrets`, every output format),
and every source line a diagnostic draws has it masked (`secret_spans`),
however the YAML spells it (quoted, escaped, folded over lines, in a flow
mapping).

What counts as pasted: the value of a key named like a secret (`secret`,
`password`, `token`, `client_secret`, `access_token`), of `secret_env`,
`client_secret_env` or `client_id_env` when it is no variable's name, and of
`client_cert_file` or `client_key_file` when it is PEM text, not a path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from runner.jobspec.rules import SECRET_KEYS

#: keys whose value is a variable's NAME: anything else there is likely the secret
NAME_KEYS = ("secret_env", "client_secret_env", "client_id_env")
#: keys whose value is a file's PATH: PEM text there is a private key
PATH_KEYS = ("client_cert_file", "client_key_file")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# a line holding a secret key, and everything after its colon
_SECRET_KEY = "|".join(SECRET_KEYS)
_KEY_ON_A_LINE = re.compile(rf"""(?:^|[\s{{,\[])["']?(?:{_SECRET_KEY})["']?\s*:(?:\s+|$)(.*)$""")
_C_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: what YAML reads as true, false or nothing: a placeholder, not a secret (and a
#: word the gate would then hide in every message)
_NOT_SECRETS = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"}


def is_pasted(key: object, value: object) -> bool:
    """Whether `value`, written under `key`, is a secret itself."""
    if key in SECRET_KEYS:
        return value is not None and not isinstance(value, bool)
    if key in NAME_KEYS:
        return isinstance(value, str) and _VARIABLE.fullmatch(value) is None
    if key in PATH_KEYS:
        return isinstance(value, str) and ("\n" in value or "-----BEGIN" in value)
    return False


def pasted_secrets(document: object) -> list[str]:
    """The secrets written into a spec's `auth` (after ${VAR} substitution), each
    whole and, when it runs over lines, line by line (a picture shows one line)."""
    auth = document.get("auth") if isinstance(document, dict) else None
    found: list[str] = []
    for value in _pasted_values(auth):
        found.append(value)
        if "\n" in value:
            found += [line.strip() for line in value.splitlines() if line.strip()]
    return found


def _pasted_values(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if is_pasted(key, value):
                yield from _leaves(value)
            else:
                yield from _pasted_values(value)
    elif isinstance(node, list):
        for item in node:
            yield from _pasted_values(item)


def _leaves(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def secret_spans(text: str) -> dict[int, list[tuple[int, int]]]:
    """Where pasted secrets are written in a spec's text: for each line (0-based),
    the (start, end) columns to mask, in order, none overlapping."""
    spans: dict[int, list[tuple[int, int]]] = {}
    for line, start, end, _ in _written(text):
        spans.setdefault(line, []).append((start, end))
    for line, found in spans.items():
        merged: list[tuple[int, int]] = []
        for start, end in sorted(found):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        spans[line] = merged
    return spans


def pasted_in_text(text: str) -> list[str]:
    """Each pasted secret as the spec spells it (YAML escapes and all), for the
    gate: a diagnostic's help may quote the source (`quote the value: ...`)
    even when the file is too broken to read a value from."""
    lines = text.split("\n")
    found = {
        lines[line][start:end].strip().strip("\"'").strip()
        for line, start, end, scalar in _written(text)
        if scalar
    }
    return sorted(f for f in found if f and f.lower() not in _NOT_SECRETS)


def _written(text: str) -> Iterator[tuple[int, int, int, bool]]:
    """(line, start, end, whether a scalar) of every piece of a pasted secret: read
    with libyaml's scanner, so quotes, escapes, flow mappings and block scalars
    are what YAML says; from where it stops making sense on, any line holding a
    secret key masked after its colon."""
    if not any(key in text for key in (*SECRET_KEYS, *NAME_KEYS, *PATH_KEYS)):
        return  # the usual spec: no scanner run at all
    lines = text.split("\n")
    read = [0]  # the line of the last token the scanner gave
    try:
        for start, end, scalar in _value_marks(text, read):
            for line in range(start.line, min(end.line + 1, len(lines))):
                first = start.column if line == start.line else 0
                last = end.column if line == end.line else len(lines[line])
                if last > first:
                    yield line, first, last, scalar
    except yaml.YAMLError:  # what was read stands; the lines from there on, by hand
        for number in range(read[0], len(lines)):
            m = _KEY_ON_A_LINE.search(lines[number])
            if m and m.end(1) > m.start(1):
                yield number, m.start(1), m.end(1), True


def _value_marks(text: str, read: list[int]) -> Iterator[tuple[Any, Any, bool]]:
    """(start, end, whether a scalar) of the value of every pasted-secret key, as
    libyaml's marks; `read[0]` follows the line the scanner has got to."""

    def scanned() -> Iterator[Any]:
        for token in yaml.scan(text, Loader=_C_LOADER):
            read[0] = token.start_mark.line
            yield token

    tokens = scanned()
    previous: list[Any] = []
    for token in tokens:
        previous = [*previous[-2:], token]
        if not (
            len(previous) == 3
            and isinstance(previous[0], yaml.KeyToken)
            and isinstance(previous[1], yaml.ScalarToken)
            and isinstance(previous[2], yaml.ValueToken)
            and previous[1].value in (*SECRET_KEYS, *NAME_KEYS, *PATH_KEYS)
        ):
            continue
        key = previous[1].value
        first = next(tokens, None)
        while isinstance(first, (yaml.AnchorToken, yaml.TagToken)):
            first = next(tokens, None)
        if first is None:
            return
        previous = [first]
        if isinstance(first, yaml.ScalarToken):
            if key in SECRET_KEYS or is_pasted(key, first.value):
                yield first.start_mark, first.end_mark, True
        elif isinstance(first, (yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)):
            end = _closing(tokens, yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)
            if key in SECRET_KEYS and end is not None:
                yield first.start_mark, end, False
        elif isinstance(first, (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken)):
            end = _closing(tokens, yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken)
            if key in SECRET_KEYS and end is not None:
                yield first.start_mark, end, False
        elif isinstance(first, yaml.BlockEntryToken) and key in SECRET_KEYS:
            # a sequence at the key's own indentation: `- item` lines, no start token
            for token in tokens:
                previous = [token]
                if isinstance(token, yaml.ScalarToken):
                    yield token.start_mark, token.end_mark, True
                elif not isinstance(token, yaml.BlockEntryToken):
                    break


def _closing(tokens: Iterator[Any], *openers: type) -> Any:
    """The end of the collection just opened: past its `}` or `]`; for a block,
    where the next key starts."""
    flow = yaml.FlowMappingStartToken in openers
    closers = (yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken) if flow else yaml.BlockEndToken
    depth = 1
    for token in tokens:
        if isinstance(token, openers):
            depth += 1
        elif isinstance(token, closers):
            depth -= 1
            if depth == 0:
                return token.end_mark if flow else token.start_mark
    return None
