"""A CSV export is safe to open in a spreadsheet by default: a text cell that starts like a
formula is escaped the way OWASP's CSV Injection guidance says, and a byte-order mark is
there when asked for. A loader that wants every cell as received says so
(`escape_formulas: false`); an xlsx cell is text, never a formula, either way."""

from __future__ import annotations

import csv
import io
import json

import openpyxl

from tests.support.fake_server import envelope, lying_pages, serving_pages
from tests.support.processes import assert_no_traceback
from tests.support.runs import run
from tests.support.specs import write_spec

#: what starts a formula, by OWASP's CSV Injection guidance (and ASVS 5.0's NUL)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\x00")
#: text a spreadsheet would run, one for each character that starts a formula
FORMULAS = {
    "eq": '=HYPERLINK("http://127.0.0.1/x?"&A1,"click")',
    "plus": "+1+cmd|' /C calc'!A0",
    "minus": "-2+3+cmd|' /C calc'!A0",
    "at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab": "\t=1+2",
    "cr": "\r=1+2",
    "nul": "\x00=1+2",
    "text_minus": "-5",  # a number sent as text is text
}


def hostile(n: int, **extra) -> dict:
    return {
        "ProfileId": f"P{n:06d}",
        **FORMULAS,
        "number": -5,  # a JSON number is a number: no formula, written as sent
        "float": -1.5,
        "name": "Müller",
        "=key": "a field name that starts like a formula",
        "plain": "x=1",
        **extra,
    }


JOBS = """
- name: flat
  segment_group: VIP Customers
  output: {format: csv}
- name: pinned
  segment_group: VIP Customers
  output:
    format: csv
    columns: {"=id": ProfileId, eq: eq, minus: minus, number: number, name: name}
- name: raw
  segment_group: VIP Customers
  output: {format: csv, escape_formulas: false}
- name: excel
  segment_group: VIP Customers
  output: {format: csv, bom: true, columns: {name: name, at: at}}
- name: sheet
  segment_group: VIP Customers
  output: {format: xlsx}
"""


def rows(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))


def test_csv_cells_that_start_like_formulas_are_escaped_and_xlsx_keeps_them_text(tmp_path):
    with serving_pages(lying_pages("honest", total=3, record=hostile), rowcount=3) as (url, _):
        spec = write_spec(tmp_path, url, JOBS)
        outcome = run(spec, tmp_path)
    assert [j.status for j in outcome.report.jobs] == ["succeeded"] * 5, [
        j.error for j in outcome.report.jobs
    ]
    exports = tmp_path / "run" / "exports"

    flat = rows(exports / "flat.csv")
    assert len(flat) == 3 and "'=key" in flat[0]  # a header is a cell too
    for row in flat:
        for name, value in FORMULAS.items():
            assert row[name] == "'" + value, name
        assert row["number"] == "-5" and row["float"] == "-1.5"  # numbers, as sent
        assert row["plain"] == "x=1" and row["name"] == "Müller"
    for cell in (
        c for row in csv.reader(io.StringIO((exports / "flat.csv").read_text())) for c in row
    ):
        assert not cell.startswith(FORMULA_STARTS) or cell in ("-5", "-1.5"), cell

    pinned = list(csv.reader(io.StringIO((exports / "pinned.csv").read_text(), newline="")))
    assert pinned[0] == ["'=id", "eq", "minus", "number", "name"]
    assert pinned[1] == ["P000001", "'" + FORMULAS["eq"], "'" + FORMULAS["minus"], "-5", "Müller"]

    raw = rows(exports / "raw.csv")  # a loader's CSV: every cell as received
    assert "=key" in raw[0] and all(raw[0][k] == v for k, v in FORMULAS.items())

    excel = (exports / "excel.csv").read_bytes()
    assert excel.startswith(b"\xef\xbb\xbf") and not (exports / "flat.csv").read_bytes().startswith(
        b"\xef\xbb\xbf"
    )
    assert excel.decode("utf-8-sig").splitlines()[1] == "Müller,'" + FORMULAS["at"]

    book = openpyxl.load_workbook(exports / "sheet.xlsx")
    header, first = list(book.worksheets[0].iter_rows())[:2]
    by_name = dict(zip((c.value for c in header), first, strict=True))
    key = next(c for c in header if c.value == "=key")
    assert key.data_type == "s"  # the header cell too: text, not a formula
    for name, value in FORMULAS.items():
        value = value.replace("\x00", "\\x00")  # XML cannot hold a NUL: its escape
        assert by_name[name].value == value and by_name[name].data_type == "s", name
    assert by_name["number"].value == -5


def test_csv_options_are_refused_where_they_mean_nothing(segrun, tmp_path):
    for output, words in (
        ("{format: jsonl, bom: true}", "applies to csv; jsonl writes records whole"),
        ("{bom: false}", "applies to csv; jsonl writes records whole"),
        ("{format: xlsx, escape_formulas: false}", "an xlsx cell is text, never a formula"),
        ("{format: xlsx, bom: true}", "applies to csv"),
        ("{format: csv, bom: yes please}", "output.bom"),
    ):
        spec = tmp_path / "spec.yaml"
        spec.write_text(
            "version: 1\nclient_id: SanchezAssociates\njobs:\n  - segment_group: VIP\n"
            f"    output: {output}\n"
        )
        result = segrun("validate", "--format", "json", str(spec))
        assert_no_traceback(result)
        assert result.returncode == 2, (output, result.stdout)
        said = json.loads(result.stdout)
        assert any(words in f"{d['path']}: {d['message']}" for d in said), (output, said)


HUGE = "7" * 5000  # more digits than Python converts to an int


def test_a_number_of_any_length_is_written_as_its_digits(tmp_path):
    """Python refuses to convert an integer of over 4,300 digits; JSON allows it, and a
    sheet of such a record is written, the number as its digits, never a crash."""

    def pages(offset: int, limit: int):
        records = [b'{"ProfileId":"P1","n":' + HUGE.encode() + b',"l":[1,' + HUGE.encode() + b"]}"]
        return 200, envelope(records, offset, limit, 1, False), {}

    jobs = """
    - name: flat
      segment_group: VIP Customers
      output: {format: csv}
    - name: pinned
      segment_group: VIP Customers
      output: {format: csv, columns: {n: n, l: l}}
    - name: sheet
      segment_group: VIP Customers
      output: {format: xlsx, columns: {n: n, l: l}}
    """
    with serving_pages(pages, rowcount=1) as (url, _):
        spec = write_spec(tmp_path, url, jobs)
        outcome = run(spec, tmp_path)
    assert [j.status for j in outcome.report.jobs] == ["succeeded"] * 3, [
        j.error for j in outcome.report.jobs
    ]
    exports = tmp_path / "run" / "exports"
    assert rows(exports / "flat.csv") == [{"ProfileId": "P1", "n": HUGE, "l": f"[1,{HUGE}]"}]
    assert rows(exports / "pinned.csv") == [{"n": HUGE, "l": f"[1,{HUGE}]"}]
    sheet = openpyxl.load_workbook(exports / "sheet.xlsx").worksheets[0]
    assert [c.value for c in list(sheet.iter_rows())[1]] == [HUGE, f"[1,{HUGE}]"]
