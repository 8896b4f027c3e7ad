"""A values file as spreadsheets save it: a semicolon or tab for a delimiter, Windows-1252 or
UTF-16 text, a column named with other case or spacing, ids a spreadsheet rewrote as numbers.
Each is read right or refused at validate with words that say what to do, and no message
ever prints a value from the file (customers' identifiers)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import assert_no_traceback, segrun_argv

SPEC = """\
version: 1
client_id: SanchezAssociates
environment: sandbox
jobs:
  - name: loyalty
    segment_group: Loyalty Members
    match_criteria: AlternateId
    match_type: LoyaltyNumber
    values_file: {{path: ids.csv{extra}}}
"""
#: loyalty numbers the sandbox's demo account holds (examples/loyalty-ids.csv)
KNOWN = ["LY-10000000", "LY-10000003", "LY-10000004"]


def project(tmp_path: Path, data: bytes, extra: str = "") -> Path:
    (tmp_path / "ids.csv").write_bytes(data)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(extra=extra))
    return spec


def records_exported(run_dir: Path) -> int:
    report = json.loads((run_dir / "report.json").read_text())
    return sum(job["records"] for job in report["jobs"])


def run_ok(segrun, spec: Path, tmp_path: Path) -> int:
    result = segrun("run", str(spec), "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    return records_exported(tmp_path / "run")


@pytest.fixture(scope="module")
def as_plain_csv(tmp_path_factory) -> int:
    """What the same ids export from a plain comma-separated UTF-8 file."""
    folder = tmp_path_factory.mktemp("plain")
    data = ("loyalty_id\n" + "".join(f"{v}\n" for v in KNOWN)).encode()
    spec = project(folder, data, ", column: loyalty_id")
    out = folder / "run"
    subprocess.run([*segrun_argv(), "run", str(spec), "--out", str(out)], check=True)
    count = records_exported(out)
    assert count > 0
    return count


def refused(segrun, spec: Path, *words: str) -> str:
    """validate refuses with exit 2 and says `words`; run refuses before any send."""
    result = segrun("validate", str(spec))
    assert_no_traceback(result)
    assert result.returncode == 2, result.stdout + result.stderr
    out = result.stdout + result.stderr
    for word in words:
        assert word in out, out
    run = segrun("run", str(spec), "--out", str(spec.parent / "refused-run"))
    assert run.returncode == 2, run.stderr
    assert not (spec.parent / "refused-run" / "exports").exists()
    return out + run.stdout + run.stderr


def test_a_semicolon_file_without_header_is_refused_not_sent_as_whole_lines(segrun, tmp_path):
    """European Excel saves `LY-10000006;A`: sent whole, it matched nothing and the job
    succeeded with 0 records."""
    spec = project(tmp_path, b"LY-10000000;A\r\nLY-10000003;B\r\n")
    out = refused(segrun, spec, "2 fields on line 1", "semicolons", "column:")
    assert "LY-1000000" not in out


def test_a_semicolon_file_with_header_exports_the_named_column(segrun, tmp_path, as_plain_csv):
    data = ("loyalty_id;note\r\n" + "".join(f"{v};x\r\n" for v in KNOWN)).encode()
    spec = project(tmp_path, data, ", column: loyalty_id")
    assert run_ok(segrun, spec, tmp_path) == as_plain_csv


@pytest.mark.parametrize("delimiter", ["\t", "|"])
def test_tab_and_pipe_files_are_detected(segrun, tmp_path, delimiter, as_plain_csv):
    data = (f"note{delimiter}loyalty_id\n" + "".join(f"x{delimiter}{v}\n" for v in KNOWN)).encode()
    spec = project(tmp_path, data, ", column: loyalty_id")
    assert run_ok(segrun, spec, tmp_path) == as_plain_csv


def test_a_given_delimiter_wins_over_detection(segrun, tmp_path, as_plain_csv):
    """A comma inside a field of a semicolon file must not fool the detection: say it."""
    data = ("loyalty_id;note\n" + "".join(f"{v};a, b, c\n" for v in KNOWN)).encode()
    spec = project(tmp_path, data, ", column: loyalty_id, delimiter: semicolon")
    assert run_ok(segrun, spec, tmp_path) == as_plain_csv


def test_a_windows_1252_file_gets_the_save_as_hint_and_no_value(segrun, tmp_path):
    data = "loyalty_id,name\nLY-10000000,Jürgen Müller\n".encode("cp1252")
    spec = project(tmp_path, data, ", column: loyalty_id")
    out = refused(segrun, spec, "not UTF-8", "CSV UTF-8", "encoding")
    assert "Jürgen" not in out and "J\\xfc" not in out and "Müller" not in out


def test_a_windows_1252_file_is_read_with_its_encoding(segrun, tmp_path, as_plain_csv):
    data = ("loyalty_id,name\n" + "".join(f"{v},Müller\n" for v in KNOWN)).encode("cp1252")
    spec = project(tmp_path, data, ", column: loyalty_id, encoding: cp1252")
    assert run_ok(segrun, spec, tmp_path) == as_plain_csv


def test_a_utf16_file_with_its_mark_is_read_without_being_told(segrun, tmp_path, as_plain_csv):
    """Excel's "Unicode Text" is UTF-16 with a byte-order mark, tab-delimited."""
    data = ("loyalty_id\tname\n" + "".join(f"{v}\tMüller\n" for v in KNOWN)).encode("utf-16")
    spec = project(tmp_path, data, ", column: loyalty_id")
    assert run_ok(segrun, spec, tmp_path) == as_plain_csv


