"""`expect.record_schema`: a JSON Schema document, read from a file beside the spec and
compiled once, with nothing fetched.

A schema's `$ref` may name any URL; following it would send a request from a job that
holds personal data, or read a file outside the spec's folder. Every reference must
resolve inside the document: `validate` refuses one that does not.
"""

from __future__ import annotations

import json
from pathlib import Path

from runner.jobspec.inputs import InputRefused, confined_path, read_regular_file

#: a record schema is a small document; a larger file is a mistake
MAX_BYTES = 1 << 20


def load(written: str, spec_dir: Path) -> dict:
    """The schema document, or InputRefused saying why in words."""
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    data = read_regular_file(confined_path(written, spec_dir), MAX_BYTES)
    try:
        schema = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise InputRefused(f"is not JSON: {str(e)[:200]}") from None
    if not isinstance(schema, dict):
        raise InputRefused("is not a JSON Schema (its top level must be an object)")
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as e:
        raise InputRefused(f"is not a valid JSON Schema: {e.message[:200]}") from None
    except RecursionError:
        raise InputRefused("is nested too deeply to be a JSON Schema") from None
    try:
        record_validator(schema)
    except Exception as e:  # the validator's own error types: each means it cannot be used
        said = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise InputRefused(f"cannot be used: {said}") from None
    return schema


def _refuse(uri: str, /) -> dict:
    raise ValueError(f"{uri}: a record schema's references must resolve inside the file")


def record_validator(schema: dict):
    """A compiled validator (jsonschema-rs: a record in about a microsecond) that fetches
    nothing."""
    import jsonschema_rs

    return jsonschema_rs.validator_for(schema, retriever=_refuse)
