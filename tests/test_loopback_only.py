"""Tests and the commands they run in this process reach 127.0.0.1 and nothing else
(tests/conftest.py's audit hook): an example spec aimed at a real host fails to connect
instead of sending."""

from __future__ import annotations

import socket

import pytest


@pytest.mark.parametrize("host", ["192.0.2.1", "2001:db8::1", "10.0.0.1"])
def test_a_connection_beyond_loopback_is_refused_before_it_leaves(host):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock, pytest.raises(ConnectionRefusedError, match="loopback"):
        sock.connect((host, 443))


def test_loopback_is_reached():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        socket.create_connection(server.getsockname()).close()
