"""A sheet with pinned columns keeps, while it is in progress, only what it will hold: a
CSV is written a page at a time into its part file, an xlsx spools its rows. Its
ProfileIds wait beside its checkpoint, so a resumed export still never repeats a record,
and its expectations, which read whole records, keep their tally in the checkpoint, so a
resume gives the verdicts of an uninterrupted run without the records on disk."""

from __future__ import annotations

import csv
import io
import json
import shutil
import signal
import time
from pathlib import Path

import openpyxl

from runner.sandbox import FaultPlan, running_sandbox
from tests.support.fake_server import envelope, lying_pages, serving_pages
from tests.support.runs import crash_run, job, run
from tests.support.specs import write_spec

SCHEMA = {"type": "object", "properties": {"ProfileId": {"type": "string"}}}
EXPECT = (
    '  expect: {required_fields: ["Emails[5].EmailAddress", ProfileId], '
    "record_schema: profile.schema.json, severity: warn}\n"
)
JOBS = (
    "- name: people\n  segment_group: All Profiles\n  page_size: 10\n"
    "  output: {format: csv, columns: {id: ProfileId, email: 'Emails[0].EmailAddress', "
    "surname: CustomerName.lastname}}\n"
    + EXPECT
    + "- name: sheet\n  segment_group: All Profiles\n  page_size: 10\n"
    "  output: {format: xlsx, columns: {id: ProfileId, phone: 'PhoneNumbers[0].PhoneNumber'}}\n"
    + EXPECT
    # no expectation reads its records; its file begins with a byte-order mark and a header
    + "- name: plain\n  segment_group: VIP Customers\n  page_size: 2\n"
    "  output: {format: csv, bom: true, columns: {id: ProfileId}}\n"
    "  expect: {empty_columns: allow}\n"
)
#: what the records hold beyond the pinned columns, which no part file may keep
ELSEWHERE = (b"CustomerName", b"Consents", b"AlternateIds", b"LoyaltyNumber", b"ProfilePreferences")


def prepare(folder: Path, base_url: str) -> Path:
    folder.mkdir()
    (folder / "profile.schema.json").write_text(json.dumps(SCHEMA))
    return write_spec(folder, base_url, JOBS)


def settled(folder: Path) -> dict:
    """What a finished run leaves, less what differs between two runs (times, an xlsx's zip)."""
    run_dir = folder / "run"
    report = json.loads((run_dir / "report.json").read_text())
    keep = ("name", "status", "records", "row_count", "output", "expectations")
    exports = run_dir / "exports"
    book = openpyxl.load_workbook(exports / "sheet.xlsx", read_only=True)
    return {
        "jobs": [{k: j.get(k) for k in keep} for j in report["jobs"]],
        "csv": (exports / "people.csv").read_bytes(),
        "plain": (exports / "plain.csv").read_bytes(),
        "xlsx": [list(r) for r in book.worksheets[0].iter_rows(values_only=True)],
        "exports": sorted(p.name for p in exports.iterdir()),
        "checkpoints": sorted(p.name for p in (run_dir / "checkpoints").glob("*")),
    }


