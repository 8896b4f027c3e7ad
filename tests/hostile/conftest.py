"""Fixtures for the hostile-server tests: the server on 127.0.0.1."""

from __future__ import annotations

import threading

import pytest
from hostile_server import HostileServer


@pytest.fixture
def hostile():
    server = HostileServer([])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
