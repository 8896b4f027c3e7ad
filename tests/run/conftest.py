"""Fixtures for the executor's tests: a sandbox on 127.0.0.1."""

from __future__ import annotations

import pytest

from runner.sandbox import running_sandbox


@pytest.fixture
def sandbox():
    with running_sandbox(profiles=300, seed=11) as sb:
        yield sb
