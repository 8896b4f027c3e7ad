"""The one HTTP client: every call of every job goes through `ApiClient.call`.

It signs each attempt afresh, applies timeouts, retries what the API says is
temporary, and hands every attempt (failed ones too) to the transcript. The dry
run mounts `DryRunAdapter` instead of the network: the same code builds the same
prepared request, and the adapter keeps it instead of sending it.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import requests
import urllib3
from requests.adapters import BaseAdapter
from requests_toolbelt.sessions import BaseUrlSession
from requests_toolbelt.utils.user_agent import user_agent

from runner import __version__, api
from runner.records.transcript import Transcript
from runner.timestamps import utc_now

UTC = dt.timezone.utc
#: (connect, read) seconds; a 10,000-record page may take a while to produce
DEFAULT_TIMEOUT = (10.0, 120.0)
#: a Retry-After longer than this fails the call instead of stalling the run
MAX_RETRY_AFTER = 900.0
# The content a transient failure leaves: nothing to parse, try again.
_TRANSIENT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class CallFailed(Exception):
    """A call that fails its job; the message names the call and says why."""

    def __init__(self, call: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.call = call
        self.status = status


class Interrupted(Exception):
    """A stop was requested (SIGINT/SIGTERM) while waiting."""


class NotSent(Exception):
    """Raised by the dry-run transport in place of sending."""

    def __init__(self, request: requests.PreparedRequest) -> None:
        super().__init__("dry run: not sent")
        self.request = request


class DryRunAdapter(BaseAdapter):
    """A transport that opens no connection: it keeps the request and refuses."""

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        raise NotSent(request)

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int
    backoff: float
    max_backoff: float

    def delay(self, retry: int, rng: random.Random) -> float:
        """Exponential back-off with jitter: half fixed, half random, so many
        clients that failed together do not come back together."""
        ceiling = min(self.max_backoff, self.backoff * 2 ** (retry - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass(frozen=True)
class RetryNotice:
    """What a person is told before a wait: which call failed, how, and for how long."""

    job: str
    call: str
    attempt: int  # the attempt about to be made
    attempts: int
    status: int | None  # the HTTP status that caused it, or None for a transport error
    reason: str
    wait: float
    offset: int | None


@dataclass
class CallStats:
    """Attempts of one job's calls, for the report."""

    attempts: int = 0
    retries: int = 0
    #: Initiate attempts that may have reached the server without an answer
    ambiguous_initiates: int = 0


def retry_after(response: requests.Response, now: dt.datetime) -> float | None:
    """Seconds the server asks for, from `Retry-After` (seconds or HTTP date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def api_message(response: requests.Response) -> str:
    """The API's `{"Message": ...}`, or the start of whatever it said instead."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("Message"), str):
        return body["Message"]
    text = response.text.strip()
    return text[:200] if text else (response.reason or "no message")


class ApiClient:
    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        endpoints: Mapping[str, api.Endpoint],
        auth: requests.auth.AuthBase,
        transcript: Transcript | None = None,
        verify: bool = True,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
        adapter: BaseAdapter | None = None,
        observer: Callable[..., None] | None = None,
        on_retry: Callable[[RetryNotice], None] | None = None,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.client_id = client_id
        self.endpoints = dict(endpoints)
        self.transcript = transcript
        self.timeout = timeout
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._clock = clock
        self._observer = observer
        self.on_retry = on_retry  # the live display's hook, told before each wait
        self.session = BaseUrlSession(base_url=self.base_url)
        self.session.auth = auth
        self.session.verify = verify
        self.session.trust_env = False  # no proxy or netrc credentials sneak in
        self.session.headers["User-Agent"] = user_agent("segrun", __version__)
        self.session.headers["Accept"] = "application/json"
        if adapter is not None:
            self.session.mount("http://", adapter)
            self.session.mount("https://", adapter)

    def close(self) -> None:
        self.session.close()

    def url(self, call: str, **params: object) -> str:
        """The absolute URL of a call, path parameters percent-encoded."""
        return self.base_url + self.endpoints[call].render(clientId=self.client_id, **params)

    def prepare(self, call: str, params: Mapping[str, object], query: Mapping | None, body: object):
        endpoint = self.endpoints[call]
        data = None
        headers = {}
        if body is not None:
            data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        request = requests.Request(
            endpoint.method,
            self.url(call, **params),
            params=dict(query) if query else None,
            data=data,
            headers=headers,
        )
        return self.session.prepare_request(request)

    def call(
        self,
        call: str,
        *,
        job: str,
        policy: RetryPolicy,
        stats: CallStats,
        params: Mapping[str, object] | None = None,
        query: Mapping[str, object] | None = None,
        body: object = None,
    ) -> requests.Response:
        """Send one API call, retrying what is temporary; a 2xx response or CallFailed."""
        params = params or {}
        reason = ""
        for attempt in range(1, policy.attempts + 1):
            stats.attempts += 1
            if attempt > 1:
                stats.retries += 1
            prepared = self.prepare(call, params, query, body)  # signed afresh
            response, error = self._send(prepared, job, call, attempt)
            wait = None
            if error is not None:
                reason = _describe(error)
                if call == "initiate" and not _never_sent(error):
                    stats.ambiguous_initiates += 1
            elif response.status_code == 429 or response.status_code >= 500:
                reason = f"HTTP {response.status_code}: {api_message(response)}"
                wait = retry_after(response, self._clock())
            elif response.status_code >= 300:
                raise CallFailed(
                    call,
                    f"{call} answered HTTP {response.status_code}: {api_message(response)}",
                    response.status_code,
                )
            else:
                return response
            if attempt == policy.attempts:
                break
            if wait is not None and wait > MAX_RETRY_AFTER:
                raise CallFailed(call, f"{call}: the server asks to wait {wait:.0f}s ({reason})")
            delay = wait if wait is not None else policy.delay(attempt, self._rng)
            if self.on_retry is not None:
                status = response.status_code if response is not None else None
                offset = (query or {}).get("offset")
                self.on_retry(RetryNotice(job, call, attempt + 1, policy.attempts, status,
                                          reason, delay, offset if type(offset) is int else None))
            self._sleep(delay)
        raise CallFailed(
            call,
            f"{call} failed after {policy.attempts} attempt{'s' * (policy.attempts > 1)}: {reason}",
        )

    def _send(self, prepared, job: str, call: str, attempt: int):
        started = self._clock()
        t0 = time.perf_counter()
        response: requests.Response | None = None
        error: BaseException | None = None
        try:
            response = self.session.send(prepared, timeout=self.timeout, allow_redirects=False)
        except NotSent:
            raise
        except _TRANSIENT_ERRORS as e:
            error = e
        finally:
            elapsed = time.perf_counter() - t0
            if self.transcript is not None:
                self.transcript.record(
                    prepared,
                    response,
                    error=error,
                    started=started,
                    elapsed_s=elapsed,
                    job=job,
                    call=call,
                    attempt=attempt,
                )
            if self._observer is not None:
                self._observer(job, call, attempt, prepared, response, error, elapsed)
        return response, error


def _never_sent(error: BaseException) -> bool:
    """True when the request cannot have reached the server (no connection was made)."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _describe(error: BaseException) -> str:
    if isinstance(error, requests.Timeout):
        return "timed out"
    if isinstance(error, requests.exceptions.ChunkedEncodingError):
        return "the response body was cut short"
    if isinstance(error, requests.ConnectionError):
        return "the connection failed or was dropped"
    return type(error).__name__
