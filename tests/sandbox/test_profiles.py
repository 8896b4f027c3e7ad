"""The synthetic records: shape, determinism, scale, and the fast length rule."""

from __future__ import annotations

import json
import re
import time

from runner.sandbox import running_sandbox
from runner.sandbox.profiles import Profiles
from runner.sandbox.sandbox import _anchor_ms

ANCHOR = 1_790_000_000_000
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def test_record_shape() -> None:
    p = Profiles(7, 1000, ANCHOR)
    for i in range(0, 1000, 7):
        r = p.record(i, {})
        # the legacy UserProfilePreference model, in its order
        assert list(r) == [
            "ProfileId",
            "IsActive",
            "Edited",
            "RegistrationConfirmed",
            "CustomerType",
            "PreservePreferences",
            "CustomerName",
            "DefaultLocale",
            "Consents",
            "ProfilePreferences",
            "AlternateIds",
            "Addresses",
            "PhoneNumbers",
            "Emails",
        ]
        assert type(r["ProfileId"]) is int
        assert STAMP.match(r["Edited"]["Date"]) and "ModifiedDate" not in r
        assert isinstance(r["IsActive"], bool) and r["CustomerType"]
        assert isinstance(r["RegistrationConfirmed"], bool) and r["PreservePreferences"] is False
        assert set(r["CustomerName"]) == {"FirstName", "LastName"}
        assert r["Addresses"] == []
        assert all(
            set(e) == {"EmailAddress", "EmailAddressType", "IsDefault", "IsActive"}
            for e in r["Emails"]
        )
        assert [e["IsDefault"] for e in r["Emails"]][:1] in ([], [True])
        assert sum(e["IsDefault"] for e in r["Emails"]) <= 1
        assert all(set(n) == {"PhoneNumber", "PhoneType"} for n in r["PhoneNumbers"])
        assert all(set(a) == {"AlternateId", "AlternateIdType"} for a in r["AlternateIds"])
        assert r["Consents"] and r["ProfilePreferences"]


def test_population_covers_what_filters_and_rounding_need() -> None:
    p = Profiles(7, 250, ANCHOR)
    records = [p.record(i, {}) for i in range(250)]
    assert {r["CustomerType"] for r in records} >= {"VIP", "Standard"}
    assert any(a["AlternateIdType"] == "LoyaltyNumber" for r in records for a in r["AlternateIds"])
    assert {r["Edited"]["Date"][-2] for r in records} == set("0123456789")  # every last ms digit
    assert {r["RegistrationConfirmed"] for r in records} == {True, False}
    years = {r["Edited"]["Date"][:4] for r in records}
    assert len(years) >= 2  # spread over about two years


def test_same_seed_same_records_other_seed_other_records() -> None:
    a, b, c = Profiles(1, 50, ANCHOR), Profiles(1, 50, ANCHOR), Profiles(2, 50, ANCHOR)
    assert [a.record_json(i, {}) for i in range(50)] == [b.record_json(i, {}) for i in range(50)]
    assert [a.record_json(i, {}) for i in range(50)] != [c.record_json(i, {}) for i in range(50)]


def test_record_length_equals_the_real_text() -> None:
    p = Profiles(5, 1_000_000, ANCHOR)
    for i in list(range(3000)) + list(range(999_000, 1_000_000)):
        text = p.record_json(i, {})
        assert p.record_length(i) == len(text) == len(text.encode())
        json.loads(text)


def test_identifiers_decode_to_their_profile() -> None:
    p = Profiles(5, 5000, ANCHOR)
    for i in range(0, 5000, 13):
        r = p.record(i, {})
        assert p.index_of("ProfileId", str(r["ProfileId"])) == i
        for e in r["Emails"]:
            assert p.index_of("EmailAddress", e["EmailAddress"]) == i
        for n in r["PhoneNumbers"]:
            assert p.index_of("PhoneNumber", n["PhoneNumber"]) == i
        for a in r["AlternateIds"]:
            assert p.index_of("AlternateId", a["AlternateId"]) == i


def test_a_million_profiles_start_instantly() -> None:
    started = time.monotonic()
    with running_sandbox(profiles=1_000_000) as sb:
        assert time.monotonic() - started < 1.0
        last = sb.record("10999999")
        assert last["ProfileId"] == 10999999


def test_anchor_is_midnight_utc() -> None:
    assert _anchor_ms(lambda: 86_400 * 3 + 5.5) == 86_400_000 * 3


def test_records_are_the_same_text_as_before_the_page_builder() -> None:
    """The page builder (record_texts, one loop a page) writes every byte as the one-call-
    per-record builder did: the digest of 20,000 records with touches was taken from it."""
    import hashlib

    profiles = Profiles(42, 20_000, 1_750_000_000_000)
    touched = {3: 1_700_000_000_123, 77: 0, 19_999: 1_749_999_999_999}
    text = ",".join(profiles.record_texts(range(20_000), touched))
    assert len(text) == 13_734_801
    assert hashlib.sha256(text.encode()).hexdigest() == (
        "d6e9314ba503664e7d014c3c5a0659eaf6009ae9948598c6c365e44a25cd4ebd"
    )
    assert profiles.record_json(77, touched) == profiles.record_texts([77], touched)[0]
