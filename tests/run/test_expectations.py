"""A wrong night fails loudly: each expectation not met fails its job (exit 1), keeps the
watermark where it was and the export out of its final name; `segrun accept` then gives
exactly what a success would have given (bytes, watermark, history, report)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.processes import assert_no_traceback

HEAD = """\
version: 1
client_id: SanchezAssociates
environment: sandbox
defaults:
  page_size: 100
  poll: {interval: 200ms, timeout: 2m}
jobs:
  - name: vip
    segment_group: VIP Customers
    last_datetime: last_success
"""
COLUMNS = '    output: {format: csv, columns: {id: ProfileId, email: "Emails[0].EmailAddress"}}\n'
SCHEMA = {
    "type": "object",
    "required": ["ProfileId"],
    "properties": {"ProfileId": {"type": "string"}},
}


def spec_with(tmp_path: Path, job_lines: str) -> Path:
    (tmp_path / "profile.schema.json").write_text(json.dumps(SCHEMA))
    spec = tmp_path / "spec.yaml"
    spec.write_text(HEAD + job_lines)
    return spec


def report(run_dir: Path) -> dict:
    return json.loads((run_dir / "report.json").read_text())


def state(tmp_path: Path) -> dict:
    path = tmp_path / ".segrun" / "state.json"
    return json.loads(path.read_text()) if path.exists() else {"watermarks": {}, "history": {}}


def exports(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (run_dir / "exports").iterdir()}


FAILING = {
    "min_records": "    expect: {min_records: 1000000}\n",
    "max_records": "    expect: {max_records: 3}\n",
    "required_fields": '    expect: {required_fields: ["Emails[5].EmailAddress"]}\n',
    "record_schema": "    expect: {record_schema: profile.schema.json}\n",
    "empty_columns": "    output: {format: csv, columns: {id: ProfileID}}\n",
}


@pytest.mark.parametrize("kind", sorted(FAILING))
def test_an_expectation_not_met_fails_the_job_and_accept_places_it_as_a_success(
    segrun, tmp_path, kind
):
    # what a success gives, in a folder of its own (the sandbox's data is the same each run)
    control = tmp_path / "control"
    control.mkdir()
    ok = segrun("run", str(spec_with(control, "")), "--out", str(control / "run"))
    assert ok.returncode == 0, ok.stdout + ok.stderr

    spec = spec_with(tmp_path, FAILING[kind])
    run_dir = tmp_path / "run"
    failed = segrun("run", str(spec), "--out", str(run_dir))
    assert_no_traceback(failed)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    job = report(run_dir)["jobs"][0]
    assert job["status"] == "failed" and job["kind"] == "expectation", job
    unmet = [v for v in job["expectations"]["verdicts"] if not v["met"]]
    assert unmet and unmet[0]["expectation"].startswith(kind), unmet
    assert "kept aside as exports/" in job["error"] and "segrun accept" in failed.stdout
    final = "vip.csv" if "csv" in FAILING[kind] else "vip.jsonl"
    assert final not in exports(run_dir)  # nothing downstream sees it under its name
    assert state(tmp_path)["watermarks"] == {}  # the watermark did not move
    assert state(tmp_path)["history"] == {}

    accepted = segrun("accept", str(run_dir), "vip")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    after = report(run_dir)
    job = after["jobs"][0]
    assert after["status"] == "succeeded" and job["status"] == "succeeded"
    assert job["accepted"]["by"] and job["accepted"]["at"]
    assert set(exports(run_dir)) == {final}  # placed, its spool and ready file gone
    if "expect" in FAILING[kind]:  # the same request: the same bytes as the success
        assert exports(run_dir) == exports(control / "run")
    marks = state(tmp_path)["watermarks"]
    (mark,) = marks.values()
    (history,) = state(tmp_path)["history"].values()
    assert history == [{"records": job["records"], "initiated": mark["last_success"]}]
    assert not (run_dir / "checkpoints" / "vip.json").exists()

    again = segrun("accept", str(run_dir), "vip")  # idempotent
    assert again.returncode == 0, again.stderr
    assert report(run_dir)["jobs"][0] == job
    assert state(tmp_path)["watermarks"] == marks


def test_max_drop_compares_with_the_last_successful_export(segrun, tmp_path):
    spec = spec_with(tmp_path, '    expect: {max_drop: "30%"}\n')
    first = segrun("run", str(spec), "--out", str(tmp_path / "night1"))
    assert first.returncode == 0, first.stdout + first.stderr
    records = report(tmp_path / "night1")["jobs"][0]["records"]
    assert records > 10
    second = segrun("run", str(spec), "--out", str(tmp_path / "night2"))  # nothing changed since
    assert second.returncode == 1, second.stdout
    job = report(tmp_path / "night2")["jobs"][0]
    assert job["kind"] == "expectation"
    assert f"0 records, 100% fewer than {records:,} on " in job["error"]
    watermark = state(tmp_path)["watermarks"]
    accepted = segrun("accept", str(tmp_path / "night2"), "vip")
    assert accepted.returncode == 0, accepted.stderr
    assert state(tmp_path)["watermarks"] != watermark  # moved as a success moves it
    assert [h["records"] for h in next(iter(state(tmp_path)["history"].values()))] == [records, 0]


def test_warn_severity_reports_and_succeeds(segrun, tmp_path):
    spec = spec_with(tmp_path, "    expect: {min_records: 1000000, severity: warn}\n")
    result = segrun("run", str(spec), "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stdout
    assert "warning: expectation not met: min_records" in result.stdout
    assert report(tmp_path / "run")["jobs"][0]["status"] == "succeeded"


def test_a_column_named_in_the_wrong_case_fails_and_names_the_field_it_meant(segrun, tmp_path):
    """`ProfileID` for `ProfileId` (JMESPath is case-sensitive) used to give a CSV whose every
    id was empty, with exit 0."""
    spec = spec_with(tmp_path, "    output: {format: csv, columns: {id: ProfileID}}\n")
    result = segrun("run", str(spec), "--out", str(tmp_path / "run"))
    assert result.returncode == 1
    assert "did you mean ProfileId?" in result.stdout


def test_empty_columns_allow_turns_the_check_off(segrun, tmp_path):
    spec = spec_with(
        tmp_path,
        "    output: {format: csv, columns: {id: ProfileID}}\n    expect: {empty_columns: allow}\n",
    )
    assert segrun("run", str(spec), "--out", str(tmp_path / "run")).returncode == 0


def test_on_missing_watermark_fail_refuses_a_silent_full_export(segrun, tmp_path):
    spec = spec_with(tmp_path, "    on_missing_watermark: fail\n")
    result = segrun("run", str(spec), "--out", str(tmp_path / "run"))
    assert result.returncode == 1, result.stdout
    job = report(tmp_path / "run")["jobs"][0]
    assert job["kind"] == "state" and str(tmp_path / ".segrun" / "state.json") in job["error"]
    assert not (tmp_path / "run" / "exports" / "vip.jsonl").exists()
    plan = segrun("plan", str(spec))
    assert plan.returncode == 2 and "on_missing_watermark" in plan.stderr


def test_a_full_export_for_a_missing_watermark_is_a_warning_in_summary_and_html(segrun, tmp_path):
    spec = spec_with(tmp_path, "")
    result = segrun("run", str(spec), "--out", str(tmp_path / "run"))
    assert result.returncode == 0
    said = f"vip: warning: last_success: no watermark for this job in {tmp_path / '.segrun' / 'state.json'}"
    assert said in result.stdout
    assert "no watermark for this job" in (tmp_path / "run" / "report.html").read_text()


def test_an_empty_csv_export_holds_its_header_and_the_summary_warns(segrun, tmp_path):
    spec = spec_with(tmp_path, COLUMNS)
    assert segrun("run", str(spec), "--out", str(tmp_path / "one")).returncode == 0
    result = segrun("run", str(spec), "--out", str(tmp_path / "two"))  # nothing changed since
    assert result.returncode == 0, result.stdout
    assert (tmp_path / "two" / "exports" / "vip.csv").read_bytes() == b"id,email\r\n"
    assert "vip: warning: 0 records" in result.stdout


def test_expectations_in_defaults_apply_to_every_job_and_merge_with_a_jobs_own(segrun, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        HEAD.replace("  poll:", "  expect: {min_records: 1, max_records: 1000000}\n  poll:")
        + "    expect: {max_records: 2}\n"
        + "  - name: all\n    segment_group: All Profiles\n"
    )
    result = segrun("run", str(spec), "--out", str(tmp_path / "run"))
    assert result.returncode == 1, result.stdout
    vip, everyone = report(tmp_path / "run")["jobs"]
    assert vip["kind"] == "expectation" and "max_records" in vip["error"]
    names = {v["expectation"] for v in vip["expectations"]["verdicts"]}
    assert names == {"min_records", "max_records"}  # min from defaults, max its own
    assert everyone["status"] == "succeeded"


def test_a_time_without_a_zone_is_a_validate_warning_with_both_spellings(segrun, tmp_path):
    spec = spec_with(tmp_path, "")
    spec.write_text(spec.read_text().replace("last_success", "2026-12-01T00:00:00"))
    result = segrun("validate", "--format", "text", str(spec))
    assert result.returncode == 0
    assert "2026-12-01T00:00:00 names no zone, so it is read as UTC" in result.stdout
    assert "2026-12-01T00:00:00Z" in result.stdout and "2026-12-01T00:00:00+01:00" in result.stdout


def held_run(segrun, tmp_path: Path, extra: str = "", *args: str) -> Path:
    spec = spec_with(tmp_path, "    expect: {min_records: 1000000}\n" + extra)
    run_dir = tmp_path / "run"
    result = segrun("run", str(spec), "--out", str(run_dir), *args)
    assert result.returncode == 1, result.stdout + result.stderr
    return run_dir


def test_accept_refuses_what_no_expectation_held(segrun, tmp_path):
    ok = spec_with(tmp_path, "")
    assert segrun("run", str(ok), "--out", str(tmp_path / "ok")).returncode == 0
    refused = segrun("accept", str(tmp_path / "ok"), "vip")
    assert refused.returncode == 2 and "nothing to accept" in refused.stderr
    other = tmp_path / "other"
    other.mkdir()
    failing = spec_with(other, "    on_missing_watermark: fail\n")
    assert segrun("run", str(failing), "--out", str(other / "run")).returncode == 1
    refused = segrun("accept", str(other / "run"), "vip")
    assert refused.returncode == 2 and "only an export held by its expectations" in refused.stderr
    assert not (other / "run" / "exports" / "vip.jsonl").exists()


def test_accept_moves_the_state_the_run_used_and_refuses_another(segrun, tmp_path):
    nightly = tmp_path / "nightly"
    nightly.mkdir()
    run_dir = held_run(segrun, tmp_path, "", "--state", str(nightly / "state.json"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    wrong = segrun("accept", str(run_dir), "vip", "--state", str(elsewhere / "state.json"))
    assert wrong.returncode == 2 and str(nightly / "state.json") in wrong.stderr
    done = segrun("accept", str(run_dir), "vip")
    assert done.returncode == 0, done.stderr
    assert json.loads((nightly / "state.json").read_text())["watermarks"]
    assert not (tmp_path / ".segrun" / "state.json").exists()


@pytest.mark.parametrize("damage", ["export", "report", "report-shape"])
def test_accept_refuses_a_tampered_run_folder_with_exit_2(segrun, tmp_path, damage):
    run_dir = held_run(segrun, tmp_path)
    if damage == "export":
        part = run_dir / "exports" / "vip.jsonl.part"
        part.write_bytes(part.read_bytes().replace(b"VIP", b"VIQ"))
    elif damage == "report":
        (run_dir / "report.json").write_text("garbage")
    else:
        report_data = json.loads((run_dir / "report.json").read_text())
        report_data["jobs"] = None
        (run_dir / "report.json").write_text(json.dumps(report_data))
    result = segrun("accept", str(run_dir), "vip")
    assert_no_traceback(result)
    assert result.returncode == 2, result.stdout + result.stderr
    assert not (run_dir / "exports" / "vip.jsonl").exists()


@pytest.mark.parametrize("expression", ["abs(CustomerName)", "length(ProfileId)", "abs(Emails)"])
def test_a_function_that_refuses_a_records_type_is_a_verdict_never_a_crash(
    segrun, tmp_path, expression
):
    spec = spec_with(tmp_path, f'    expect: {{required_fields: ["{expression}"]}}\n')
    result = segrun("run", str(spec), "--out", str(tmp_path / "run"))
    assert_no_traceback(result)
    assert result.returncode == 1, result.stdout + result.stderr
    job = report(tmp_path / "run")["jobs"][0]
    assert job["kind"] == "expectation" and "null or missing" in job["error"]
    out = result.stdout + result.stderr + (tmp_path / "run" / "report.json").read_text()
    assert "@" not in out.replace("segrun accept", "")  # no e-mail address, no name
    assert "Lovelace" not in out


@pytest.mark.parametrize(
    "ref",
    ["http://127.0.0.1:9/remote.json", "file:///etc/hostname", "#/definitions/nope", "other.json"],
)
def test_a_record_schema_reference_is_never_followed_outside_the_file(segrun, tmp_path, ref):
    (tmp_path / "other.json").write_text('{"type": "object"}')
    spec = spec_with(tmp_path, "    expect: {record_schema: ref.schema.json}\n")
    (tmp_path / "ref.schema.json").write_text(
        json.dumps({"properties": {"ProfileId": {"$ref": ref}}})
    )
    result = segrun("validate", str(spec))
    assert result.returncode == 2, result.stdout
    assert "record_schema" in result.stdout and "cannot be used" in result.stdout
    run = segrun("run", str(spec), "--out", str(tmp_path / "run"))
    assert run.returncode == 2 and not (tmp_path / "run" / "exports").exists()


def test_a_fraction_given_as_max_drop_is_a_warning_that_it_reads_as_a_percentage(segrun, tmp_path):
    spec = spec_with(tmp_path, "    expect: {max_drop: 0.3}\n")
    result = segrun("validate", "--format", "text", str(spec))
    assert result.returncode == 0
    assert '0.3 is read as 0.3%, not 30%: write "30%"' in result.stdout


def test_a_number_of_any_length_in_a_record_is_checked_by_the_schema_never_a_crash(tmp_path):
    """JSON allows an integer of more digits than Python converts (kept as its digits, a
    HugeNumber): the record schema reads it as the integer it is, wherever it stands,
    read whole or projected."""
    from tests.support.fake_server import envelope, serving_pages
    from tests.support.runs import job, run
    from tests.support.specs import write_spec

    huge = b"7" * 5000

    def pages(offset: int, limit: int):
        records = [
            b'{"ProfileId":"P1","n":' + huge + b',"s":"x"}',
            b'{"ProfileId":"P2","n":1,"l":[' + huge + b"]}",
        ]
        return 200, envelope(records, offset, limit, 2, False), {}

    schemas = {
        "projected": {"properties": {"n": {"type": "integer"}, "s": {"type": "string"}}},
        "whole": {"properties": {"n": {"type": "integer", "minimum": 0}}},
        "wrong": {"properties": {"n": {"type": "string"}}},
    }
    jobs = ""
    for name, schema in schemas.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(schema))
        jobs += (
            f"- name: {name}\n  segment_group: VIP Customers\n"
            f"  expect: {{record_schema: {name}.json, severity: warn}}\n"
        )
    with serving_pages(pages, rowcount=2) as (url, _):
        outcome = run(write_spec(tmp_path, url, jobs), tmp_path)
    assert outcome.report.exit_code == 0, [j.error for j in outcome.report.jobs]
    verdicts = {name: job(outcome, name).expectations["verdicts"][0]["detail"] for name in schemas}
    assert verdicts == {
        "projected": "every record matches",
        "whole": "every record matches",
        # where the number itself breaks a rule, the validator cannot print it to say which
        "wrong": "2 records do not match (record 1: does not match; record 2: n fails type)",
    }
