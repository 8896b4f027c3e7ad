"""One attempt as segrun's HTTP client makes it (send, read the body, record), for the
tests of the transcripts and of the redactor inside them."""

from __future__ import annotations

import datetime as dt
import time

import requests

from runner.records.transcript import Transcript
from tests.support.fake_server import RECORDER_TOKEN

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
    **kwargs: object,
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
