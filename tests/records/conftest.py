"""Fixtures for the recorder tests: the fake server on 127.0.0.1, a transcript
(tests/support/recording.py), and the public schemas the files must validate
against."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT6

from tests.support.recording import redactor, send, server, session, transcript  # noqa: F401

SCHEMAS = Path(__file__).parent / "schemas"


@pytest.fixture(scope="session")
def har_validator() -> jsonschema.Draft6Validator:
    resources = []
    for path in (SCHEMAS / "har-schema").glob("*.json"):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"].rstrip("#"), Resource.from_contents(schema, DRAFT6)))
    registry = Registry().with_resources(resources)
    root = json.loads((SCHEMAS / "har-schema" / "har.json").read_text())
    # Without these the schema's `uri` and `date-time` formats go unchecked.
    pytest.importorskip("rfc3986_validator")
    pytest.importorskip("rfc3339_validator")
    return jsonschema.Draft6Validator(
        root, registry=registry, format_checker=jsonschema.Draft6Validator.FORMAT_CHECKER
    )


@pytest.fixture(scope="session")
def junit_schema():
    xmlschema = pytest.importorskip("xmlschema")
    return xmlschema.XMLSchema(str(SCHEMAS / "junit-10.xsd"))