def test_an_interrupted_sheet_with_pinned_columns_keeps_only_its_columns(tmp_path):
    plan = FaultPlan.parse("retrieve:slow=1,slow_seconds=0.06")
    with running_sandbox(profiles=300, seed=8, faults=plan) as sandbox:
        reference = prepare(tmp_path / "reference", sandbox.base_url)
        assert run(reference, reference.parent).report.exit_code == 0
        whole = settled(reference.parent)
        verdicts = whole["jobs"][0]["expectations"]["verdicts"]
        assert [v["met"] for v in verdicts] == [False, True, False, False], verdicts
        assert "did you mean CustomerName.LastName?" in verdicts[3]["detail"]
        assert whole["checkpoints"] == []
        assert whole["exports"] == ["people.csv", "plain.csv", "sheet.xlsx"]
        assert whole["plain"].startswith(b"\xef\xbb\xbfid\r\n")

        for crash_at in ("fsync people.csv.part#3", "fsync sheet.xlsx.part#3"):
            folder = tmp_path / crash_at.split()[1].split(".")[0]
            spec = prepare(folder, sandbox.base_url)
            run_dir = folder / "run"
            assert crash_run(spec, run_dir, crash_at, folder / "log") == -signal.SIGKILL
            part = run_dir / "exports" / crash_at.split()[1].split("#")[0]
            data = part.read_bytes()
            assert data and not any(field in data for field in ELSEWHERE)
            if part.name == "people.csv.part":  # the CSV itself, so far
                assert whole["csv"].startswith(data) and data.endswith(b"\r\n")
                rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
                assert rows[0] == ["id", "email", "surname"] and len(rows) > 10
            else:  # one JSON row of cells a line
                rows = [json.loads(line) for line in data.splitlines()]
                assert len(rows) > 10 and all(len(row) == 2 for row in rows)
                sheet = whole["xlsx"][1 : len(rows) + 1]  # read back: trailing empty cells dropped
                assert rows == [r + [None] * (2 - len(r)) for r in sheet]
            ids = (run_dir / "checkpoints" / f"{part.name.split('.')[0]}.ids").read_bytes()
            assert ids.startswith(b"10000000\n10000001\n") and not any(f in ids for f in ELSEWHERE)

            outcome = run(spec, folder, out=None, resume=run_dir)
            assert outcome.report.exit_code == 0, [j.error for j in outcome.report.jobs]
            assert settled(folder) == whole
            resumed = job(outcome, part.name.split(".")[0])
            assert any(n.startswith("resumed token") for n in resumed.notes), resumed.notes


def test_a_crash_at_every_durable_operation_of_sheets_with_pinned_columns_then_resume(tmp_path):
    """The same exports, verdicts and report as an uninterrupted run, and nothing left
    behind, wherever the run was killed."""
    with running_sandbox(profiles=60, seed=12) as sandbox:
        reference = prepare(tmp_path / "reference", sandbox.base_url)
        assert run(reference, reference.parent).report.exit_code == 0
        whole = settled(reference.parent)
        walked = []
        sandbox.faults.plan = FaultPlan.parse("slow_seconds=0.26")
        for n in range(1, 300):
            folder = tmp_path / f"crash-{n}"
            spec = prepare(folder, sandbox.base_url)
            sandbox.faults.clear()  # a slow second page of each job: a checkpoint mid-retrieval
            # (people and sheet: 6 pages each; plain: 2)
            sandbox.faults.script(
                "retrieve", ["ok", "slow", *["ok"] * 5, "slow", *["ok"] * 5, "slow"]
            )
            crashed = crash_run(spec, folder / "run", n, folder / "log")
            if crashed == 0:
                break
            assert crashed == -signal.SIGKILL, crashed
            walked.append((folder / "log").read_text().splitlines()[-1])
            outcome = run(spec, folder, out=None, resume=folder / "run")
            assert outcome.report.exit_code == 0, (n, [j.error for j in outcome.report.jobs])
            assert settled(folder) == whole, walked[-1]
            shutil.rmtree(folder)
        else:
            raise AssertionError("the run never finished uncrashed")
    joined = "\n".join(walked)
    for step in (
        "fsync people.csv.part",
        "fsync people.ids",
        "rename people.csv.part -> people.csv",
        "unlink people.ids",
        "fsync sheet.xlsx.part",
        "rename sheet.xlsx.xlsx-tmp -> sheet.xlsx",
        "unlink sheet.xlsx.part",
        "unlink sheet.ids",
        "fsync plain.csv.part",
        "rename plain.csv.part -> plain.csv",
    ):
        assert step in joined, step
    for name in ("people", "sheet", "plain"):  # initiated, mid-retrieval, complete
        assert joined.count(f"write {name}.json") >= 3, name


