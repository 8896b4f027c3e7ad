"""Every fault, scripted and planned, and the plain rate limit."""

from __future__ import annotations

import time

import pytest
import requests

from runner.sandbox import FaultPlan, FaultSyntaxError, running_sandbox
from tests.support.sandbox_calls import Client


def test_scripted_answers_in_order_then_normal(client: Client) -> None:
    token = client.start("All Profiles")
    client.sandbox.faults.script("retrieve", ["503", "429", "ok", "503"])
    before = client.sandbox.counters.faults("retrieve")
    r = client.retrieve(token, limit=1, keepAlive="true")
    assert r.status_code == 503 and "temporary condition" in r.json()["Message"]
    r = client.retrieve(token, limit=1, keepAlive="true")
    assert r.status_code == 429 and r.json()["Message"] == "Too Many Requests"
    assert r.headers["Retry-After"] == "1"
    assert client.retrieve(token, limit=1, keepAlive="true").status_code == 200
    assert client.retrieve(token, limit=1, keepAlive="true").status_code == 503
    assert client.retrieve(token, limit=1, keepAlive="true").status_code == 200
    assert client.sandbox.counters.faults("retrieve") == before + 3
    assert client.sandbox.counters.faults("retrieve", "503") >= 2


def test_scripted_faults_come_before_authentication(client: Client) -> None:
    client.sandbox.faults.script("status", ["503"])
    assert client.status(1, headers={}).status_code == 503


def test_drop_closes_without_an_answer(client: Client) -> None:
    client.sandbox.faults.script("status", ["drop"])
    with pytest.raises(requests.ConnectionError):
        client.status(1)
    assert client.status(1).status_code == 404  # the session reconnects


def test_truncate_sends_less_than_content_length(client: Client) -> None:
    token = client.start("All Profiles")
    client.sandbox.faults.script("retrieve", ["truncate"])
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        client.retrieve(token, limit=50, keepAlive="true")
    assert client.retrieve(token, limit=50, keepAlive="true").json()["Count"] == 50


def test_slow_answers_late_but_correctly() -> None:
    with running_sandbox(profiles=10, faults="slow_seconds=0.3") as sb:
        c = Client(sb)
        sb.faults.script("initiate", ["slow"])
        started = time.monotonic()
        r = c.initiate("All Profiles", {})
        assert r.status_code == 200 and time.monotonic() - started >= 0.3


def test_429_without_retry_after_when_configured() -> None:
    with running_sandbox(profiles=10, faults="retry_after=none") as sb:
        sb.faults.script("status", ["429"])
        r = Client(sb).status(1)
        assert r.status_code == 429 and "Retry-After" not in r.headers


def test_export_that_expires_after_n_retrieves(client: Client) -> None:
    client.sandbox.faults.expire_next_export(after_retrieves=2)
    token = client.start("All Profiles")
    assert client.retrieve(token, limit=10).status_code == 200
    assert client.retrieve(token, limit=10, offset=11).status_code == 200
    assert client.status(token).json()["Status"] == "Expired"
    r = client.retrieve(token, limit=10, offset=21)
    assert r.status_code == 404 and "Expired" in r.json()["Message"]


def test_export_that_ends_in_error(client: Client) -> None:
    client.sandbox.faults.error_next_export()
    token = client.start("All Profiles")
    assert client.status(token).json() == {
        "AccessToken": token,
        "Status": "Error",
        "RowCount": None,
        "ByteCount": None,
    }
    r = client.retrieve(token)
    assert r.status_code == 404 and "Error" in r.json()["Message"]
    assert client.sandbox.counters.faults("export", "error") >= 1


def _answers(plan: str, n: int = 60) -> list[object]:
    with running_sandbox(profiles=5, faults=plan) as sb:
        c = Client(sb)
        out: list[object] = []
        for _ in range(n):
            try:
                out.append(c.status(1).status_code)
            except requests.RequestException as e:
                out.append(type(e).__name__)
        return out


def test_a_seeded_plan_is_deterministic_and_restricted_to_its_calls() -> None:
    plan = "status:503=0.3,status:429=0.2,status:drop=0.1,retrieve:503=1,seed=11"
    first, second = _answers(plan), _answers(plan)
    assert first == second
    assert {503, 429, 404, "ConnectionError"} <= set(first)
    assert _answers(plan.replace("seed=11", "seed=12")) != first
    with running_sandbox(profiles=5, faults="retrieve:503=1") as sb:
        c = Client(sb)
        assert c.status(1).status_code == 404  # status untouched
        assert c.retrieve(1).status_code == 503


def test_planned_export_faults() -> None:
    with running_sandbox(profiles=5, faults="error=1") as sb:
        c = Client(sb)
        assert c.wait(c.initiate("All Profiles", {}).json()["AccessToken"])["Status"] == "Error"
    with running_sandbox(profiles=5, faults="expire=1,expire_after=0") as sb:
        c = Client(sb)
        assert c.wait(c.initiate("All Profiles", {}).json()["AccessToken"])["Status"] == "Expired"


def test_rate_limit_answers_429_with_retry_after() -> None:
    with running_sandbox(profiles=5, rate_limit=2) as sb:
        c = Client(sb)
        codes = [c.status(1) for _ in range(5)]
        limited = [r for r in codes if r.status_code == 429]
        assert limited and all(int(r.headers["Retry-After"]) >= 1 for r in limited)
        assert sb.counters.rate_limited("status") == len(limited)


@pytest.mark.parametrize(
    "text",
    [
        "503",
        "503=1.5",
        "503=-1",
        "boom=0.1",
        "fax:503=0.1",
        "seed=x",
        "retry_after=-1",
        "503=0.6,429=0.6",
        "error:503=0.1",
        "status:expire=0.1",
        "slow_seconds=abc",
        "slow_seconds=inf",
        "slow_seconds=1e300",
        "503=nan",
        "seed=\u00b2",
        "expire_after=\u0661",
        "seed=1" + "0" * 5000,
        "retry_after=99999999999999999999",
    ],
)
def test_bad_plans_are_rejected_with_one_line(text: str) -> None:
    with pytest.raises(FaultSyntaxError) as e:
        FaultPlan.parse(text)
    assert "\n" not in str(e.value)


def test_scripts_reject_unknown_answers(client: Client) -> None:
    with pytest.raises(ValueError):
        client.sandbox.faults.script("retrieve", ["418"])
    with pytest.raises(ValueError):
        client.sandbox.faults.script("download", ["503"])
