"""The recorder the HTTP client calls once per attempt.

It writes `transcript.har` and `transcript.txt` in the run directory as it
goes and keeps nothing in memory, so a thousand-page export costs the same
memory as one page, and a killed run leaves both files readable.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import requests

from runner.apifacts.page import Page
from runner.records.exchange import BODY_MODES, capture
from runner.records.har import HarFile
from runner.records.text import TextFile
from runner.redaction.redact import Redactor
from runner.redaction.sink import Sink

HAR_NAME = "transcript.har"
TEXT_NAME = "transcript.txt"
DEFAULT_BODY_CAP = 64 * 1024


class Transcript:
    """Both transcripts of one run, redacted by a shared `Redactor`.

    Add tokens to the redactor as they are issued; they are redacted from the
    next attempt on (the OAuth response itself is covered by field redaction).
    """

    def __init__(
        self,
        run_dir: Path,
        redactor: Redactor,
        body_cap: int = DEFAULT_BODY_CAP,
        resume: bool = False,
        *,
        fsync: bool = False,
        bodies: str = "envelope",
    ) -> None:
        if body_cap < 0:
            raise ValueError("body_cap must be >= 0")
        if bodies not in BODY_MODES:
            raise ValueError(f"bodies must be one of {BODY_MODES}")
        self.bodies = bodies
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.redactor = redactor
        self.body_cap = body_cap
        # Threads may share one client; a torn interleaving would break the HAR.
        self._lock = threading.Lock()
        sink = Sink(redactor)  # the only way these files are written
        self._har = HarFile(run_dir / HAR_NAME, sink, resume=resume, fsync=fsync)
        try:
            self._text = TextFile(run_dir / TEXT_NAME, sink, resume=resume, fsync=fsync)
        except BaseException:
            self._har.close()
            raise

    @property
    def har_path(self) -> Path:
        return self._har.path

    @property
    def text_path(self) -> Path:
        return self._text.path

    @property
    def entries(self) -> int:
        """Entries in the HAR file, including those kept from a resumed run."""
        return self._har.entries

    def record(
        self,
        request: requests.PreparedRequest,
        response: requests.Response | None,
        *,
        error: BaseException | None = None,
        started: dt.datetime,
        elapsed_s: float,
        job: str | None = None,
        call: str | None = None,
        attempt: int = 1,
        note: str | None = None,
        page: Callable[[], Page] | None = None,
    ) -> None:
        """Append one attempt. `error` set (or no response) means a failed attempt,
        recorded with status 0; `response.content` must already have been read.
        `note` says why the attempt was sent (e.g. re-signed with the server's time);
        `page` is a Retrieve page as the client scanned it, so it is scanned once."""
        exchange = capture(
            self.redactor,
            self.body_cap,
            request,
            response,
            error,
            started,
            elapsed_s,
            job,
            call,
            attempt,
            note=note,
            bodies=self.bodies,
            page=page,
        )
        with self._lock:
            self._har.append(exchange)
            self._text.append(exchange)

    def close(self) -> None:
        with self._lock:
            self._har.close()
            self._text.close()

    def __enter__(self) -> Transcript:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
