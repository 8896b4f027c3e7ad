"""Retry-After, whatever a server writes in it, is a bounded wait: odd values are
survived, ages are clamped, and a stop signal ends the wait."""

from __future__ import annotations

import datetime as dt
import signal

import pytest

from runner.http.answer import Answer
from runner.http.client import MAX_RETRY_AFTER, retry_after
from tests.support.fake_server import LONG_SECRET
from tests.support.processes import assert_well_behaved, run_segrun
from tests.support.specs import spec_text

ODD_RETRY_AFTER = [
    "\u00b2",
    "-5",
    "garbage",
    "1e309",
    "NaN",
    "inf",
    "0x10",
    "",
    " ",
    "\u0661",
    "Wed, 21 Oct 2015 07:28:00 GMT",
    "Sun, 31 Feb 2026 25:61:61 GMT",
    "Mon, 01 Jan 0001 00:00:00 GMT",
]


def test_odd_retry_after_values_are_survived(tmp_path, fake_server):
    fake_server.retry_after = list(ODD_RETRY_AFTER)
    jobs = (
        "- name: people\n  segment_group: VIP Customers\n"
        "  retry: {attempts: 20, backoff: 0s, max_backoff: 0s}\n"
    )
    outcome = run_segrun(
        tmp_path, spec_text(fake_server.url("retry-after"), jobs=jobs), LONG_SECRET
    )
    assert outcome.code == 0, outcome.stderr + outcome.stdout
    assert outcome.report()["jobs"][0]["retries"] == len(ODD_RETRY_AFTER)
    assert outcome.seconds < 60
    assert_well_behaved(outcome, fake_server)


def test_a_retry_after_of_ages_is_clamped_and_a_signal_ends_the_wait(tmp_path, fake_server):
    fake_server.retry_after = ["9" * 40]
    outcome = run_segrun(
        tmp_path,
        spec_text(fake_server.url("retry-after")),
        LONG_SECRET,
        signal_after=(3.0, signal.SIGTERM),
    )
    assert outcome.code == 130, outcome.stderr
    assert outcome.seconds < 15
    assert_well_behaved(outcome, fake_server)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("\u00b2", None),
        ("-5", None),
        ("garbage", None),
        ("12", 12.0),
        ("1.5", 1.5),
        ("9" * 5000, MAX_RETRY_AFTER),
        ("86400", MAX_RETRY_AFTER),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Mon, 01 Jan 0001 00:00:00 GMT", 0.0),
    ],
)
def test_retry_after_parses_to_a_bounded_wait(value, expected):
    answer = Answer("retrieve", 429, "Too Many Requests", {"Retry-After": value}, b"")
    assert retry_after(answer, dt.datetime(2026, 11, 29, tzinfo=dt.timezone.utc)) == expected
