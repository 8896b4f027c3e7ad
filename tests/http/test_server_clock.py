"""A machine whose clock runs ahead: the server refuses its "future" issued
timestamps (docs.mypreferences.com/overview/authorization/custom-auth-scheme/errors),
so the client estimates the server's clock from the `Date` headers, re-signs once,
and takes the `last_success` watermark from the server's clock, not its own."""

from __future__ import annotations

import datetime as dt
import json
import re

from runner.apifacts.timestamps import parse_wire, utc_now
from tests.support.runs import job, read_jsonl, run
from tests.support.specs import write_spec

JOBS = """
    - name: delta
      segment_group: All Profiles
      last_datetime: last_success
      page_size: 100
"""
TEN_MINUTES = dt.timedelta(minutes=10)


def fast_clock() -> dt.datetime:
    return utc_now() + TEN_MINUTES


def test_a_clock_ten_minutes_fast_still_exports_everything(sandbox, tmp_path):
    spec = write_spec(tmp_path, sandbox.base_url, JOBS)
    before = utc_now()
    outcome = run(spec, tmp_path, clock=fast_clock)
    after = utc_now()
    delta = job(outcome, "delta")
    assert delta.status == "succeeded", delta.error
    assert read_jsonl(tmp_path / "run" / "exports" / "delta.jsonl") == sandbox.expected_records(
        "All Profiles"
    )

    # the refusal, the clock difference, and the warning are in the report
    refused = next(
        n for n in delta.notes if n.startswith("the server refused the issued timestamp")
    )
    assert "The specified date does not match an expected ISO 8601 format" in refused
    ahead = float(re.search(r"this machine's clock is ([\d.]+)s ahead of the server's", refused)[1])
    assert 597 <= ahead <= 603, refused
    assert any(n.startswith("warning: clock skew: this machine's clock is") for n in delta.notes)
    # one re-signed attempt, noted in both transcripts
    text = (tmp_path / "run" / "transcript.txt").read_text()
    assert text.count("note: re-signed: this machine's clock is") == 1
    har = json.loads((tmp_path / "run" / "transcript.har").read_text())
    statuses = [(e["_call"], e["response"]["status"]) for e in har["log"]["entries"]]
    assert statuses[:2] == [("initiate", 401), ("initiate", 200)]
    assert [e.get("comment", "")[:9] for e in har["log"]["entries"][:2]] == ["", "re-signed"]
    assert all(status == 200 for _, status in statuses[1:])  # signed right from then on

    # the watermark is the server's time at the Initiate, never the fast clock's
    state = json.loads((tmp_path / ".segrun" / "state.json").read_text())
    (mark,) = [parse_wire(v["last_success"]) for v in state["watermarks"].values()]
    assert before - dt.timedelta(seconds=3) <= mark <= after, (before, mark, after)


def test_a_fast_clock_skips_no_record_modified_after_the_watermark(sandbox, tmp_path):
    spec = write_spec(tmp_path, sandbox.base_url, JOBS)
    first = run(spec, tmp_path, out=tmp_path / "first", clock=fast_clock)
    assert job(first, "delta").status == "succeeded"
    sandbox.touch_profiles(["10000042"])  # modified now: after the first run's Initiate
    second = run(spec, tmp_path, out=tmp_path / "second", clock=fast_clock)
    assert job(second, "delta").status == "succeeded"
    ids = [r["ProfileId"] for r in read_jsonl(tmp_path / "second" / "exports" / "delta.jsonl")]
    assert ids == [sandbox.record("10000042")["ProfileId"]]


def test_a_right_clock_gets_no_note(sandbox, tmp_path):
    outcome = run(write_spec(tmp_path, sandbox.base_url, JOBS), tmp_path)
    delta = job(outcome, "delta")
    assert delta.status == "succeeded"
    assert not [n for n in delta.notes if n.startswith(("warning: clock", "re-signed"))]


ONE_DAY = dt.timedelta(days=1)


def test_a_server_date_a_day_ahead_never_moves_the_watermark_past_this_clock(sandbox, tmp_path):
    """A server (or a proxy) whose Date is a day ahead of this machine, which is right:
    the watermark is the earlier clock's, so the next day's changes are not skipped."""

    def behind() -> dt.datetime:  # this machine's clock; the sandbox's Date is a day ahead
        return utc_now() - ONE_DAY

    spec = write_spec(tmp_path, sandbox.base_url, JOBS)
    before = behind()
    outcome = run(spec, tmp_path, clock=behind)
    after = behind()
    delta = job(outcome, "delta")
    assert delta.status == "succeeded", delta.error
    skew = next(n for n in delta.notes if n.startswith("warning: clock skew"))
    assert "either clock, or a proxy that rewrites Date, may be wrong" in skew
    state = json.loads((tmp_path / ".segrun" / "state.json").read_text())
    (mark,) = [parse_wire(v["last_success"]) for v in state["watermarks"].values()]
    assert before - dt.timedelta(seconds=3) <= mark <= after, (before, mark, after)


def test_a_date_from_the_year_9999_is_not_a_watermark():
    from runner.http.server_clock import ServerClock

    now = utc_now()
    clock = ServerClock(lambda: now)
    clock.observe("Fri, 31 Dec 9999 23:59:59 GMT", now, now)
    assert clock.watermark_time(now) == now
    clock = ServerClock(lambda: now)
    clock.observe("Mon, 07 Dec 2026 10:00:00 GMT", now, now)  # a server behind: its time
    assert clock.watermark_time(now) <= now
