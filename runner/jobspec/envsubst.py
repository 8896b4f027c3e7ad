"""`${NAME}` and `${NAME:-default}` in a spec's strings, from the environment.

Runs on the loaded tree, before validation, so the validator sees the values
that will be sent and positions still point at the text the user wrote.
`$${` writes a literal `${`. Any other `${` that does not open a reference
(no closing brace, or not a variable name inside) is an error: sent literally,
it would be a silent misreading of what the author meant.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from runner.jobspec.loader import Mark, SpecList, SpecMap

_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|(\$\{)")


@dataclass(frozen=True)
class UnsetVariable:
    name: str
    path: tuple
    mark: Mark


@dataclass(frozen=True)
class BadReference:
    """A `${` that opens no reference: `${NAME` without `}`, or `${1X}`."""

    text: str
    path: tuple
    mark: Mark

    @property
    def message(self) -> str:
        return (
            f"{self.text!r} is not a reference: write ${{NAME}} with a closing brace "
            "(a letter or _, then letters, digits or _), or $${ for a literal ${"
        )


def substitute(root: SpecMap, environ: Mapping[str, str]) -> list[UnsetVariable | BadReference]:
    """Replace references in place; return the ones whose variable is unset
    (they are left as written, so a warning-only `validate` can still check the
    rest) and the `${` that open no reference."""
    unset: list[UnsetVariable | BadReference] = []
    for container, key, mark, path in _strings(root, ()):
        text = container[key]

        def replace(m: re.Match, path: tuple = path, mark: Mark = mark, text: str = text) -> str:
            if m[0] == "$${":
                return "${"
            if m[3]:
                shown = text[m.start() : m.start() + 40]
                unset.append(BadReference(shown, path, mark))
                return m[0]
            value = environ.get(m[1])
            if m[2] is not None and not value:
                return m[2]
            if value is None:
                unset.append(UnsetVariable(m[1], path, mark))
                return m[0]
            return value

        container[key] = _REFERENCE.sub(replace, text)
    return unset


def _strings(node: object, path: tuple) -> Iterator[tuple[SpecMap | SpecList, Any, Mark, tuple]]:
    """Each string holding a `$`: its container, its key there (a SpecMap's key
    or a SpecList's index), its mark and its path."""
    if isinstance(node, SpecMap):
        for key, value in node.items():
            if isinstance(value, str):
                if "$" in value:
                    yield node, key, node.value_marks[key], (*path, key)
            elif isinstance(value, (SpecMap, SpecList)):
                yield from _strings(value, (*path, key))
    elif isinstance(node, SpecList):
        for index, value in enumerate(node):
            if isinstance(value, str):
                if "$" in value:
                    yield node, index, node.item_mark(index), (*path, index)
            elif isinstance(value, (SpecMap, SpecList)):
                yield from _strings(value, (*path, index))
