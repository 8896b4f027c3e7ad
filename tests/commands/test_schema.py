"""`segrun schema` and the committed JSON Schema, and the CLI's self-description."""

from __future__ import annotations

import json

import jsonschema
import pytest

from runner.jobspec.loader import load_text
from tests.support import ROOT

COMMITTED = ROOT / "specs" / "jobspec.schema.json"
SPEC_EXAMPLES = ["quickstart.yaml", "incremental.yaml", "alternate-ids.yaml"]


def test_committed_schema_equals_the_command_output(segrun):
    result = segrun("schema")
    assert result.returncode == 0
    assert result.stdout == COMMITTED.read_text(encoding="utf-8"), (
        "specs/jobspec.schema.json is stale: run `segrun schema > specs/jobspec.schema.json`"
    )


def test_schema_is_valid_draft_2020_12():
    schema = json.loads(COMMITTED.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", SPEC_EXAMPLES)
def test_examples_satisfy_the_json_schema_and_carry_the_modeline(name):
    text = (ROOT / "examples" / name).read_text()
    assert text.startswith("# yaml-language-server: $schema=../specs/jobspec.schema.json")
    schema = json.loads(COMMITTED.read_text())
    # Editors read YAML 1.2, where an unquoted timestamp is a string: so does segrun's loader.
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(load_text(text).root))
    assert not errors, [e.message for e in errors]


def test_json_schema_rejects_what_segrun_rejects():
    schema = json.loads(COMMITTED.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    bad = {"version": 1, "client_id": "x", "jobs": [{"segment_group": "a", "page_size": 0}]}
    assert list(validator.iter_errors(bad))
    lower = {
        "version": 1,
        "client_id": "x",
        "jobs": [{"segment_group": "a", "match_criteria": "alternateid"}],
    }
    assert not list(validator.iter_errors(lower))


def test_every_example_validates_through_the_cli(segrun):
    """`segrun validate examples/*.yaml`: the job specs and the sandbox data file."""
    examples = sorted(str(p) for p in (ROOT / "examples").glob("*.yaml"))
    assert len(examples) >= 4
    result = segrun("validate", *examples)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors" in result.stderr


@pytest.mark.parametrize("args", [["--help"], ["validate", "--help"], ["schema", "--help"]])
def test_help_explains_itself(segrun, args):
    result = segrun(*args)
    assert result.returncode == 0
    assert "Usage: segrun" in result.stdout
    assert len(result.stdout.splitlines()) > 5


def test_top_level_help_documents_exit_codes(segrun):
    out = segrun("--help").stdout
    assert "Exit codes: 0" in out and "130 interrupted" in out


def test_version(segrun):
    from runner import __version__

    result = segrun("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"segrun, version {__version__}"


def test_unknown_command_is_exit_2(segrun):
    assert segrun("frobnicate").returncode == 2
