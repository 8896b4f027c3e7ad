"""The data file: the default, the example, and refusals that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.sandbox import DEMO, SandboxDataError, load_data, running_sandbox
from runner.sandbox.datafile import parse_data
from tests.support.sandbox_calls import Client

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sandbox.yaml"


def test_default_has_the_required_groups() -> None:
    data = load_data()
    assert data.client_id == DEMO.client_id
    names = set(data.segment_groups)
    assert {"All Profiles", "VIP Customers", "Email Subscribers", "Loyalty Members"} <= names
    assert any(not g.permits(DEMO.user_id) for g in data.segment_groups.values())
    assert any(g.fails_for(DEMO.user_id) for g in data.segment_groups.values())


def test_example_file_serves() -> None:
    data = load_data(EXAMPLE)
    with running_sandbox(profiles=300, data=EXAMPLE) as sb:
        c = Client(sb)
        for name in data.segment_groups:
            group = data.segment_groups[name]
            if group.permits(DEMO.user_id) and not group.fails_for(DEMO.user_id):
                assert c.export(name) == sb.expected_records(name)


@pytest.mark.parametrize(
    "document, message",
    [
        ({}, "segment_groups: required field"),
        ({"segment_groups": [{"name": "x", "criteria": {"vip": True}}]}, "criteria.vip"),
        (
            {"segment_groups": [{"name": "x", "criteria": {"customer_types": ["Gold"]}}]},
            "unallowed value Gold",
        ),
        ({"segment_groups": [{"name": "x"}, {"name": "x"}]}, "defined twice"),
        ({"segment_groups": [{"users": ["a"]}]}, "name: required field"),
        ([], "must be a mapping"),
    ],
)
def test_bad_data_is_refused_naming_the_key(document: object, message: str) -> None:
    with pytest.raises(SandboxDataError, match=message.replace("[", r"\[")):
        parse_data(document, "x.yaml")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(SandboxDataError, match="cannot read"):
        load_data(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("segment_groups: [\n")
    with pytest.raises(SandboxDataError, match="not valid YAML"):
        load_data(bad)
