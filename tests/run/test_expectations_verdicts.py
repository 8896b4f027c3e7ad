"""Each expectation's verdict over an export's records, with the numbers a person needs and
never a record's value."""

from __future__ import annotations

import json

import pytest

from runner.jobspec.model import Expectations
from runner.run.expectations import Earlier, Verdicts, check, needs_records

SECRET_VALUE = "ann.private@example.com"


def lines(*records: object) -> list[bytes]:
    return [json.dumps(r).encode() + b"\n" for r in records]


def test_counts_need_no_pass_over_the_records():
    expect = Expectations(min_records=10, max_records=20)
    assert not needs_records(expect, ())
    verdicts = check(expect, 5, None)
    assert [v.expectation for v in verdicts.unmet] == ["min_records"]
    assert verdicts.summary() == "min_records: 5 records, fewer than 10"
    assert check(expect, 21, None).summary() == "max_records: 21 records, more than 20"
    assert not check(expect, 15, None).unmet


@pytest.mark.parametrize(
    ("records", "earlier", "met", "detail"),
    [
        (412, 1420, False, "412 records, 71% fewer than 1,420 on 2026-12-06 (at most 30% allowed)"),
        (994, 1420, True, "994 records, 30% fewer than 1,420 on 2026-12-06"),
        (1500, 1420, True, "1,500 records, 1,420 on 2026-12-06"),
        (0, 0, True, "0 records, 0 on 2026-12-06"),
    ],
)
def test_max_drop_compares_with_the_last_success(records, earlier, met, detail):
    verdicts = check(Expectations(max_drop=0.3), records, None, (), Earlier(earlier, "2026-12-06"))
    assert verdicts.verdicts[0].met is met
    assert verdicts.verdicts[0].detail == detail


def test_max_drop_without_history_passes_and_says_so():
    verdict = check(Expectations(max_drop=0.3), 1, None).verdicts[0]
    assert verdict.met and "no earlier" in verdict.detail


def test_required_fields_count_and_name_the_records_without_their_values():
    expect = Expectations(required_fields=("ProfileId", "Emails[0].Address"))
    records = [{"ProfileId": i, "Emails": [{"Address": SECRET_VALUE}]} for i in range(3)]
    records.append({"ProfileId": None, "Emails": []})
    verdicts = check(expect, 4, lines(*records))
    assert [v.expectation for v in verdicts.unmet] == [
        "required_fields ProfileId",
        "required_fields Emails[0].Address",
    ]
    assert "1 records (records 4)" in verdicts.summary()
    assert SECRET_VALUE not in json.dumps(verdicts.to_json())


def test_record_schema_names_where_and_which_rule_never_the_value():
    schema = {
        "type": "object",
        "required": ["ProfileId"],
        "properties": {"Email": {"type": "string", "pattern": "^[^@]+@example\\.org$"}},
    }
    expect = Expectations(record_schema="s.json", record_schema_document=schema)
    verdicts = check(
        expect,
        3,
        lines({"ProfileId": 1}, {"Email": SECRET_VALUE}, {"ProfileId": 2, "Email": SECRET_VALUE}),
    )
    text = verdicts.summary()
    assert "2 records do not match" in text and "record 2" in text and "record 3" in text
    assert "Email fails pattern" in text
    assert SECRET_VALUE not in json.dumps(verdicts.to_json())


def test_a_column_empty_in_every_record_fails_and_suggests_the_field_that_arrived():
    columns = (("id", "ProfileID"), ("email", "Emails[0].address"), ("name", "FirstName"))
    records = [{"ProfileId": i, "Emails": [{"Address": "x"}], "FirstName": "A"} for i in range(3)]
    verdicts = check(Expectations(), 3, lines(*records), columns)
    unmet = {v.expectation: v.detail for v in verdicts.unmet}
    assert set(unmet) == {"empty_columns id", "empty_columns email"}
    assert "did you mean ProfileId?" in unmet["empty_columns id"]
    assert "did you mean Emails[0].Address?" in unmet["empty_columns email"]
    assert not check(Expectations(empty_columns="allow"), 3, lines(*records), columns).unmet


def test_an_empty_export_has_no_empty_column_to_blame():
    verdicts = check(Expectations(), 0, lines(), (("id", "ProfileId"),))
    assert not verdicts.unmet


def test_warn_severity_reports_but_does_not_fail():
    verdicts = check(Expectations(min_records=1, severity="warn"), 0, None)
    assert verdicts.unmet and not verdicts.fails_the_job


def test_verdicts_round_trip_through_a_checkpoint():
    verdicts = check(Expectations(min_records=1), 0, None)
    assert Verdicts.from_json(json.loads(json.dumps(verdicts.to_json()))) == verdicts
    assert Verdicts.from_json({"verdicts": [{"met": 1}]}) is None
