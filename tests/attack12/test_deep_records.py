"""Attack: a record nested near Python's recursion limit. The C decoder shares that
limit with the Python frames below it, so how deep a record the page scan accepts
depends on the stack of the thread that scans it: a page in flight is scanned in a
shallow worker thread and accepted, then decoded again on the job's deeper stack
(the CSV sheet from the spool, the part file read to confirm a repeated ProfileId),
where RecursionError escaped: the whole run ended 'segrun: error: input nested too
deeply to process', exit 2, with no job in report.json. Now that job fails, alone."""

from __future__ import annotations

import json
import os
import subprocess

from tests.support.fake_server import envelope, serving_pages
from tests.support.processes import segrun_argv
from tests.support.specs import one_job, write_spec

DEPTHS = range(972, 992, 4)  # around the limit, wherever the stacks are exactly


def _run(tmp_path, depth: int, repeat: bool, extra: str) -> tuple[int, str, dict]:
    deep = b'{"ProfileId":"a","d":' + b"[" * depth + b"]" * depth + b"}"
    records = [deep, b'{"ProfileId":"b"}', b'{"ProfileId":"%s"}' % (b"a" if repeat else b"z")]

    def page(offset: int, limit: int):
        chunk = records[offset - 1 : offset - 1 + limit]
        return 200, envelope(chunk, offset, limit, 3, offset - 1 + limit < 3), {}

    folder = tmp_path / str(depth)
    folder.mkdir()
    with serving_pages(page, 3) as (base_url, _):
        spec = write_spec(folder, base_url, one_job(2, 4, extra))
        env = {k: v for k, v in os.environ.items() if k != "SEGRUN_DEBUG"}
        done = subprocess.run(
            [*segrun_argv(), "run", str(spec), "--out", str(folder / "run"), "--quiet"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    report = json.loads((folder / "run" / "report.json").read_text())
    return done.returncode, done.stderr, report


def test_a_deep_record_accepted_by_a_page_in_flight_never_ends_the_run_exit_2(tmp_path):
    for depth in DEPTHS:
        code, err, report = _run(tmp_path, depth, False, "  output: {format: csv}\n")
        assert code in (0, 1), (depth, code, err)
        assert [j["name"] for j in report["jobs"]] == ["one"], (depth, err)


def test_a_repeat_after_a_deep_record_fails_the_job_not_the_run(tmp_path):
    for depth in DEPTHS:
        code, err, report = _run(tmp_path, depth, True, "")
        assert code == 1, (depth, code, err)
        assert [j["name"] for j in report["jobs"]] == ["one"], (depth, err)
