"""CSV and xlsx exports shaped by output.columns, read back and compared with the records."""

from __future__ import annotations

import csv
import json

import jmespath
import openpyxl
import pytest

from runner.run.tabular import XLSX_MAX_RECORDS, _xlsx_text, flatten, too_many_rows, write_xlsx
from tests.support.runs import job, read_jsonl, run
from tests.support.specs import write_spec

COLUMNS = {
    "id": "ProfileId",
    "name": "CustomerName",
    "email": "Emails[0].EmailAddress",
    "work email": "Emails[?EmailAddressType=='Work'] | [0].EmailAddress",
    "opted in": "Consents[?Status=='OptIn'].ConsentType",
    "active": "IsActive",
    "loyalty": "AlternateIds[?AlternateIdType=='LoyaltyNumber'] | [0].AlternateId",
}


def columns_yaml(indent: str) -> str:
    return "".join(f"{indent}{json.dumps(k)}: {json.dumps(v)}\n" for k, v in COLUMNS.items())


JOBS = f"""
- name: raw
  segment_group: All Profiles
- name: pinned-csv
  segment_group: All Profiles
  output:
    format: csv
    columns:
{columns_yaml("      ")}- name: pinned-xlsx
  segment_group: All Profiles
  page_size: 70
  output:
    format: xlsx
    columns:
{columns_yaml("      ")}- name: flat-xlsx
  segment_group: All Profiles
  output: {{format: xlsx}}
"""


def padded(row, width: int) -> list:
    """A row as read back: openpyxl's read-only mode leaves trailing empty cells out."""
    return list(row) + [None] * (width - len(row))


def as_csv(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def as_xlsx(value):
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def test_columns_pin_csv_and_xlsx_and_flat_xlsx_matches_the_records(sandbox, tmp_path):
    spec = write_spec(tmp_path, sandbox.base_url, JOBS)
    outcome = run(spec, tmp_path)
    assert outcome.report.status == "succeeded", [j.error for j in outcome.report.jobs]
    exports = tmp_path / "run" / "exports"
    records = read_jsonl(exports / "raw.jsonl")
    assert len(records) == 300
    expected = [[jmespath.search(e, r) for e in COLUMNS.values()] for r in records]
    assert any(row[3] is not None for row in expected) and any(row[3] is None for row in expected)

    with open(exports / "pinned-csv.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(COLUMNS)
    assert rows[1:] == [[as_csv(v) for v in row] for row in expected]

    book = openpyxl.load_workbook(exports / "pinned-xlsx.xlsx", read_only=True)
    sheet = book.worksheets[0]
    got = [padded(r, len(COLUMNS)) for r in sheet.iter_rows(values_only=True)]
    assert got[0] == list(COLUMNS)
    assert got[1:] == [[as_xlsx(v) for v in row] for row in expected]
    assert job(outcome, "pinned-xlsx").records == 300

    flat = [
        list(r)
        for r in openpyxl.load_workbook(exports / "flat-xlsx.xlsx", read_only=True)
        .worksheets[0]
        .iter_rows(values_only=True)
    ]
    header = flat[0]
    flat = [padded(r, len(header)) for r in flat]
    assert header[:3] == ["ProfileId", "IsActive", "Edited.Date"]  # the record's own order
    for record, row in zip(records, flat[1:], strict=True):
        cells = flatten(record)  # nested mappings as dotted columns, lists as JSON text
        assert {k: as_xlsx(v) for k, v in cells.items() if v not in ("", None)} == {
            k: v for k, v in zip(header, row, strict=True) if k in cells and v is not None
        }


def test_xlsx_cells_are_text_never_formulas_and_keep_what_xml_cannot(tmp_path):
    spool = tmp_path / "spool.jsonl"
    hostile = [
        {"a": '=HYPERLINK("http://127.0.0.1/x","click")', "b": 12345678901234567890},
        {"a": "bell\x07 and nul\x00", "b": 1.5},
        {"a": "x" * 40_000, "b": None},
    ]
    spool.write_text("".join(json.dumps(r) + "\n" for r in hostile))
    write_xlsx(spool, tmp_path / "out.xlsx", [("a", "a"), ("b", "b")])
    rows = list(openpyxl.load_workbook(tmp_path / "out.xlsx").worksheets[0].iter_rows())
    assert rows[1][0].data_type == "s" and rows[1][0].value.startswith("=HYPERLINK")
    assert rows[1][1].value == "12345678901234567890"  # beyond Excel's 15 digits: text
    assert rows[2][0].value == "bell\\x07 and nul\\x00" and rows[2][1].value == 1.5
    assert len(rows[3][0].value) == 32_767 and rows[3][0].value.endswith(
        "40,000 characters; format: csv keeps it whole]"
    )
    assert _xlsx_text("\ud800") == "\\ud800"


def test_an_export_too_big_for_a_sheet_fails_before_retrieving(sandbox, tmp_path):
    assert too_many_rows(XLSX_MAX_RECORDS) is None
    message = too_many_rows(XLSX_MAX_RECORDS + 1)
    assert message.startswith(
        "1,048,576 records do not fit in an xlsx sheet (at most 1,048,575 rows"
    )
    with pytest.MonkeyPatch.context() as patch:  # the limit itself, lowered for the test
        patch.setattr("runner.run.tabular.XLSX_MAX_RECORDS", 100)
        # the run goes through the CLI's own code in this process
        spec = write_spec(
            tmp_path,
            sandbox.base_url,
            "- name: big\n  segment_group: All Profiles\n  output: {format: xlsx}\n",
        )
        outcome = run(spec, tmp_path)
    big = job(outcome, "big")
    assert big.status == "failed"
    assert (
        big.error
        == "300 records do not fit in an xlsx sheet (at most 100 rows below the header); use format: csv or jsonl, or narrow the export"
    )
    transcript = (tmp_path / "run" / "transcript.har").read_text()
    assert '"_call": "retrieve"' not in transcript