@pytest.mark.parametrize("written", ["Loyalty ID", "LOYALTY_ID", "loyalty-id", " loyaltyid"])
def test_a_column_named_with_other_case_or_spacing_gets_a_did_you_mean(segrun, tmp_path, written):
    data = (f"{written};note\n" + "".join(f"{v};x\n" for v in KNOWN)).encode()
    spec = project(tmp_path, data, ", column: loyalty_id")
    refused(segrun, spec, f"did you mean {written.strip()!r}?")


def test_a_header_of_one_column_says_to_set_the_delimiter(segrun, tmp_path):
    data = ("loyalty_id:note\n" + "".join(f"{v}:x\n" for v in KNOWN)).encode()
    spec = project(tmp_path, data, ", column: loyalty_id")
    refused(segrun, spec, "values_file.delimiter")


@pytest.mark.parametrize(
    "rewritten",
    ["1.00000E+07", "1E7", "1e+7", "10000006.0", "2.5E+11", "1,00000E+07", "10000006,0"],
)
@pytest.mark.parametrize("criteria", ["ProfileId", "AlternateId"])
def test_ids_a_spreadsheet_rewrote_as_numbers_are_refused_with_the_reason(
    segrun, tmp_path, rewritten, criteria
):
    quoted = f'"{rewritten}"' if "," in rewritten else rewritten
    (tmp_path / "ids.csv").write_text(f"id\n10000001\n{quoted}\n")
    match_type = "    match_type: LoyaltyNumber\n" if criteria == "AlternateId" else ""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nclient_id: SanchezAssociates\njobs:\n  - segment_group: Loyalty Members\n"
        f"    match_criteria: {criteria}\n{match_type}    values_file: {{path: ids.csv, column: id}}\n"
    )
    out = refused(segrun, spec, "ids.csv:3:1", "spreadsheet", "Text")
    assert rewritten not in out


@pytest.mark.parametrize("written", ["1.00000E+07", "10000006.0"])
def test_ids_a_spreadsheet_rewrote_are_refused_in_the_spec_too(segrun, tmp_path, written):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nclient_id: SanchezAssociates\njobs:\n  - segment_group: Loyalty Members\n"
        f"    match_criteria: ProfileId\n    values: ['{written}']\n"
    )
    refused(segrun, spec, "spreadsheet")


MARK = "PRIVATE"


