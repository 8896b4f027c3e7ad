"""One attempt as segrun's HTTP client makes it (send, read the body, record), for the
tests of the transcripts and of the redactor inside them, and their fixtures (each
conftest.py imports those it needs): the fake server's URL, a session, a redactor
knowing SECRET, a transcript of full bodies and `send`, an attempt recorded there."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from runner.records.transcript import Transcript
from runner.redaction.redact import Redactor
from tests.support.fake_server import RECORDER_TOKEN, serving

#: the secret the recorder's redactor knows, and the token the server issues
SECRET = "s3cr3t-HMAC-key/with+odd=chars"
TOKEN = RECORDER_TOKEN


def attempt(
    session: requests.Session,
    transcript: Transcript,
    method: str,
    url: str,
    *,
    job: str | None = "weekly",
    call: str | None = "retrieve",
    attempt_no: int = 1,
    timeout: float = 5,
    **kwargs: Any,
) -> requests.Response | None:
    """What segrun's HTTP client does per attempt: send, read the body, record."""
    request = session.prepare_request(requests.Request(method, url, **kwargs))
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    response = error = None
    try:
        response = session.send(request, timeout=timeout)
        response.content  # noqa: B018 - the client reads the body before recording
    except requests.RequestException as e:
        error = e
    transcript.record(
        request,
        None if error else response,
        error=error,
        started=started,
        elapsed_s=time.perf_counter() - t0,
        job=job,
        call=call,
        attempt=attempt_no,
    )
    return None if error else response


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    """The fake server's "by-path" scenario: /status, /page?n=N, /token, /echo..."""
    with serving() as fake:
        yield fake.url("by-path").rstrip("/")


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@pytest.fixture
def redactor() -> Redactor:
    return Redactor([SECRET])


@pytest.fixture
def transcript(tmp_path: Path, redactor: Redactor) -> Iterator[Transcript]:
    with Transcript(tmp_path, redactor, bodies="full") as t:
        yield t


Send = Callable[..., "requests.Response | None"]


@pytest.fixture
def send(session: requests.Session, transcript: Transcript) -> Send:
    def _send(method: str, url: str, **kwargs: Any) -> requests.Response | None:
        return attempt(session, transcript, method, url, **kwargs)

    return _send