def test_a_repeat_across_a_resume_of_a_csv_with_pinned_columns_fails_the_job(tmp_path):
    """Its ProfileIds are not in its CSV (no id column here): the ids kept beside the
    checkpoint still catch the server serving, after the resume, a record it served before."""
    honest_then_repeat = lying_pages("repeat_last", total=40)

    def pages(offset: int, limit: int):
        if offset == 11:  # a slow second page: a checkpoint after it, mid-retrieval
            time.sleep(0.3)
        return honest_then_repeat(offset, limit)

    with serving_pages(pages, rowcount=40) as (base_url, _):
        spec = write_spec(
            tmp_path,
            base_url,
            "- name: one\n  segment_group: VIP Customers\n  page_size: 10\n"
            "  output: {format: csv, columns: {email: 'Emails[0].EmailAddress'}}\n",
        )
        run_dir = tmp_path / "run"
        # 1 initiated, 2 after the slow page, 3 the failed job's last: killed before it
        assert crash_run(spec, run_dir, "write one.json#3", tmp_path / "log") == -signal.SIGKILL
        assert json.loads((run_dir / "checkpoints" / "one.json").read_text())["records"] == 20
        assert (run_dir / "checkpoints" / "one.ids").exists()
        outcome = run(spec, tmp_path, out=None, resume=run_dir)
    one = job(outcome, "one")
    assert one.status == "failed" and one.kind == "server_lied", one.error
    assert "ProfileId 'P000001' at record 40 was already exported at record 1" in one.error
    assert not (run_dir / "exports" / "one.csv").exists()


def test_expect_changed_before_a_resume_restarts_a_pinned_sheet_or_fails_a_complete_one(tmp_path):
    """The tally in the checkpoint is of the expectations as they were; a sheet cannot read
    its records again for new ones, so the job is exported afresh, and says so. (Once the
    export is complete, such a resume fails the job, naming the checkpoint to delete.)"""
    plan = FaultPlan.parse("retrieve:slow=1,slow_seconds=0.06")
    with running_sandbox(profiles=300, seed=8, faults=plan) as sandbox:
        spec = prepare(tmp_path / "spec", sandbox.base_url)
        run_dir = spec.parent / "run"
        assert crash_run(spec, run_dir, "fsync people.csv.part#3", spec.parent / "log") == -9
        spec.write_text(spec.read_text().replace("Emails[5]", "Emails[4]"))
        outcome = run(spec, spec.parent, out=None, resume=run_dir)
        people = job(outcome, "people")
        assert people.status == "succeeded", people.error
        assert any("expect: is not what it was at the checkpoint" in n for n in people.notes), (
            people.notes
        )
        assert (
            people.expectations["verdicts"][0]["expectation"]
            == "required_fields Emails[4].EmailAddress"
        )
        assert people.records == 300

        # complete, and killed before its verdicts were kept (as between steps 3 and 4)
        later = tmp_path / "complete"
        spec = prepare(later, sandbox.base_url)
        crashed = crash_run(
            spec, later / "run", "rename people.csv.part -> people.csv#1", later / "l"
        )
        assert crashed == -9
        checkpoint = later / "run" / "checkpoints" / "people.json"
        kept = json.loads(checkpoint.read_text())
        assert kept["phase"] == "complete" and kept["reading"]["count"] == 300
        checkpoint.write_text(json.dumps({**kept, "expectations": None}))
        spec.write_text(spec.read_text().replace("Emails[5]", "Emails[4]"))
        outcome = run(spec, later, out=None, resume=later / "run")
    people = job(outcome, "people")
    assert people.status == "failed" and people.kind == "resume", people.error
    assert "expect: is not what it was when the export completed" in people.error
    assert "delete checkpoints/people.json" in people.error


#: ProfileIds that are one id to a reader, in two spellings each, and ids that only look alike
SPELLINGS = {
    "a lone surrogate": (b'"\xed\xa0\x80\\udc00"', b'"\xed\xa0\x80\\udc00"'),
    "a number of 5,000 digits": (b"7" * 5000, b"7" * 5000),
    "one number two ways": (b"10", b"10.0"),
    "a number past a float's range": (b"1e400", b"2e400"),
}
DISTINCT = [b"1", b'"1"', b"true", b"1.5", b'"\\ud800\\udc00"', b'"\\ud800"', b"null", b"{}"]


