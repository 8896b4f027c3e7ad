"""The cerberus schema of the job-spec format, read from `specs/jobspec.yaml`."""

from __future__ import annotations

import copy
from functools import cache

from cerberus.schema import DefinitionSchema, UnvalidatedSchema

from runner.apifacts import api
from runner.apifacts.files import load_spec_yaml
from runner.jobspec.rules import auth_scheme_names

NOT_DEFAULTABLE = ("name", "segment_group")


def _api_facts() -> dict[str, object]:
    retrieve = api.facts()["retrieve"]
    return {
        "match_criteria": api.match_criteria(),
        "auth_schemes": auth_scheme_names(),
        "environments": ["sandbox", *api.facts()["environments"]],
        "max_page_size": retrieve["max_limit"],
        "default_page_size": retrieve["default_limit"],
    }


def _resolve(node: object, facts: dict[str, object], defaults_schema: dict | None) -> object:
    if isinstance(node, str) and node.startswith("@api:"):
        return facts[node[len("@api:") :]]
    if node == "@defaults":
        return defaults_schema
    if isinstance(node, dict):
        return _resolve_fields(node, facts, defaults_schema)
    if isinstance(node, list):
        return [_resolve(v, facts, defaults_schema) for v in node]
    return node


def _resolve_fields(node: dict, facts: dict[str, object], defaults_schema: dict | None) -> dict:
    return {k: _resolve(v, facts, defaults_schema) for k, v in node.items()}


def _without(schema: dict, rule: str) -> dict:
    """A copy of a field schema with one rule removed at every depth."""
    result = {}
    for key, value in schema.items():
        if key == rule:
            continue
        if isinstance(value, dict):
            value = _without(value, rule)
        result[key] = value
    return result


@cache
def job_schema() -> dict:
    raw = load_spec_yaml("jobspec.yaml")
    return _resolve_fields(copy.deepcopy(raw["$job"]), _api_facts(), None)


@cache
def defaults_schema() -> dict:
    """The job schema with nothing required and no defaults of its own; the keys
    that cannot have defaults are kept only to say so."""
    fields = job_schema()
    # A default is part of a job, checked once merged; only its own values are
    # checked here, not which key needs which.
    for rule in ("required", "default", "match_rules", "dependencies"):
        fields = {k: _without(v, rule) for k, v in fields.items()}
    for key in NOT_DEFAULTABLE:
        fields[key] = {"not_defaultable": True}
    return fields


@cache
def spec_schema() -> dict:
    raw = load_spec_yaml("jobspec.yaml")
    return _resolve_fields(copy.deepcopy(raw["spec"]), _api_facts(), defaults_schema())


@cache
def _expanded_spec_schema() -> dict:
    return DefinitionSchema.expand(spec_schema())


def trusted_spec_schema() -> UnvalidatedSchema:
    """`spec_schema()` as cerberus takes it without checking it against
    cerberus' own rules again: that check costs a new process about 0.1 s, a
    third of validating a small spec, for a schema that only changes with
    segrun. tests/commands/test_validate.py makes the check once instead."""
    return UnvalidatedSchema(_expanded_spec_schema())
