"""Fixtures for the sandbox's tests: a running sandbox and a signed HTTP client.

Every test talks real HTTP to 127.0.0.1 through `requests`; nothing is mocked.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runner.sandbox import Sandbox, running_sandbox
from tests.support.sandbox_calls import Client


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
