"""Fixtures for the recorder tests: the fake server on 127.0.0.1, a transcript, and
the public schemas the files must validate against."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import jsonschema
import pytest
import requests
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT6

from runner.records.transcript import Transcript
from runner.redaction.redact import Redactor
from tests.support.fake_server import serving
from tests.support.recording import SECRET, attempt

SCHEMAS = Path(__file__).parent / "schemas"


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    """The fake server's "by-path" scenario: /status, /page?n=N, /token, /echo..."""
    with serving() as fake:
        yield fake.url("by-path").rstrip("/")


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@pytest.fixture
def redactor() -> Redactor:
    return Redactor([SECRET])


@pytest.fixture
def transcript(tmp_path: Path, redactor: Redactor) -> Iterator[Transcript]:
    with Transcript(tmp_path, redactor, bodies="full") as t:
        yield t


Send = Callable[..., "requests.Response | None"]


@pytest.fixture
def send(session: requests.Session, transcript: Transcript) -> Send:
    def _send(method: str, url: str, **kwargs: object) -> requests.Response | None:
        return attempt(session, transcript, method, url, **kwargs)

    return _send


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