@pytest.mark.parametrize(
    ("criteria", "column", "content"),
    [
        ("EmailAddress", "email", "email\n{m}-not-an-address\nok@example.com\nok@example.com\n"),
        ("PhoneNumber", "phone", "phone\n{m}12\n"),
        ("ProfileId", "id", "id\n{m}\n{m}\n1E7{m}\n1.0E7\n"),
        ("ProfileId", None, "{m}a;{m}b\n"),
        ("ProfileId", "id", 'id\n"{m}\n'),
        ("ProfileId", "id", "id,other\n1,{m}\xff\n"),
        ("ProfileId", "nope", "{m}1,{m}2\n1,2\n"),
        ("ProfileId", None, "1001\n{m}\x00\n"),  # a NUL: not text
        ("ProfileId", "id", "id\n" + "{m}" * 20_000 + "\n"),  # a field past csv's limit
        ("ProfileId", None, "{m}" * 20_000 + "\n"),  # one very long value: read, masked
        ("ProfileId", "id", "id\n"),  # a header and no values
        ("EmailAddress", "Email", "email\n{m}@example.org\n"),  # did you mean: the header
        ("EmailAddress", "email", "{m}@example.org\n{m}2@example.org\n"),  # no header at all
        ("EmailAddress", "e-mail", "{m}@example.org,x\n"),  # a header-less first row, folded
        ("PhoneNumber", None, "\x1b]0;{m}\x07\n+1 555 0100 {m}\n"),  # a terminal's controls
        ("EmailAddress", None, "{m}: owner\n{m}@example.org\n"),  # a line YAML could read
    ],
)
def test_no_diagnostic_prints_a_value_from_the_file(segrun, tmp_path, criteria, column, content):
    """Line numbers, columns and counts only, in every rendering: one line, JSON, the picture;
    not even the first row of a file said to have a header, which may have none. A file read
    as valid is planned with its values counted and masked, never printed."""
    text = content.replace("{m}", MARK)
    data = text.encode("latin-1") if "\xff" in text else text.encode()
    (tmp_path / "values.csv").write_bytes(data)
    given = f", column: {column}" if column else ""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nclient_id: SanchezAssociates\njobs:\n  - segment_group: VIP Customers\n"
        f"    match_criteria: {criteria}\n    values_file: {{path: values.csv{given}}}\n"
    )
    for args in (
        ["validate"],
        ["validate", "--format", "json"],
        ["validate", "--format", "human"],
        ["plan"],
    ):
        result = segrun(*args, str(spec))
        assert_no_traceback(result)
        out = result.stdout + result.stderr
        assert MARK not in out, (args, out[:2000])
        assert "\x1b" not in out and "\x07" not in out


@pytest.mark.parametrize(
    "content",
    [
        "ada@example.org,{m} Lovelace\nbob@example.org,Bob\n",  # a CSV without a header
        "{m}@example.org\n{m}2@example.org\n",  # plain text, one value a line
        '"{m}, Ada",ada@example.org\n\tGrace {m}\n',  # quotes and tabs YAML trips on
        "id;name\n1;Caf\xe9 {m}\n",  # Windows-1252
        "{m}: VIP\n",  # a line YAML reads as a key
    ],
)
def test_a_values_file_named_as_a_spec_is_not_a_spec_and_none_of_it_is_printed(
    segrun, tmp_path, content
):
    """`segrun validate jobs/*` hands every file of the folder over, the values file beside
    the spec too: it is refused as no spec, and none of its text is printed, in any form."""
    text = content.replace("{m}", MARK)
    values = tmp_path / "values.csv"
    values.write_bytes(text.encode("latin-1") if "\xe9" in text else text.encode())
    spec = project(tmp_path, b"loyalty_id\nLY-10000000\n", ", column: loyalty_id")
    for args in (
        ["validate", str(spec), str(values)],
        ["validate", "--format", "human", str(values)],
        ["validate", "--format", "json", str(values)],
        ["plan", str(values)],
        ["plan", "--format", "json", str(values)],
        ["run", str(values), "--out", str(tmp_path / "run")],
    ):
        result = segrun(*args, cwd=tmp_path)
        assert_no_traceback(result)
        assert result.returncode == 2, (args, result.stdout + result.stderr)
        out = result.stdout + result.stderr
        assert MARK not in out, (args, out)
        assert "is not a job spec" in out or "a spec is a mapping" in out, (args, out)
    assert not (tmp_path / "run").exists()
