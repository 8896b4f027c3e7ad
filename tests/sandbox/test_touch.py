"""Touching profiles while serving: new Initiates see it, running exports do not."""

from __future__ import annotations

import datetime as dt

import requests

from runner.sandbox import running_sandbox
from tests.support.sandbox_calls import Client

UTC = dt.timezone.utc


def _since_now() -> dict:
    now = dt.datetime.now(UTC) - dt.timedelta(seconds=1)
    return {"LastDateTime": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"}


def test_touch_is_seen_by_new_exports_only() -> None:
    with running_sandbox(profiles=100, seed=3) as sb:
        c = Client(sb)
        body = _since_now()
        before = c.start("All Profiles", body)
        assert c.status(before).json()["RowCount"] == 0
        stamp = sb.touch_profiles(["10000005", "10000042"])
        assert stamp.endswith("Z") and len(stamp) == 24
        assert sb.record("10000005")["Edited"]["Date"] == stamp
        after = c.export("All Profiles", body)
        assert [r["ProfileId"] for r in after] == [10000005, 10000042]
        assert after == sb.expected_records("All Profiles", body)
        # The export initiated before the touch is a snapshot.
        page = c.retrieve(before).json()
        assert page["TotalResults"] == 0


def test_snapshot_keeps_the_old_modified_date() -> None:
    with running_sandbox(profiles=20, seed=3) as sb:
        c = Client(sb)
        token = c.start("All Profiles")
        old = sb.record("10000001")["Edited"]["Date"]
        sb.touch_profiles(["10000001"], when=dt.datetime(2030, 1, 2, 3, 4, 5, 678000, UTC))
        assert sb.record("10000001")["Edited"]["Date"] == "2030-01-02T03:04:05.678Z"
        records = c.retrieve(token, limit=5).json()["UserProfilePreferences"]
        assert records[1]["Edited"]["Date"] == old


def test_admin_touch_endpoint_from_loopback() -> None:
    with running_sandbox(profiles=20) as sb:
        url = sb.base_url.split("/Profiles/")[0] + "/_sandbox/touch"
        r = requests.post(url, json={"ProfileIds": ["10000003", 10000004]}, timeout=5)
        assert r.status_code == 200 and r.json()["Touched"] == 2
        assert sb.record("10000003")["Edited"]["Date"] == r.json()["EditedDate"]
        assert sb.record(10000004)["Edited"]["Date"] == r.json()["EditedDate"]
        assert requests.post(url, json={"ProfileIds": ["99"]}, timeout=5).status_code == 404
        assert requests.post(url, json={"Ids": []}, timeout=5).status_code == 400
        assert requests.post(url, data=b"[", timeout=5).status_code == 400
        counters = requests.get(url.replace("touch", "counters"), timeout=5)
        assert counters.json()["responses.200"] == 1
        assert requests.post(url, json={"ProfileIds": [True]}, timeout=5).status_code == 400


def test_admin_endpoints_refuse_other_clients() -> None:
    with running_sandbox(profiles=5) as sb:
        # The HTTP layer hands the peer address to `handle`; a LAN peer is refused.
        reply = sb.handle("POST", "/_sandbox/touch", "", {}, b'{"ProfileIds": []}', "10.1.2.3")
        assert reply.status == 403
        assert sb.handle("GET", "/_sandbox/counters", "", {}, b"", "::1").status == 200
