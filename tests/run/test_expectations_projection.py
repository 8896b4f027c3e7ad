"""Reading only the parts of a record that `expect:` looks at gives the verdicts of reading it
whole, for any record, schema and path: the projection is speed, never a second rule."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.jobspec.model import Expectations
from runner.run.expectations import RecordCheck

KEYS = ["a", "b", "Emails", "Id"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["", "x", "a@b"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.dictionaries(st.sampled_from(KEYS), inner, min_size=1, max_size=4),
        st.lists(inner, min_size=1, max_size=3),
        st.dictionaries(st.sampled_from(KEYS), inner, min_size=2, max_size=4),
    ),
    max_leaves=16,
)
records = st.dictionaries(st.sampled_from(KEYS), values, min_size=1, max_size=4)
types = st.sampled_from(["object", "array", "string", "integer", "number", "boolean", "null"])


def _schemas(inner):
    properties = st.tuples(
        st.just("properties"), st.dictionaries(st.sampled_from(KEYS), inner, min_size=1, max_size=3)
    )
    #: rules that read more of the instance than the fields they name
    reading = st.one_of(
        st.tuples(st.just("additionalProperties"), st.one_of(st.just(False), inner)),
        st.tuples(st.just("uniqueItems"), st.just(True)),
        st.tuples(st.just("minProperties"), st.integers(1, 3)),
        st.tuples(st.just("enum"), st.lists(values, min_size=1, max_size=2)),
        st.tuples(st.just("const"), values),
        st.tuples(st.just("not"), inner),
        st.tuples(st.just("$ref"), st.just("#/$defs/part")),
    )
    keyword = st.one_of(
        properties,
        st.tuples(st.just("items"), inner),
        reading,
        st.tuples(st.just("type"), types),
        st.tuples(st.just("required"), st.lists(st.sampled_from(KEYS), max_size=2, unique=True)),
        reading,
        st.tuples(st.just("minItems"), st.integers(0, 2)),
        st.tuples(st.just("description"), st.just("annotations change nothing")),
    )
    return st.lists(keyword, max_size=4).map(dict)


parts = st.recursive(st.just({}), _schemas, max_leaves=8)
#: the top is an object with properties (else nothing is projected), perhaps with other rules;
#: below it, anything
schemas = st.builds(
    lambda properties, more: {
        **more,
        "properties": properties,
        "$defs": {"part": {"type": "object", "required": ["a"], "maxProperties": 2}},
    },
    st.dictionaries(st.sampled_from(KEYS), parts, min_size=1, max_size=4),
    _schemas(parts),
)
paths = st.lists(
    st.lists(st.one_of(st.sampled_from(KEYS), st.integers(-2, 2)), min_size=1, max_size=3).map(
        lambda steps: "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps).lstrip(
            "."
        )
    ),
    max_size=3,
).map(lambda ps: [p for p in ps if not p.startswith("[")])


def _verdicts(expect: Expectations, columns, lines: list[bytes], projected: bool):
    checking = RecordCheck(expect, columns)
    if not projected:
        checking._projected = None
    half = len(lines) // 2
    checking.feed(b"".join(lines[:half]))
    checking.feed(b"".join(lines[half:]))
    return [(v.expectation, v.met, v.detail) for v in checking.verdicts()]


def _same_verdicts(batch, schema, required, columns_on):
    expect = Expectations(
        required_fields=tuple(required),
        record_schema_document=schema,
        empty_columns="fail" if columns_on else "allow",
    )
    columns = [(f"c{i}", p) for i, p in enumerate(required)] if columns_on else []
    lines = [json.dumps(r).encode() + b"\n" for r in batch]
    assert _verdicts(expect, columns, lines, True) == _verdicts(expect, columns, lines, False)


_CASES = (st.lists(records, min_size=1, max_size=6), schemas, paths, st.booleans())


@settings(
    max_examples=400, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(*_CASES)
def test_projected_records_give_the_whole_records_verdicts(batch, schema, required, columns_on):
    _same_verdicts(batch, schema, required, columns_on)


@pytest.mark.slow
@settings(max_examples=20_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(*_CASES)
def test_projected_records_give_the_whole_records_verdicts_at_length(
    batch, schema, required, columns_on
):
    _same_verdicts(batch, schema, required, columns_on)


#: every rule that reads more of a part than the fields it names, placed on a part whose
#: named field (`a`) is the same in the projection and whose other fields decide the rule
_B = {"a": {}}
READING_RULES = {
    "uniqueItems": {"Emails": {"uniqueItems": True, "items": {"properties": _B}}},
    "contains": {
        "Emails": {
            "contains": {"properties": {"x": {"const": 2}}, "required": ["x"]},
            "items": {"properties": _B},
        }
    },
    "prefixItems": {"Emails": {"prefixItems": [{"required": ["x"]}], "items": {"properties": _B}}},
    "enum": {"b": {"enum": [{"a": 1}], "properties": _B}},
    "const": {"b": {"const": {"a": 1}, "properties": _B}},
    "additionalProperties": {"b": {"additionalProperties": False, "properties": _B}},
    "unevaluatedProperties": {"b": {"unevaluatedProperties": False, "properties": _B}},
    "patternProperties": {
        "b": {"patternProperties": {"^x$": {"type": "string"}}, "properties": _B}
    },
    "propertyNames": {"b": {"propertyNames": {"pattern": "^a$"}, "properties": _B}},
    "minProperties": {"b": {"minProperties": 2, "properties": _B}},
    "maxProperties": {"b": {"maxProperties": 1, "properties": _B}},
    "dependentRequired": {"b": {"dependentRequired": {"x": ["y"]}, "properties": _B}},
    "dependentSchemas": {"b": {"dependentSchemas": {"x": {"required": ["y"]}}, "properties": _B}},
    "not": {"b": {"not": {"required": ["x"]}, "properties": _B}},
    "allOf": {"b": {"allOf": [{"required": ["x"]}], "properties": _B}},
    "anyOf": {"b": {"anyOf": [{"required": ["x"]}], "properties": _B}},
    "oneOf": {"b": {"oneOf": [{"required": ["x"]}, {"required": ["y"]}], "properties": _B}},
    "if": {"b": {"if": {"required": ["a"]}, "then": {"required": ["x"]}, "properties": _B}},
    "$ref": {"b": {"$ref": "#/$defs/needs_x", "properties": _B}},
}


@pytest.mark.parametrize("rule", sorted(READING_RULES))
@pytest.mark.parametrize("at_the_top", [False, True])
def test_a_rule_that_reads_more_than_its_named_fields_sees_the_whole_part(rule, at_the_top):
    """Two items equal in the projected fields but not whole, an object compared with
    `enum`, a key no rule names, ...: each judged as the whole record holds it, where the
    rule sits under a property and where it sits at the top."""
    record = {"a": 1, "b": {"a": 1, "x": 2}, "Emails": [{"a": 1, "x": 1}, {"a": 1, "x": 2}]}
    ((key, part),) = READING_RULES[rule].items()
    schema: dict = {"$defs": {"needs_x": {"required": ["x"]}}, "properties": {key: part}}
    if at_the_top:
        if key != "b":
            pytest.skip("a record is an object: an array's rules sit under a property")
        record, schema = record[key], {"$defs": schema["$defs"], **part}
    expect = Expectations(record_schema_document=schema)
    lines = [json.dumps(record).encode() + b"\n"]
    whole = _verdicts(expect, [], lines, False)
    assert _verdicts(expect, [], lines, True) == whole


def test_a_record_shaped_otherwise_than_the_schema_foresaw_is_read_whole():
    """`Emails` is a list by the schema and an object in the second record: that piece is
    decoded whole, and the verdict names the second record."""
    schema = {"properties": {"Emails": {"type": "array", "items": {"required": ["a"]}}}}
    lines = [b'{"Emails": [{"a": 1}]}\n', b'{"Emails": {"a": 1}}\n']
    checking = RecordCheck(Expectations(record_schema_document=schema), [])
    checking.feed(b"".join(lines))
    (verdict,) = checking.verdicts()
    assert not verdict.met and "record 2: Emails fails type" in verdict.detail
