"""The parts of a record that `expect:` reads, so checking decodes only those.

Decoding a whole record costs most of checking it (a sandbox profile: about nine
tenths), yet a record schema of the kind a data team writes looks at a handful of
fields, and `required_fields` at a few paths. msgspec decodes into a `TypedDict`
while skipping every other key without building it, so a record is read as the
plain dict of exactly what is looked at, several times faster.

It is only ever an optimisation, never a second reading of the rules: the
projection keeps a part whole wherever a rule might look at more than the named
fields (`additionalProperties`, `enum` of an object, `$ref`, `uniqueItems`, a
JMESPath expression ...), and a record whose shape the projection did not foresee
(a list where an object was expected) makes the checker decode it whole. Either way
the validator and the paths see the same values at every place they look.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, TypedDict

import msgspec

#: a simple path, `Emails[0].EmailAddress`: keys and list indexes only
SIMPLE_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\[-?\d+\])*")
_STEP = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(-?\d+)\]")

#: schema keywords that never look at an instance beyond the properties and items they
#: name (anything else makes that part of the record whole)
_SHALLOW = frozenset(
    {
        "type",
        "properties",
        "required",
        "items",
        "minItems",
        "maxItems",
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "definitions",
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
    }
)
#: deeper than this, a part is decoded whole (no real schema or path goes so deep)
_DEPTH = 24


class _Whole:
    """A part decoded with everything in it."""


WHOLE = _Whole()


class _Object:
    def __init__(self, fields: dict[str, Shape] | None = None) -> None:
        self.fields: dict[str, Shape] = fields or {}


class _List:
    def __init__(self, item: Shape) -> None:
        self.item = item


Shape = _Whole | _Object | _List


def decoder(schema: dict | None, paths: Iterable[str]) -> msgspec.json.Decoder[list[Any]] | None:
    """A decoder of a JSON array of records into lists of projected records, or None when
    the whole record is needed (a path that is not keys and indexes)."""
    paths = list(paths)
    if not all(SIMPLE_PATH.fullmatch(path) for path in paths):
        return None
    shape: Shape = _Object()
    if schema is not None:
        shape = _of_schema(schema, 0)
    for path in paths:
        shape = _merge(shape, _of_path(steps(path)))
    if not isinstance(shape, _Object):
        return None
    return msgspec.json.Decoder(list[_typed(shape, [0])])  # type: ignore[misc]


def _of_schema(schema: object, depth: int) -> Shape:
    if not isinstance(schema, dict) or depth > _DEPTH or not set(schema) <= _SHALLOW:
        return WHOLE
    properties, items = schema.get("properties"), schema.get("items")
    if properties is not None and items is not None:
        return WHOLE  # an object's rules and an array's: which one it is is the record's
    if isinstance(items, dict):
        return _List(_of_schema(items, depth + 1))
    if items is not None:
        return WHOLE  # a tuple's schemas (draft 7 and before)
    if not isinstance(properties, dict):
        return WHOLE if properties is not None or "required" not in schema else _required(schema)
    fields: dict[str, Shape] = {
        key: _of_schema(inner, depth + 1) for key, inner in properties.items()
    }
    shape = _Object(fields)
    for key in _required(schema).fields:
        fields.setdefault(key, WHOLE)
    return shape


def _required(schema: dict) -> _Object:
    names = schema.get("required")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return _Object()
    return _Object(dict.fromkeys(names, WHOLE))


def steps(path: str) -> list[str | int]:
    """A simple path's keys and list indexes, in order."""
    return [key if key else int(index) for key, index in _STEP.findall(path)]


def _of_path(steps: list[str | int]) -> Shape:
    if not steps or len(steps) > _DEPTH:
        return WHOLE
    first, rest = steps[0], _of_path(steps[1:]) if len(steps) > 1 else WHOLE
    if isinstance(first, int):
        return _List(rest)
    return _Object({first: rest})


def _merge(a: Shape, b: Shape) -> Shape:
    if isinstance(a, _Whole) or isinstance(b, _Whole):
        return WHOLE
    if isinstance(a, _List) and isinstance(b, _List):
        return _List(_merge(a.item, b.item))
    if isinstance(a, _Object) and isinstance(b, _Object):
        fields = dict(a.fields)
        for key, shape in b.fields.items():
            fields[key] = _merge(fields[key], shape) if key in fields else shape
        return _Object(fields)
    return WHOLE  # an object here by one rule, a list by another


def _typed(shape: Shape, counter: list[int]) -> Any:
    if isinstance(shape, _Whole):
        return Any
    if isinstance(shape, _List):
        return Any if isinstance(shape.item, _Whole) else list[_typed(shape.item, counter)]  # type: ignore[misc]
    counter[0] += 1
    fields = {key: _typed(inner, counter) for key, inner in shape.fields.items()}
    return TypedDict(f"Part{counter[0]}", fields, total=False)  # type: ignore[operator]
