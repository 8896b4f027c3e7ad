"""A server that breaks its contract: the job fails naming the call, and nothing
malformed reaches the export."""

from __future__ import annotations

import pytest

from tests.support.runs import job, read_jsonl, run
from tests.support.specs import write_spec

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
