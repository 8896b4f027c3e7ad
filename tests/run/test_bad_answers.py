"""A server that breaks its contract: the job fails naming the call, nothing
malformed reaches the export, and no answer, however odd, fails more than its job."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.fake_server import LONG_SECRET, envelope, serving_pages
from tests.support.processes import run_segrun, segrun_argv, segrun_environ
from tests.support.runs import job, read_jsonl, run
from tests.support.specs import one_job, spec_text, write_spec

SPEC = """
    - name: victim
      segment_group: All Profiles
      page_size: 100
    - name: bystander
      segment_group: VIP Customers
"""


@pytest.mark.parametrize(
    ("call", "lie", "error"),
    [
        (
            "initiate",
            "400",
            "initiate answered HTTP 400: The request was invalid and cannot be processed.",
        ),
        ("initiate", "notjson", "Initiate: the response is not JSON (text/html)"),
        ("initiate", "badtoken", "Initiate: AccessToken is not an integer: '"),
        ("status", "wrongshape", "Status: expected a JSON object, got list"),
        ("retrieve", "notjson", "Retrieve: the response is not JSON (text/html)"),
        ("retrieve", "wrongshape", "Retrieve: expected a JSON object, got list"),
        ("retrieve", "badcount", "Retrieve: Count says 101 but the page holds 100 records"),
        ("retrieve", "badoffset", "Retrieve: asked for offset 1, got a page at 2"),
    ],
)
def test_contract_breaches_fail_the_job_cleanly(sandbox, tmp_path, call, lie, error):
    sandbox.faults.script(call, [lie])
    outcome = run(write_spec(tmp_path, sandbox.base_url, SPEC), tmp_path)
    victim = job(outcome, "victim")
    assert victim.status == "failed"
    assert victim.error.startswith(error), victim.error
    assert victim.retries == 0  # a contract breach is not retried: retrying cannot mend it
    exports = tmp_path / "run" / "exports"
    assert not (exports / "victim.jsonl").exists()
    part = exports / "victim.jsonl.part"
    if part.exists():  # only whole, well-formed pages were ever written
        kept = read_jsonl(part)
        assert kept == sandbox.expected_records("All Profiles")[: len(kept)]
    assert job(outcome, "bystander").status == "succeeded"
    assert outcome.report.exit_code == 1


def test_a_later_bad_page_keeps_only_the_good_pages(sandbox, tmp_path):
    sandbox.faults.script("retrieve", ["ok", "ok", "badoffset"])
    outcome = run(write_spec(tmp_path, sandbox.base_url, SPEC), tmp_path)
    assert job(outcome, "victim").error == "Retrieve: asked for offset 201, got a page at 202"
    kept = read_jsonl(tmp_path / "run" / "exports" / "victim.jsonl.part")
    assert kept == sandbox.expected_records("All Profiles")[:200]


# -- a record nested near the recursion limit ----------------------------------------------
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
        done = subprocess.run(
            [*segrun_argv(), "run", str(spec), "--out", str(folder / "run"), "--quiet"],
            capture_output=True,
            text=True,
            timeout=60,
            env=segrun_environ(),
        )
    report = json.loads((folder / "run" / "report.json").read_text())
    return done.returncode, done.stderr, report


@pytest.mark.parametrize("depth", DEPTHS)
def test_a_deep_record_accepted_by_a_page_in_flight_never_ends_the_run_exit_2(tmp_path, depth):
    """A record nested near Python's recursion limit: the C decoder shares that limit
    with the Python frames below it, so how deep a record the page scan accepts
    depends on the stack of the thread that scans it. A page in flight is scanned in
    a shallow worker thread and accepted, then decoded again on the job's deeper
    stack (the CSV sheet from the spool, the part file read to confirm a repeated
    ProfileId), where RecursionError once ended the whole run: 'input nested too
    deeply to process', exit 2, no job in report.json. That job fails, alone."""
    code, err, report = _run(tmp_path, depth, False, "  output: {format: csv}\n")
    assert code in (0, 1), (depth, code, err)
    assert [j["name"] for j in report["jobs"]] == ["one"], (depth, err)


@pytest.mark.parametrize("depth", DEPTHS)
def test_a_repeat_after_a_deep_record_fails_the_job_not_the_run(tmp_path, depth):
    code, err, report = _run(tmp_path, depth, True, "")
    assert code == 1, (depth, code, err)
    assert [j["name"] for j in report["jobs"]] == ["one"], (depth, err)


@pytest.mark.parametrize("value", ['["Complete"]', '{"a": 1}'])
def test_a_status_that_is_not_a_string_is_no_internal_error(tmp_path, fake_server, value):
    """A Status whose "Status" is a list or an object once ended the run with exit 70
    (`status not in known` on a value that cannot be hashed)."""
    fake_server.answer_call = "status"
    body = f'{{"AccessToken": 4242, "Status": {value}, "RowCount": 1}}'
    fake_server.answer = (200, body.encode(), "application/json")
    spec = spec_text(fake_server.url("answer"))
    outcome = run_segrun(tmp_path, spec, LONG_SECRET, env={"COLUMNS": "80"}, timeout=90)
    assert outcome.code != 70, outcome.stderr
