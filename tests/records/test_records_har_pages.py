"""HAR pages: the entries of each job grouped under one page (`pageref`), also
when jobs in flight record from several threads at once, and across a resume."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from runner.records.transcript import Transcript
from runner.redaction.redact import Redactor
from tests.support.recording import attempt


def _valid(validator, path: Path) -> dict:
    har = json.loads(path.read_text(encoding="utf-8"))
    errors = sorted(validator.iter_errors(har), key=str)
    assert not errors, errors[0]
    return har


def _grouped(har: dict) -> dict[str, list[int]]:
    pages = {p["id"]: p for p in har["log"]["pages"]}
    assert len(pages) == len(har["log"]["pages"])  # ids are unique
    groups: dict[str, list[int]] = {}
    for entry in har["log"]["entries"]:
        if entry.get("_job") is None:
            assert "pageref" not in entry  # a call of no job (a token) belongs to no page
            continue
        assert entry["pageref"] == entry["_job"] and entry["pageref"] in pages
        groups.setdefault(entry["pageref"], []).append(entry["_attempt"])
        assert pages[entry["pageref"]]["startedDateTime"] <= entry["startedDateTime"]
    return groups


def test_threads_interleave_whole_entries_grouped_by_job(tmp_path, server, har_validator):
    import requests

    per_job = 12
    with Transcript(tmp_path, Redactor(), bodies="full") as t:

        def job(name: str) -> None:
            with requests.Session() as session:
                for n in range(1, per_job + 1):
                    attempt(
                        session, t, "GET", f"{server}/status", job=name, attempt_no=n, call="status"
                    )

        threads = [threading.Thread(target=job, args=(f"job-{i}",)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        with requests.Session() as session:  # a token exchange: no job, no page
            attempt(session, t, "GET", f"{server}/status", job=None, call="oauth-token")
    har = _valid(har_validator, t.har_path)
    groups = _grouped(har)
    assert groups == {f"job-{i}": list(range(1, per_job + 1)) for i in range(4)}
    titles = {p["id"]: p["title"] for p in har["log"]["pages"]}
    assert titles["job-0"] == "job job-0"
    # one entry a line, whole: what the repair on resume relies on
    assert t.har_path.read_bytes().count(b"\n") == 4 * per_job + 1 + 2


def test_pages_survive_a_resume_whole_or_torn(tmp_path, session, server, har_validator):
    with Transcript(tmp_path, Redactor()) as t:
        attempt(session, t, "GET", f"{server}/status", job="first", call="status")
        attempt(session, t, "GET", f"{server}/status", job="second", call="status")
    path = t.har_path
    whole = path.read_bytes()
    before = _valid(har_validator, path)["log"]["pages"]

    # a clean end: the pages are taken from the trailer as they were
    with Transcript(tmp_path, Redactor(), resume=True) as t:
        attempt(session, t, "GET", f"{server}/status", job="second", call="status", attempt_no=2)
        attempt(session, t, "GET", f"{server}/status", job="third", call="status")
    har = _valid(har_validator, path)
    assert har["log"]["pages"][:2] == before
    assert _grouped(har) == {"first": [1], "second": [1, 2], "third": [1]}

    # killed mid-entry: the trailer is gone, the pages are rebuilt from the entries
    path.write_bytes(whole[: whole.rindex(b"\n]") - 30])
    with Transcript(tmp_path, Redactor(), resume=True) as t:
        assert t.entries == 1
        attempt(session, t, "GET", f"{server}/status", job="second", call="status", attempt_no=2)
    har = _valid(har_validator, path)
    assert [p["id"] for p in har["log"]["pages"]] == ["first", "second"]
    assert har["log"]["pages"][0] == before[0]
    assert _grouped(har) == {"first": [1], "second": [2]}
