"""The run directory: complete, standard (HAR 1.2, JUnit), the owner's only, and the
transcripts keep a page's envelope, not its records (tests/redaction: free of
secrets)."""

from __future__ import annotations

import json
import stat

from runner.records.report import RunReport
from runner.sandbox import Sandbox
from tests.support import ROOT
from tests.support.fake_server import LONG_SECRET
from tests.support.processes import assert_no_traceback, assert_well_behaved, run_segrun
from tests.support.runs import read_jsonl, run
from tests.support.specs import spec_text, write_spec


def test_quickstart_from_the_readme(segrun, tmp_path):
    """The README's first command: a real run against the embedded sandbox."""
    result = segrun("run", str(ROOT / "examples" / "quickstart.yaml"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_no_traceback(result)
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.endswith("-quickstart")
    rel = run_dir.relative_to(tmp_path)
    for where in (f"{rel}/exports/", f"{rel}/transcript.har", f"{rel}/report.json"):
        assert where in result.stdout
    report = RunReport.load(run_dir / "report.json")
    assert [j.status for j in report.jobs] == ["succeeded", "succeeded"]
    truth = Sandbox()  # the embedded sandbox's defaults: same seed, same profiles
    assert read_jsonl(run_dir / "exports" / "vip-customers.jsonl") == truth.expected_records(
        "VIP Customers"
    )
    assert report.jobs[1].records == len(
        truth.expected_records("Email Subscribers", {"LastDateTime": "2025-06-01T00:00:00.000Z"})
    )


def test_transcript_is_har_1_2_and_junit_is_valid(sandbox, tmp_path, har_validator, junit_schema):
    sandbox.faults.script("retrieve", ["503", "drop"])
    spec = write_spec(
        tmp_path,
        sandbox.base_url,
        """
        - name: ok
          segment_group: VIP Customers
          page_size: 10
        - name: refused
          segment_group: Finance Audit
        - name: skipped
          segment_group: Email Subscribers
    """,
    )
    outcome = run(spec, tmp_path, only=("ok", "refused"))
    run_dir = tmp_path / "run"
    har = json.loads((run_dir / "transcript.har").read_text())
    errors = [e.message for e in har_validator.iter_errors(har)]
    assert not errors, errors[:3]
    entries = har["log"]["entries"]
    assert sum(e["_call"] == "retrieve" for e in entries) == outcome.report.jobs[0].attempts - 3
    assert [e["response"]["status"] for e in entries if e["_call"] == "retrieve"][:3] == [
        503,
        0,
        200,
    ]
    text = (run_dir / "transcript.txt").read_text()
    assert text.count("call=retrieve") == sum(e["_call"] == "retrieve" for e in entries)
    junit_schema.validate(str(run_dir / "junit.xml"))
    junit = (run_dir / "junit.xml").read_text()
    assert 'tests="3"' in junit and 'failures="1"' in junit and 'skipped="1"' in junit


def test_big_pages_are_capped_in_the_transcript(sandbox, tmp_path):
    """With --transcript-bodies full; by default a page keeps no records at all."""
    spec = write_spec(
        tmp_path, sandbox.base_url, "- segment_group: All Profiles\n  page_size: 300\n"
    )
    run(spec, tmp_path, body_cap=1024, transcript_bodies="full")
    har = json.loads((tmp_path / "run" / "transcript.har").read_text())
    (page,) = [e for e in har["log"]["entries"] if e["_call"] == "retrieve"]
    content = page["response"]["content"]
    assert len(content["text"]) <= 1024 < content["size"]
    assert "truncated" in content["comment"]


def test_by_default_a_page_keeps_its_envelope_not_its_records(sandbox, tmp_path):
    spec = write_spec(
        tmp_path, sandbox.base_url, "- segment_group: All Profiles\n  page_size: 300\n"
    )
    run(spec, tmp_path)
    har = json.loads((tmp_path / "run" / "transcript.har").read_text())
    (page,) = [e for e in har["log"]["entries"] if e["_call"] == "retrieve"]
    content = page["response"]["content"]
    kept = json.loads(content["text"])
    assert set(kept) == {
        "Count",
        "HasMore",
        "Limit",
        "Offset",
        "TotalResults",
        "UserProfilePreferences",
    }
    assert kept["UserProfilePreferences"] == f"<{kept['Count']} records: not kept>"
    assert f"records in a {content['size']}-byte body" in content["comment"]
    assert "ProfileId" not in (tmp_path / "run" / "transcript.txt").read_text()


def test_files_are_the_owners_only_and_transcripts_keep_no_records(tmp_path, fake_server):
    outcome = run_segrun(tmp_path, spec_text(fake_server.url("fine")), LONG_SECRET)
    assert outcome.code == 0, outcome.stderr
    assert_well_behaved(outcome, fake_server)
    for folder in (outcome.run_dir, outcome.state_dir):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for path in folder.rglob("*"):
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    export = (outcome.run_dir / "exports" / "people.jsonl").read_text()
    assert "ann@example.com" in export
    for name in ("transcript.har", "transcript.txt"):
        text = (outcome.run_dir / name).read_text()
        assert "ann@example.com" not in text and "ProfileId" not in text
        assert '"TotalResults": 1' in text or '\\"TotalResults\\": 1' in text
        assert "1 records in a" in text


def test_transcript_bodies_full_keeps_the_records_and_share_with_group_opens_them(
    tmp_path, fake_server
):
    outcome = run_segrun(
        tmp_path,
        spec_text(fake_server.url("fine")),
        LONG_SECRET,
        "--transcript-bodies",
        "full",
        "--share-with-group",
    )
    assert outcome.code == 0, outcome.stderr
    assert "ann@example.com" in (outcome.run_dir / "transcript.har").read_text()
    assert stat.S_IMODE(outcome.run_dir.stat().st_mode) == 0o750
    assert stat.S_IMODE((outcome.run_dir / "report.json").stat().st_mode) == 0o640
