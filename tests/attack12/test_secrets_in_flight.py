"""Secrets with pages and jobs in flight: a server echoing the credentials in the
answers of pages in flight (503s retried, a 400 that fails the job, headers and
reason phrases of good pages) leaks them nowhere."""

from __future__ import annotations

import json

import pytest

from tests.support.fake_server import FOUR_CHAR_SECRET, LONG_SECRET
from tests.support.leaks import leaks
from tests.support.processes import run_segrun
from tests.support.specs import spec_text


@pytest.mark.parametrize("secret", [LONG_SECRET, FOUR_CHAR_SECRET], ids=["long", "four"])
def test_echoes_from_pages_and_jobs_in_flight_are_found_nowhere(tmp_path, fake_server, secret):
    fake_server.secrets = [secret]
    jobs = "".join(
        f"- name: j{i}\n  segment_group: Group{i}\n  page_size: 5\n  concurrency: 8\n"
        for i in range(3)
    )
    outcome = run_segrun(
        tmp_path,
        spec_text(fake_server.url("paged-echo"), jobs=jobs),
        secret,
        "-v",
        "--jobs",
        "3",
        "--transcript-bodies",
        "full",
    )
    assert outcome.code == 1, outcome.stderr
    assert len(fake_server.authorizations) > 30
    signatures = [
        a.rpartition("Signature=")[2] for a in fake_server.authorizations if "Signature=" in a
    ]
    found = [
        hit
        for s in [secret, *signatures]
        for hit in leaks(s, [outcome.run_dir, outcome.state_dir], [outcome.stdout, outcome.stderr])
    ]
    assert not found, found
    report = json.loads((outcome.run_dir / "report.json").read_text())
    assert [j["name"] for j in report["jobs"]] == ["j0", "j1", "j2"]
    assert all(
        "offset 41" in (j["error"] or "") or "400" in (j["error"] or "") for j in report["jobs"]
    ), [j["error"] for j in report["jobs"]]
    for i in range(3):
        part = outcome.run_dir / "exports" / f"j{i}.jsonl.part"
        lines = part.read_bytes().splitlines()
        assert lines == [json.dumps({"ProfileId": f"P{n}"}).encode() for n in range(1, 41)]
