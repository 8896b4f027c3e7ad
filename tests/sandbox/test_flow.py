"""The four calls and every Status, over real HTTP."""

from __future__ import annotations

import time

import pytest

from runner.sandbox import running_sandbox
from tests.support.sandbox_calls import Client


def test_full_export_matches_the_oracle_in_stable_order(client: Client) -> None:
    records = client.export("Email Subscribers", {}, limit=37)
    assert records == client.sandbox.expected_records("Email Subscribers", {})
    ids = [int(r["ProfileId"]) for r in records]
    assert ids == sorted(ids)
    assert all(r["IsActive"] and r["Emails"] for r in records)


def test_status_complete_then_retrieved_without_keep_alive(client: Client) -> None:
    token = client.start("VIP Customers")
    status = client.status(token).json()
    assert status["Status"] == "Complete"
    expected = client.sandbox.expected_records("VIP Customers")
    assert status["RowCount"] == len(expected)
    # ByteCount: the records' JSON text as served, summed.
    page = client.retrieve(token, limit=10000)
    assert page.status_code == 200
    served = page.json()
    assert served["TotalResults"] == len(expected) == served["Count"]
    assert served["HasMore"] is False and served["Limit"] == 10000 and served["Offset"] == 1
    text = page.text
    start = text.index("[", text.index("UserProfilePreferences")) + 1
    assert status["ByteCount"] == len(text[start:-2]) - (len(expected) - 1)
    assert client.status(token).json()["Status"] == "Retrieved"
    again = client.retrieve(token)
    assert again.status_code == 404 and "Retrieved" in again.json()["Message"]


def test_defaults_limit_1000_offset_1() -> None:
    with running_sandbox(profiles=1500, seed=1) as sb:
        c = Client(sb)
        token = c.start("All Profiles")
        body = c.retrieve(token).json()
        assert (body["Limit"], body["Offset"], body["Count"]) == (1000, 1, 1000)
        assert body["HasMore"] is True and body["TotalResults"] == 1500


def test_processing_then_complete_with_counts_null_until_complete() -> None:
    with running_sandbox(profiles=50, processing_seconds=0.4) as sb:
        c = Client(sb)
        token = c.initiate("All Profiles", {}).json()["AccessToken"]
        body = c.status(token).json()
        assert body == {
            "AccessToken": token,
            "Status": "Processing",
            "RowCount": None,
            "ByteCount": None,
        }
        early = c.retrieve(token)
        assert early.status_code == 503 and "Processing" in early.json()["Message"]
        early_commit = c.commit(token)
        assert early_commit.status_code == 503
        done = c.wait(token)
        assert done["Status"] == "Complete" and done["RowCount"] == 50


def test_expired_after_token_lifetime() -> None:
    with running_sandbox(profiles=20, token_lifetime_seconds=0.3) as sb:
        c = Client(sb)
        token = c.start("All Profiles")
        time.sleep(0.35)
        body = c.status(token).json()
        assert body["Status"] == "Expired" and body["RowCount"] is None
        r = c.retrieve(token)
        assert r.status_code == 404 and "Expired" in r.json()["Message"]


def test_failed_for_listed_user(client: Client) -> None:
    r = client.initiate("Partner Share", {})
    assert r.status_code == 200
    token = r.json()["AccessToken"]
    assert client.wait(token) == {
        "AccessToken": token,
        "Status": "Failed",
        "RowCount": None,
        "ByteCount": None,
    }
    assert client.retrieve(token).status_code == 403
    analyst = Client(client.sandbox, "analyst", "segrun-sandbox-analyst-secret")
    assert analyst.status(token).json()["Status"] == "Failed"  # the token is the client's
    assert analyst.export("Partner Share") == client.sandbox.expected_records(
        "Partner Share", {}, user_id="analyst"
    )


def test_keep_alive_then_commit(client: Client) -> None:
    token = client.start("Loyalty Members")
    total = client.status(token).json()["RowCount"]
    first = client.retrieve(token, limit=total, keepAlive="true")
    assert first.json()["Count"] == total
    assert client.status(token).json()["Status"] == "Complete"  # kept alive
    again = client.retrieve(token, limit=total, keepAlive="true")  # a re-read works
    assert again.json() == first.json()
    r = client.commit(token, keepFiles="true")
    assert r.status_code == 200 and r.content == b""
    assert client.status(token).json()["Status"] == "Retrieved"
    assert client.retrieve(token).status_code == 404
    assert client.commit(token).status_code == 404


def test_commit_without_keep_alive_is_400(client: Client) -> None:
    token = client.start("VIP Customers")
    r = client.commit(token)
    assert r.status_code == 400 and "keepAlive=true" in r.json()["Message"]
    client.retrieve(token, limit=1)  # keepAlive false, not everything read
    assert client.status(token).json()["Status"] == "Complete"


@pytest.mark.parametrize(
    "params, word",
    [
        ({"limit": 0}, "limit"),
        ({"limit": 10001}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": 0}, "offset"),
        ({"offset": -3}, "offset"),
        ({"offset": "1.5"}, "offset"),
        ({"keepAlive": "maybe"}, "keepAlive"),
    ],
)
def test_bad_retrieve_parameters_are_400(client: Client, params: dict, word: str) -> None:
    token = client.start("All Profiles")
    r = client.retrieve(token, **params)
    assert r.status_code == 400 and word in r.json()["Message"]


def test_offset_past_the_end_is_an_empty_last_page(client: Client) -> None:
    token = client.start("VIP Customers")
    total = client.status(token).json()["RowCount"]
    body = client.retrieve(token, offset=total + 5, keepAlive="true").json()
    assert body["Count"] == 0 and body["HasMore"] is False and body["UserProfilePreferences"] == []


def test_unknown_tokens_and_paths_are_404(client: Client) -> None:
    for r in (
        client.status(123),
        client.retrieve(123),
        client.commit(123),
        client.status("not-a-token"),
    ):
        assert r.status_code == 404 and "123" in r.json()["Message"] or "not-a-token" in r.text
    r = client.session.get(client.sandbox.base_url + "Nope", headers=client.headers())
    assert r.status_code == 404 and "Message" in r.json()
    r = client.session.delete(client.url("status", accessToken=1), headers=client.headers())
    assert r.status_code == 405 and r.headers["Allow"] == "GET"


def test_a_token_belongs_to_its_client(client: Client) -> None:
    token = client.start("All Profiles")
    r = client.session.get(
        client.url("status", clientId="Other", accessToken=token),
        headers=client.headers("Other"),
    )
    assert r.status_code == 404 and "Other" in r.json()["Message"]


def test_concurrent_exports_and_keep_alive_connections(client: Client) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def run(group: str) -> list[dict]:
        return Client(client.sandbox).export(group, {}, limit=50)

    groups = ["All Profiles", "VIP Customers", "Email Subscribers", "Loyalty Members"] * 2
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, groups))
    for group, records in zip(groups, results, strict=True):
        assert records == client.sandbox.expected_records(group)
