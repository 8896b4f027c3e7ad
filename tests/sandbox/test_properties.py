"""Property tests: the served export equals the oracle and an independent
re-statement of the rules; the rounding rule equals the seeds' wording."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from runner.apifacts.timestamps import effective, parse_wire, to_wire
from runner.sandbox import DEMO, Sandbox
from tests.support.sandbox_calls import Client

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


# -- the rounding rule -------------------------------------------------------------------


def seeds_rounding(moment: dt.datetime) -> dt.datetime:
    """The seeds, word for word: 000-002 -> 003, 003-006 -> 007, 007-009 -> 000 of
    the next higher ten; here on the whole count of milliseconds, so every carry
    (second, minute, day, year) is plain integer addition."""
    total = (moment - EPOCH) // dt.timedelta(milliseconds=1)
    last = total % 10
    bumped = total - last + (3 if last <= 2 else 7 if last <= 6 else 10)
    return EPOCH + dt.timedelta(milliseconds=bumped)


millisecond_moments = st.builds(
    lambda d, ms: d.replace(microsecond=ms * 1000, tzinfo=UTC),
    st.datetimes(min_value=dt.datetime(1999, 1, 1), max_value=dt.datetime(2099, 12, 31)),
    st.integers(0, 999),
)


@given(millisecond_moments)
@example(dt.datetime(2025, 12, 31, 23, 59, 59, 999000, UTC))
@example(dt.datetime(2025, 12, 31, 23, 59, 59, 997000, UTC))
@example(dt.datetime(2024, 2, 28, 23, 59, 59, 998000, UTC))
@example(dt.datetime(2025, 6, 30, 23, 59, 59, 990000, UTC))
@example(dt.datetime(2025, 6, 30, 23, 59, 58, 999000, UTC))
@example(dt.datetime(2025, 1, 1, 0, 0, 0, 0, UTC))
def test_rounding_matches_the_seeds(moment: dt.datetime) -> None:
    assert effective(moment) == seeds_rounding(moment)
    assert effective(parse_wire(to_wire(moment))) == seeds_rounding(moment)
    assert effective(parse_wire(to_wire(moment)[:-1])) == seeds_rounding(moment)  # no zone: UTC


def test_rounding_carries_into_the_next_year() -> None:
    assert to_wire(effective(parse_wire("2025-12-31T23:59:59.999Z"))) == "2026-01-01T00:00:00.000Z"
    assert to_wire(effective(parse_wire("2025-12-31T23:59:59.992Z"))) == "2025-12-31T23:59:59.993Z"


# -- match semantics over HTTP ------------------------------------------------------------

GROUPS = ["All Profiles", "VIP Customers", "Email Subscribers", "Loyalty Members"]
TYPES = {
    "ProfileId": ["Standard", "VIP", "Prospect", "Employee"],
    "EmailAddress": ["Personal", "Work"],
    "PhoneNumber": ["Mobile", "Home", "Work"],
    "AlternateId": ["LoyaltyNumber", "CRMId"],
}


def _identifiers(record: dict, criteria: str) -> list[tuple[str, str]]:
    if criteria == "ProfileId":
        return [(str(record["ProfileId"]), record["CustomerType"])]  # an integer, sent as text
    if criteria == "EmailAddress":
        return [(e["EmailAddress"], e["EmailAddressType"]) for e in record["Emails"]]
    if criteria == "PhoneNumber":
        return [(n["PhoneNumber"], n["PhoneType"]) for n in record["PhoneNumbers"]]
    return [(a["AlternateId"], a["AlternateIdType"]) for a in record["AlternateIds"]]


def _respell(criteria: str, value: str, how: int) -> str:
    """Other spellings the sandbox documents as equal."""
    if criteria == "EmailAddress":
        return [value, value.upper(), f" {value.title()} "][how % 3]
    if criteria == "PhoneNumber":
        digits = "".join(c for c in value if c.isdigit())
        return [value, digits, digits[1:]][how % 3]
    if criteria == "ProfileId":  # an integer: leading zeros do not change it
        return [value, "0" + value, f" {value} "][how % 3]
    return value


@st.composite
def bodies(draw: st.DrawFn, everyone: list[dict]) -> dict:
    body: dict = {}
    if draw(st.booleans()):
        anchor = draw(st.sampled_from(everyone))["Edited"]["Date"]
        shift = draw(st.integers(-15, 15))
        moment = parse_wire(anchor) + dt.timedelta(milliseconds=shift)
        text = to_wire(moment)
        body["LastDateTime"] = text if draw(st.booleans()) else text[:-1]
    if draw(st.booleans()):
        criteria = draw(st.sampled_from(sorted(TYPES)))
        body["MatchCriteria"] = draw(
            st.sampled_from([criteria, criteria.upper(), criteria.lower()])
        )
        picks = draw(st.lists(st.sampled_from(everyone), min_size=1, max_size=6))
        values = [
            _respell(criteria, value, draw(st.integers(0, 2)))
            for r in picks
            for value, _ in _identifiers(r, criteria)
        ]
        values += draw(
            st.lists(st.sampled_from(["nobody@example.com", "0", "LY-1", "+1 555"]), max_size=2)
        )
        if not values:
            values = ["no-such-identifier"]
        body["Values"] = values
        if criteria == "AlternateId" or draw(st.booleans()):
            body["MatchType"] = draw(st.sampled_from(TYPES[criteria]))
    return body


def restated(record: dict, group: str, body: dict) -> bool:
    """The rules once more, independently of the sandbox and its oracle."""
    if group == "VIP Customers" and not (record["CustomerType"] == "VIP" and record["IsActive"]):
        return False
    if group == "Email Subscribers" and not (record["IsActive"] and record["Emails"]):
        return False
    if group == "Loyalty Members" and not any(
        a["AlternateIdType"] == "LoyaltyNumber" for a in record["AlternateIds"]
    ):
        return False
    if "LastDateTime" in body:
        bound = seeds_rounding(parse_wire(body["LastDateTime"]))
        if parse_wire(record["Edited"]["Date"]) < bound:
            return False
    if "MatchCriteria" in body:
        criteria = next(c for c in TYPES if c.lower() == body["MatchCriteria"].lower())
        wanted = {_canonical(criteria, v) for v in body["Values"]}
        return any(
            _canonical(criteria, value) in wanted and body.get("MatchType") in (None, kind)
            for value, kind in _identifiers(record, criteria)
        )
    return True


def _canonical(criteria: str, value: str) -> str:
    if criteria == "EmailAddress":
        return value.strip().casefold()
    if criteria == "PhoneNumber":
        digits = "".join(c for c in value if c.isdigit())
        return digits[-10:]
    if criteria == "ProfileId":
        return str(int(value)) if value.strip().isdigit() else value
    return value


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_served_export_is_exactly_the_matching_records(
    sandbox: Sandbox, data: st.DataObject
) -> None:
    client = Client(sandbox)
    everyone = sandbox.expected_records("All Profiles")
    group = data.draw(st.sampled_from(GROUPS))
    body = data.draw(bodies(everyone))
    served = client.export(group, body, limit=data.draw(st.sampled_from([7, 100, 1000])))
    assert served == sandbox.expected_records(group, body, DEMO.user_id)
    assert served == [r for r in everyone if restated(r, group, body)]
