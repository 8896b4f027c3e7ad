"""Initiate: body validation, 403/404, and the match semantics on examples."""

from __future__ import annotations

import pytest

from runner.sandbox import DEMO
from tests.support.sandbox_calls import Client

BAD_BODIES = [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b'"text"', "JSON object"),
    (b'{"Bogus": 1}', "Unknown field 'Bogus'"),
    (b'{"lastDateTime": "2025-01-01T00:00:00.000Z"}', "Unknown field"),
    (b'{"LastDateTime": "2025-01-01"}', "LastDateTime"),
    (b'{"LastDateTime": "2025-01-01T00:00:00Z"}', "LastDateTime"),
    (b'{"LastDateTime": "2025-01-01T00:00:00.000+01:00"}', "LastDateTime"),
    (b'{"LastDateTime": "2025-02-30T00:00:00.000Z"}', "real date"),
    (b'{"LastDateTime": 5}', "LastDateTime"),
    (b'{"MatchCriteria": "Fax", "Values": ["1"]}', "MatchCriteria must be one of"),
    (b'{"MatchCriteria": 3, "Values": ["1"]}', "MatchCriteria must be one of"),
    (b'{"MatchCriteria": "AlternateId", "Values": ["LY-10000001"]}', "MatchType is required"),
    (b'{"MatchType": "VIP"}', "MatchType needs a MatchCriteria"),
    (b'{"MatchCriteria": "ProfileId", "MatchType": 7, "Values": ["1"]}', "MatchType must be"),
    (b'{"MatchCriteria": "ProfileId"}', "Values must list"),
    (b'{"MatchCriteria": "ProfileId", "Values": []}', "Values must list"),
    (b'{"MatchCriteria": "ProfileId", "Values": [10000001]}', "array of strings"),
    (b'{"MatchCriteria": "ProfileId", "Values": "10000001"}', "array of strings"),
    (b'{"Values": ["10000001"]}', "Values needs a MatchCriteria"),
]


@pytest.mark.parametrize("raw, message", BAD_BODIES)
def test_bad_bodies_are_400_naming_the_problem(client: Client, raw: bytes, message: str) -> None:
    r = client.initiate(
        "All Profiles", data=raw, headers={**client.headers(), "Content-Type": "application/json"}
    )
    assert r.status_code == 400, r.text
    assert message in r.json()["Message"]


def test_unknown_match_type_is_404(client: Client) -> None:
    body = {"MatchCriteria": "AlternateId", "MatchType": "Passport", "Values": ["x"]}
    r = client.initiate("All Profiles", body)
    assert r.status_code == 404 and "AlternateIdType" in r.json()["Message"]


def test_all_fields_null_and_empty_body_mean_no_filter(client: Client) -> None:
    expected = client.sandbox.expected_records("All Profiles")
    nulls = {"LastDateTime": None, "MatchCriteria": None, "MatchType": None, "Values": None}
    assert client.export("All Profiles", nulls) == expected
    token = client.initiate("All Profiles", data=b"").json()["AccessToken"]
    client.wait(token)
    assert client.status(token).json()["RowCount"] == len(expected) == 250


def test_unknown_client_and_group_are_404_saying_which(client: Client) -> None:
    r = client.session.post(
        client.url("initiate", clientId="Nobody", segmentGroupName="All Profiles"),
        json={},
        headers=client.headers("Nobody"),
    )
    assert r.status_code == 404 and "Client 'Nobody'" in r.json()["Message"]
    r = client.initiate("No Such Group", {})
    assert r.status_code == 404 and "Segment group 'No Such Group'" in r.json()["Message"]


def test_forbidden_segment_group_is_403(client: Client) -> None:
    r = client.initiate("Finance Audit", {})
    assert r.status_code == 403 and DEMO.user_id in r.json()["Message"]
    analyst = Client(client.sandbox, "analyst", "segrun-sandbox-analyst-secret")
    assert analyst.initiate("Finance Audit", {}).status_code == 200


@pytest.mark.parametrize("spelling", ["ProfileId", "ProfileID", "profileid", "PROFILEID"])
def test_match_criteria_is_case_insensitive(client: Client, spelling: str) -> None:
    body = {"MatchCriteria": spelling, "Values": ["10000003", "10000004", "99"]}
    records = client.export("All Profiles", body)
    assert [r["ProfileId"] for r in records] == [10000003, 10000004]


def test_profile_id_with_customer_type(client: Client) -> None:
    everyone = client.sandbox.expected_records("All Profiles")
    vip = [str(r["ProfileId"]) for r in everyone if r["CustomerType"] == "VIP"][:3]
    other = [str(r["ProfileId"]) for r in everyone if r["CustomerType"] != "VIP"][:3]
    body = {"MatchCriteria": "ProfileId", "MatchType": "vip", "Values": vip + other}
    assert [str(r["ProfileId"]) for r in client.export("All Profiles", body)] == sorted(vip)


def test_email_matching_is_case_insensitive_and_typed(client: Client) -> None:
    everyone = client.sandbox.expected_records("All Profiles")
    both = next(r for r in everyone if len(r["Emails"]) == 2)
    personal, work = (e["EmailAddress"] for e in both["Emails"])
    body = {"MatchCriteria": "EmailAddress", "Values": [f"  {work.upper()} "]}
    assert client.export("All Profiles", body) == [both]
    body = {"MatchCriteria": "EmailAddress", "MatchType": "Personal", "Values": [work]}
    assert client.export("All Profiles", body) == []
    body["Values"] = [personal]
    assert client.export("All Profiles", body) == [both]


def test_phone_numbers_compare_by_digits(client: Client) -> None:
    everyone = client.sandbox.expected_records("All Profiles")
    record = next(r for r in everyone if r["PhoneNumbers"])
    phone = record["PhoneNumbers"][0]
    digits = "".join(c for c in phone["PhoneNumber"] if c.isdigit())
    for spelled in (digits, digits[1:], f"+{digits[0]}-{digits[1:4]}-{digits[4:]}"):
        body = {"MatchCriteria": "PhoneNumber", "Values": [spelled]}
        assert client.export("All Profiles", body) == [record]
    body = {
        "MatchCriteria": "PhoneNumber",
        "MatchType": phone["PhoneType"].lower(),
        "Values": [digits],
    }
    assert client.export("All Profiles", body) == [record]


def test_loyalty_number_match_within_the_segment_group(client: Client) -> None:
    members = client.sandbox.expected_records("Loyalty Members")
    ids = [a["AlternateId"] for r in members[:4] for a in r["AlternateIds"]]
    body = {"MatchCriteria": "AlternateId", "MatchType": "LoyaltyNumber", "Values": ids}
    assert client.export("Loyalty Members", body) == members[:4]
    assert client.export("VIP Customers", body) == [
        r for r in members[:4] if r["CustomerType"] == "VIP" and r["IsActive"]
    ]


def test_last_datetime_filters_by_the_rounded_moment(client: Client) -> None:
    everyone = client.sandbox.expected_records("All Profiles")
    newest = max(everyone, key=lambda r: r["Edited"]["Date"])
    stamp = newest["Edited"]["Date"]  # .xyzZ: LastDateTime filters on Edited.Date
    body = {"LastDateTime": stamp}
    records = client.export("All Profiles", body)
    assert records == client.sandbox.expected_records("All Profiles", body)
    assert all(r["Edited"]["Date"] >= stamp for r in records)
    # The same instant without the zone is read as UTC.
    assert client.export("All Profiles", {"LastDateTime": stamp[:-1]}) == records
