"""Fixtures for the sandbox's tests: a running sandbox and a signed HTTP client.

Every test talks real HTTP to 127.0.0.1 through `requests`; nothing is mocked.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests

from runner.apifacts import auth
from runner.apifacts.api import endpoints
from runner.sandbox import DEMO, Sandbox, running_sandbox

UTC = dt.timezone.utc


class Client:
    """A thin signed client over requests.Session, paths from the endpoint map."""

    def __init__(self, sandbox: Sandbox, user_id: str = DEMO.user_id, secret: str = DEMO.secret):
        self.sandbox = sandbox
        self.session = requests.Session()
        self.user_id, self.secret = user_id, secret
        self.client_id = DEMO.client_id
        self.scheme = DEMO.scheme

    def headers(self, client_id: str | None = None) -> dict[str, str]:
        header = auth.authorization(
            self.scheme,
            client_id or self.client_id,
            self.user_id,
            self.secret,
            dt.datetime.now(UTC),
        )
        return {"Authorization": header}

    def url(self, call: str, **params: object) -> str:
        params.setdefault("clientId", self.client_id)
        return self.sandbox.base_url + endpoints()[call].render(**params)

    def initiate(self, group: str, body: object = None, **kw) -> requests.Response:
        kw.setdefault("headers", self.headers())
        if body is not None and "data" not in kw:
            kw["json"] = body
        return self.session.post(self.url("initiate", segmentGroupName=group), timeout=10, **kw)

    def status(self, token: object, **kw) -> requests.Response:
        kw.setdefault("headers", self.headers())
        return self.session.get(self.url("status", accessToken=token), timeout=10, **kw)

    def retrieve(self, token: object, **params: object) -> requests.Response:
        return self.session.get(
            self.url("retrieve", accessToken=token),
            params=params,
            headers=self.headers(),
            timeout=10,
        )

    def commit(self, token: object, **params: object) -> requests.Response:
        return self.session.post(
            self.url("commit", accessToken=token),
            params=params,
            headers=self.headers(),
            timeout=10,
        )

    def start(self, group: str, body: object = None) -> int:
        """Initiate and wait for the export to leave Processing; its token."""
        r = self.initiate(group, body)
        assert r.status_code == 200, r.text
        token = r.json()["AccessToken"]
        self.wait(token)
        return token

    def wait(self, token: int, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            body = self.status(token).json()
            if body["Status"] != "Processing" or time.monotonic() > deadline:
                return body
            time.sleep(0.01)

    def export(self, group: str, body: object = None, limit: int = 1000) -> list[dict]:
        token = self.start(group, body)
        records, offset = [], 1
        while True:
            page = self.retrieve(token, limit=limit, offset=offset).json()
            records += page["UserProfilePreferences"]
            offset += page["Count"]
            if not page["HasMore"]:
                return records


def quoted(name: str) -> str:
    return quote(name, safe="")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with running_sandbox(profiles=250, seed=7) as sb:
        yield sb


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[Client]:
    sandbox.faults.clear()
    c = Client(sandbox)
    yield c
    c.session.close()
    sandbox.faults.clear()
