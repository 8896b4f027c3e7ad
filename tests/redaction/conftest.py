"""Fixtures for the redactor's tests: the recorder's server and session
(tests/support/recording.py)."""

from tests.support.recording import server, session  # noqa: F401
