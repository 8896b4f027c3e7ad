"""The run report (round trip, exit codes, atomic write) and its JUnit XML."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import pytest

from runner.records.junit import write_junit
from runner.records.report import JobResult, RunReport

STATUSES = ("succeeded", "failed", "skipped", "interrupted")


def job(name: str, status: str, **kw) -> JobResult:
    defaults = {
        "succeeded": {
            "records": 1000,
            "row_count": 1000,
            "output": f"out/{name}.jsonl",
            "sha256": "ab" * 32,
            "access_token": 4242,
            "attempts": 4,
        },
        "failed": {
            "error": "Status Error after 3 polls: export failed",
            "attempts": 5,
            "retries": 2,
            "access_token": 4343,
        },
        "skipped": {"notes": ["skipped by --only"]},
        "interrupted": {"error": "interrupted during Retrieve page 3", "records": 2000},
    }[status]
    return JobResult(
        name=name, segment_group=f"SG {name}", status=status, duration_s=1.25, **{**defaults, **kw}
    )


def report(*statuses: str, run: str | None = None) -> RunReport:
    jobs = [job(f"job-{i}-{s}", s) for i, s in enumerate(statuses)]
    if run is None:
        run = (
            "interrupted"
            if "interrupted" in statuses
            else "failed"
            if "failed" in statuses
            else "succeeded"
        )
    return RunReport(
        status=run,
        started="2026-11-21T09:00:00Z",
        finished="2026-11-21T09:02:30.500Z",
        spec="specs/weekly-export.yaml",
        jobs=jobs,
    )


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        ((), 0),
        (("succeeded",), 0),
        (("succeeded", "skipped"), 0),
        (("skipped",), 0),
        (("succeeded", "failed"), 1),
        (("failed", "skipped"), 1),
        (("succeeded", "interrupted"), 130),
        (("failed", "interrupted"), 130),
    ],
)
def test_exit_codes(statuses, code):
    assert report(*statuses).exit_code == code


def test_run_status_alone_decides_too():
    assert report("succeeded", run="interrupted").exit_code == 130
    assert report("succeeded", run="failed").exit_code == 1


def test_round_trip(tmp_path):
    original = report(*STATUSES)
    original.jobs[0].notes.append("no stored watermark: full export")
    path = tmp_path / "report.json"
    original.write(path)
    loaded = RunReport.load(path)
    assert loaded == original
    assert json.loads(path.read_text())["format"] == 1
    assert loaded.jobs[0].notes == ["no stored watermark: full export"]


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "report.json"
    report("succeeded").write(path)
    report("failed").write(path)
    assert os.listdir(tmp_path) == ["report.json"]
    assert RunReport.load(path).status == "failed"


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "report.json"
    report("succeeded").write(path)

    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        report("failed").write(path)
    assert RunReport.load(path).status == "succeeded"
    assert os.listdir(tmp_path) == ["report.json"]


def test_load_ignores_unknown_keys_and_rejects_newer_formats(tmp_path):
    data = report("succeeded").to_dict()
    data["jobs"][0]["from_the_future"] = True
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    assert RunReport.load(path).jobs[0].name == "job-0-succeeded"
    data["format"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="newer"):
        RunReport.load(path)


def test_unknown_status_is_refused():
    with pytest.raises(ValueError):
        JobResult(name="x", segment_group="g", status="done")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RunReport(status="ok", started="", finished=None, spec="s")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "statuses",
    [
        (),
        ("succeeded",),
        STATUSES,
        ("failed", "failed", "skipped"),
        ("interrupted",),
        ("skipped", "succeeded", "succeeded"),
    ],
)
def test_junit_validates_and_counts(tmp_path, junit_schema, statuses):
    path = tmp_path / "junit.xml"
    rep = report(*statuses)
    write_junit(path, rep)
    junit_schema.validate(str(path))
    suite = ET.parse(path).getroot()
    assert suite.tag == "testsuite" and suite.get("name") == "segrun"
    assert suite.get("tests") == str(len(statuses))
    assert suite.get("failures") == str(statuses.count("failed"))
    assert suite.get("errors") == str(statuses.count("interrupted"))
    assert suite.get("skipped") == str(statuses.count("skipped"))
    assert suite.get("time") == "150.500"
    assert suite.get("timestamp") == "2026-11-21T09:00:00"
    assert suite.get("hostname")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [j.name for j in rep.jobs]
    for case, status in zip(cases, statuses, strict=True):
        assert case.get("classname") == "segrun.weekly-export"
        assert case.get("time") == "1.250"
        children = {child.tag for child in case} - {"system-out"}
        assert (
            children
            == {
                "failed": {"failure"},
                "skipped": {"skipped"},
                "interrupted": {"error"},
                "succeeded": set(),
            }[status]
        )
    failure = suite.find("testcase/failure")
    if failure is not None:
        assert failure.get("type") == "JobFailed"
        assert failure.get("message") == "Status Error after 3 polls: export failed"
        assert "access_token: 4343" in failure.text


def test_junit_survives_characters_xml_cannot_hold(tmp_path, junit_schema):
    rep = report("failed")
    rep.jobs[0].error = 'server said \x00\x1b[31m<bad> & "quoted"'
    path = tmp_path / "junit.xml"
    write_junit(path, rep)
    junit_schema.validate(str(path))
    assert '<bad> & "quoted"' in ET.parse(path).find("testcase/failure").get("message")


def test_junit_without_a_finish_time_sums_job_durations(tmp_path, junit_schema):
    rep = report("succeeded", "failed")
    rep.finished = None
    path = tmp_path / "junit.xml"
    write_junit(path, rep)
    junit_schema.validate(str(path))
    assert ET.parse(path).getroot().get("time") == "2.500"