def test_a_repeat_in_any_spelling_fails_a_pinned_sheet_and_look_alikes_do_not(tmp_path):
    """The ids kept beside a pinned sheet's checkpoint read back as the same ids, of the same
    types, as the pages gave: a repeat two pages apart, confirmed against them, is caught
    whatever its spelling, and ids that only look alike are not taken for repeats."""
    spec_jobs = (
        "- name: one\n  segment_group: VIP Customers\n  page_size: 1\n"
        "  output: {format: csv, columns: {n: n}}\n"
    )
    for name, (first, again) in SPELLINGS.items():
        records = [b'{"ProfileId":' + first + b',"n":1}', b'{"ProfileId":' + again + b',"n":2}']
        folder = tmp_path / name.replace(" ", "-").replace(",", "")
        folder.mkdir()

        def pages(offset: int, limit: int, records=records):
            return 200, envelope(records[offset - 1 : offset], offset, 1, 2, offset < 2), {}

        with serving_pages(pages, rowcount=2) as (url, _):
            outcome = run(write_spec(folder, url, spec_jobs), folder)
        one = job(outcome, "one")
        assert one.status == "failed" and one.kind == "server_lied", (name, one.error)
        assert "at record 2 was already exported at record 1" in one.error, name

    records = [b'{"ProfileId":' + pid + b',"n":%d}' % i for i, pid in enumerate(DISTINCT)]

    def distinct(offset: int, limit: int):
        last = offset < len(records)
        return 200, envelope(records[offset - 1 : offset], offset, 1, len(records), last), {}

    with serving_pages(distinct, rowcount=len(records)) as (url, _):
        outcome = run(write_spec(tmp_path, url, spec_jobs), tmp_path)
    assert job(outcome, "one").status == "succeeded", job(outcome, "one").error
    assert job(outcome, "one").records == len(DISTINCT)


def test_a_record_schema_changed_before_a_resume_is_checked_as_it_now_reads(tmp_path):
    """The tally in the checkpoint counts the records that broke the schema as it was; a
    resume with another schema (the file edited, the spec not) gives the verdicts of
    checking every record against the new one: a JSONL export reads its records again, a
    pinned sheet, which no longer holds them, is exported afresh."""
    strict = {"type": "object", "properties": {"ProfileId": {"type": "string"}}}
    lax = {"type": "object", "properties": {"ProfileId": {"type": "integer"}}}
    jobs = (
        "- name: people\n  segment_group: All Profiles\n  page_size: 10\n"
        "  output: {format: csv, columns: {id: ProfileId}}\n"
        "  expect: {record_schema: profile.schema.json, severity: warn}\n"
        "- name: lines\n  segment_group: All Profiles\n  page_size: 10\n"
        "  output: {format: jsonl}\n"
        "  expect: {record_schema: profile.schema.json, severity: warn}\n"
    )
    plan = FaultPlan.parse("retrieve:slow=1,slow_seconds=0.06")
    with running_sandbox(profiles=300, seed=8, faults=plan) as sandbox:
        for crash_at in ("fsync people.csv.part#3", "fsync lines.jsonl.part#3"):
            folder = tmp_path / crash_at.split()[1].split(".")[0]
            folder.mkdir()
            (folder / "profile.schema.json").write_text(json.dumps(strict))
            spec = write_spec(folder, sandbox.base_url, jobs)
            run_dir = folder / "run"
            assert crash_run(spec, run_dir, crash_at, folder / "log") == -signal.SIGKILL
            (folder / "profile.schema.json").write_text(json.dumps(lax))
            outcome = run(spec, folder, out=None, resume=run_dir)
            one = job(outcome, folder.name)  # the job the crash cut (one before it is kept)
            assert one.status == "succeeded" and one.records == 300, (crash_at, one.error)
            verdict = one.expectations["verdicts"][0]
            assert verdict == {
                "expectation": "record_schema",
                "met": True,
                "detail": "every record matches",
            }, (crash_at, one.notes)
