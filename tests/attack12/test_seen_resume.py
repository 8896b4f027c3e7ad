"""Attacks on the 4-byte ProfileId table (runner/run/seen.py) where a resume rebuilds it
from the part file."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.support.fake_server import envelope, serving_pages
from tests.support.processes import segrun_argv
from tests.support.specs import one_job, write_spec

TOTAL = 40
FAIL_AT = 21  # offset whose page is refused (400): the job fails with 20 records durable
#: whether the pages from FAIL_AT on are refused; a resume may be served the rest
refusing = {"pages": True}


def _page(offset: int, limit: int):
    if offset >= FAIL_AT and refusing["pages"]:
        return 400, b'{"Message": "no"}', {}
    last = min(offset + limit - 1, TOTAL)
    records = [b'{"ProfileId":%d}' % n for n in range(offset, last + 1)]
    return 200, envelope(records, offset, limit, TOTAL, last < TOTAL), {}


def _segrun(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SEGRUN_DEBUG"}
    return subprocess.run(
        [*segrun_argv(), *args], capture_output=True, text=True, timeout=120, env=env
    )


def _failed_run(tmp_path, base_url):
    spec = write_spec(tmp_path, base_url, one_job(10))
    run_dir = tmp_path / "run"
    first = _segrun("run", str(spec), "--out", str(run_dir), "--quiet")
    assert first.returncode == 1, first.stderr
    checkpoint = json.loads((run_dir / "checkpoints" / "one.json").read_text())
    assert checkpoint["records"] == 20
    return spec, run_dir, checkpoint


def _rewrite(run_dir, checkpoint, lines: bytes, records: int):
    part = run_dir / "exports" / "one.jsonl.part"
    part.write_bytes(lines)
    checkpoint.update(records=records, part_bytes=len(lines), next_offset=records + 1)
    (run_dir / "checkpoints" / "one.json").write_text(json.dumps(checkpoint))


@pytest.mark.slow  # 2.1M records, ~25 s
def test_resume_of_an_export_past_two_million_records_does_not_crash(tmp_path):
    """SeenIds is sized min(max(RowCount, records), MAX_EXPECTED=2,000,000) on resume and
    gets its `reread` only after the part file was read: a resumed export holding more
    than 2,097,152 records (what a run segrun wrote leaves, shown here by writing the
    same part file and checkpoint directly) hit 'SeenIds outgrew its table and has no
    way to reread its ids' -> exit 70 (fixed: the resume's table rereads the ids added)."""
    with serving_pages(_page, TOTAL) as (base_url, _):
        spec, run_dir, checkpoint = _failed_run(tmp_path, base_url)
        n = 2_100_000
        lines = b"".join(b'{"ProfileId":%d}\n' % i for i in range(1, n + 1))
        _rewrite(run_dir, checkpoint, lines, n)
        again = _segrun("run", str(spec), "--resume", str(run_dir), "--quiet")
    assert again.returncode != 70, again.stderr[-2000:]
    assert "Traceback" not in again.stderr


def test_a_part_file_with_more_lines_than_its_checkpoint_is_refused_not_a_crash(tmp_path):
    """A part file whose first part_bytes hold more records than the checkpoint says
    (edited, or another file put in its place) must be 'does not match its checkpoint;
    re-initiated', never exit 70: the table sized for the checkpoint's count overflows
    first, and its RuntimeError is not caught."""
    with serving_pages(_page, TOTAL) as (base_url, _):
        spec, run_dir, checkpoint = _failed_run(tmp_path, base_url)
        size = checkpoint["part_bytes"]
        part = run_dir / "exports" / "one.jsonl.part"
        assert part.stat().st_size == size
        many = b"".join(b'{"ProfileId":%d}\n' % i for i in range(1, 6000))  # > 2048 ids
        _rewrite(run_dir, checkpoint, many, 20)  # the checkpoint still says 20 records
        checkpoint_path = run_dir / "checkpoints" / "one.json"
        fixed = json.loads(checkpoint_path.read_text())
        fixed["part_bytes"] = len(many)
        checkpoint_path.write_text(json.dumps(fixed))
        again = _segrun("run", str(spec), "--resume", str(run_dir), "--quiet")
    assert again.returncode != 70, again.stderr[-2000:]
    assert "Traceback" not in again.stderr


M = (1 << 61) - 1  # hash(n) == hash(n + M): distinct ids, one fingerprint


def _colliding_page(offset: int, limit: int):
    if offset >= FAIL_AT and refusing["pages"]:
        return 400, b'{"Message": "no"}', {}
    last = min(offset + limit - 1, TOTAL)
    ids = [n if n <= 10 else n - 10 + M for n in range(offset, last + 1)]
    records = [b'{"ProfileId":%d}' % i for i in ids]
    return 200, envelope(records, offset, limit, TOTAL, last < TOTAL), {}


def test_resume_does_not_call_distinct_ids_that_share_a_fingerprint_a_repeat(tmp_path):
    """Records 11-20 have ids 1+M..10+M: distinct from 1..10, but the same hash. The
    run confirms each suspicion against the records and goes on; a resume reading
    the part file back fails the job: 'repeats ProfileId 2305843009213693952'."""
    with serving_pages(_colliding_page, TOTAL) as (base_url, raw):
        spec = write_spec(tmp_path, base_url, one_job(10))
        run_dir = tmp_path / "run"
        first = _segrun("run", str(spec), "--out", str(run_dir), "--quiet")
        assert first.returncode == 1, first.stderr
        report = json.loads((run_dir / "report.json").read_text())
        assert "400" in report["jobs"][0]["error"], report["jobs"][0]["error"]  # not a repeat
        refusing["pages"] = False  # the server now serves the rest
        try:
            again = _segrun("run", str(spec), "--resume", str(run_dir), "--quiet")
        finally:
            refusing["pages"] = True
    report = json.loads((run_dir / "report.json").read_text())
    assert again.returncode == 0, report["jobs"][0]["error"]
