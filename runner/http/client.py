"""The one HTTP client: every call of every job goes through `ApiClient.call`.

It signs each attempt afresh, applies timeouts, retries what the API says is
temporary, and hands every attempt (failed ones too) to the transcript. The dry
run mounts `DryRunAdapter` instead of the network: the same code builds the same
prepared request, and the adapter keeps it instead of sending it.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import requests
import urllib3
from requests.adapters import BaseAdapter
from requests_toolbelt.sessions import BaseUrlSession
from requests_toolbelt.utils.user_agent import user_agent

from runner import __version__
from runner.apifacts import api
from runner.apifacts.page import Page
from runner.apifacts.timestamps import utc_now
from runner.errors import FailureKind, JobFailure
from runner.http.abortable import AbortableAdapter, Deadline, deadline_timer
from runner.http.answer import Answer
from runner.http.pacing import RateBudget
from runner.http.server_clock import WARN_SECONDS, ServerClock
from runner.http.watchdog import DeadlineExceeded, network_wait
from runner.records.transcript import Transcript
from runner.system import strict_json

UTC = dt.timezone.utc
#: (connect, read) seconds: the longest silence of one socket operation
DEFAULT_TIMEOUT = (10.0, 120.0)
#: seconds one attempt may take in total, connecting to last body byte
DEFAULT_DEADLINE = 300.0
#: a Retry-After is obeyed up to this many seconds (a bigger one is clamped)
MAX_RETRY_AFTER = 300.0
#: bytes of a Retrieve page allowed per record asked for (--max-page-bytes overrides)
PAGE_BYTES_PER_RECORD = 16 * 1024
#: ...and never less than this, so a small page_size is no trap
MIN_PAGE_BYTES = 16 * 1024 * 1024
#: bytes of any other answer (Initiate, Status, Commit, errors, a token)
MAX_SMALL_BODY = 1024 * 1024
#: idle connections kept for reuse: threads (jobs x pages in flight) share them
DEFAULT_POOL_SIZE = 64
_CHUNK = 1024 * 1024
# The content a transient failure leaves: nothing to parse, try again.
_TRANSIENT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    DeadlineExceeded,
)


#: the kind of a refusal the API does not retry, by its HTTP status
_REFUSALS: dict[int, FailureKind] = {
    400: "rejected",
    401: "auth",
    403: "permission",
    404: "not_found",
}


class CallFailed(JobFailure):
    """A call that fails its job; the message names the call and says why.
    Its kind is the HTTP status's when the API refused (`status`), else `kind`."""

    def __init__(
        self,
        call: str,
        message: str,
        status: int | None = None,
        kind: FailureKind | None = None,
    ) -> None:
        if kind is None:
            if status is None:
                raise ValueError("a failed call needs its HTTP status or a kind")
            kind = _REFUSALS.get(status, "refused")
        super().__init__(kind, message)
        self.call = call
        self.status = status


class Interrupted(JobFailure):
    """A stop was requested (SIGINT/SIGTERM) while waiting."""

    def __init__(self) -> None:
        super().__init__("interrupted", "interrupted: stopped after the last page written")


class TokenUnavailable(CallFailed):
    """No usable OAuth token for this attempt of a call. `transient` (no answer
    in time, a 429 or a 5xx): the call backs off and tries again, as after a
    failure of its own; otherwise (the endpoint refused the credentials or
    answered no usable token) the job fails now. `status` is the token
    endpoint's HTTP status, `wait` what its Retry-After asked for."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool = False,
        status: int | None = None,
        wait: float | None = None,
    ) -> None:
        super().__init__("oauth-token", message, kind="token")
        self.transient = transient
        self.status = status
        self.wait = wait

    def again(self) -> TokenUnavailable:
        """The same failure as a new exception, for each thread that waited on
        the fetch that failed (one exception raised in many threads would share
        one traceback)."""
        return TokenUnavailable(
            str(self), transient=self.transient, status=self.status, wait=self.wait
        )


class OutOfTime(Exception):
    """A call's own time (`ApiClient.call(within=...)`) ran out: the attempt in
    flight was cut, or no time was left for the next. The caller says what that
    means for its job (for Status: the poll timeout); `reason` is why the last
    attempt had no answer."""

    def __init__(self, call: str, reason: str) -> None:
        super().__init__(f"{call}: {reason}")
        self.call = call
        self.reason = reason


class ResponseTooLarge(Exception):
    """An answer bigger than the call's cap: not retried, the next is as big."""


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


@dataclass(frozen=True)
class _Failed:
    """An attempt that failed in a way worth trying again: why, the HTTP status
    (None without an answer), and the wait the server asked for (None: back off)."""

    reason: str
    status: int | None
    wait: float | None


@dataclass
class CallStats:
    """Attempts of one job's calls, for the report."""

    attempts: int = 0
    retries: int = 0
    #: Initiate attempts that may have reached the server without an answer
    ambiguous_initiates: int = 0
    #: what the job's report should say about its calls (clock skew, re-signing)
    notes: list[str] = field(default_factory=list)
    #: answers that asked to slow down (429, 503)
    throttled: int = 0
    #: told of each such answer at once (the pages-in-flight window shrinks)
    on_throttle: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    def merge(self, other: CallStats) -> None:
        """Add the figures of a call made with its own stats (a page fetched
        by a worker thread) to the job's."""
        self.attempts += other.attempts
        self.retries += other.retries
        self.ambiguous_initiates += other.ambiguous_initiates
        self.throttled += other.throttled
        self.notes.extend(n for n in other.notes if n not in self.notes)


_DELAY_SECONDS = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,6})?", re.ASCII)


def retry_after(answer: Answer, now: dt.datetime) -> float | None:
    """Seconds the server asks for, from `Retry-After` (seconds or HTTP date),
    between 0 and MAX_RETRY_AFTER; None when the header says nothing usable
    (then the policy's back-off applies). A server is not trusted to pick how
    long a run stalls: `²`, `-5`, `1e309` or a date in 9999 all get a bounded wait.
    """
    value = (answer.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit() and len(value) > 12:
        return MAX_RETRY_AFTER  # absurdly many seconds: clamp, do not parse
    if _DELAY_SECONDS.fullmatch(value):
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def api_message(answer: Answer) -> str:
    """The API's `{"Message": ...}`, or the start of whatever it said instead.
    Redacted BEFORE it is cut short: a cut through a secret would leave half of
    it for the gate not to recognise."""
    from runner.redaction.sink import current

    scan = current().redactor.head  # scans what is kept, and what may straddle the cut

    try:
        body = answer.json()
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("Message"), str):
        return scan(body["Message"], 500)
    text = scan(bytes(answer.body).decode("utf-8", "replace").strip(), 200)
    return text if text else scan(answer.reason or "no message", 200)


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
        endpoint_source: str | None = None,
        deadline: float = DEFAULT_DEADLINE,
        max_page_bytes: int | None = None,
        on_retry: Callable[[RetryNotice], None] | None = None,
        budget: RateBudget | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.client_id = client_id
        self.endpoints = dict(endpoints)
        self.transcript = transcript
        self.timeout = (timeout[0], min(timeout[1], deadline))
        self.deadline = deadline
        self.max_page_bytes = max_page_bytes
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._clock = clock
        self._observer = observer
        #: where the endpoint map came from, named when a path may be wrong
        self.endpoint_source = endpoint_source
        #: the server's clock, from the Date header of every response
        self.server_clock = ServerClock(clock)
        self.on_retry = on_retry  # the live display's hook, told before each wait
        #: the run's rate budget (runner/http/pacing.py), asked before every send; a run
        #: always gives one (it must wait on the run's clock and stop flag), else none
        self.budget = budget
        self.session = BaseUrlSession(base_url=self.base_url)
        self.session.auth = auth
        self.session.verify = verify
        self.session.trust_env = False  # no proxy or netrc credentials sneak in
        self.session.headers["User-Agent"] = user_agent("segrun", __version__)
        self.session.headers["Accept"] = "application/json"
        if adapter is None:  # threads share the session: pool enough connections for all
            adapter = AbortableAdapter(pool_connections=4, pool_maxsize=max(10, pool_size))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._adapter = adapter
        self._aborted = threading.Event()
        # The OAuth token request: the same transport (so `abort` and the deadline
        # cut it), none of the API session's auth (the signer is what asks), cookies
        # or hooks, and TLS always verified (--insecure names the API's host only).
        self._token_session = requests.Session()
        self._token_session.trust_env = False
        self._token_session.headers["User-Agent"] = self.session.headers["User-Agent"]
        self._token_session.mount("http://", adapter)
        self._token_session.mount("https://", adapter)
        #: token exchanges finished: a request whose signing waited for one re-takes
        #: its place in the rate budget (see `_signed`)
        self._tokens_fetched = 0
        self._tokens_lock = threading.Lock()
        #: `place`: the place in the budget this thread took and has not used yet
        self._holding = threading.local()
        send_through = getattr(auth, "send_through", None)
        if send_through is not None:  # a signer that fetches tokens does it through here
            send_through(self.exchange_token, waiting=self._awaiting_token)

    def close(self) -> None:
        self.session.close()
        self._token_session.close()

    def abort(self) -> None:
        """The run is stopping: end every wait on a server now, in every thread.
        An attempt cut this way raises Interrupted (the page was not in hand)."""
        self._aborted.set()
        if isinstance(self._adapter, AbortableAdapter):
            self._adapter.abort()

    def _deadline_timer(self, seconds: float) -> Deadline | None:
        if not isinstance(self._adapter, AbortableAdapter):
            return None
        return deadline_timer(self._adapter, seconds)

    def server_now(self) -> dt.datetime:
        """The server's time now (estimate minus its uncertainty; the client's
        clock before any Date header was seen)."""
        return self.server_clock.now()

    def watermark_time(self, moment: dt.datetime) -> dt.datetime:
        """What a `last_success` watermark is taken from: never later than this machine's
        clock nor the server's (runner/http/server_clock.py), so neither a fast clock nor a
        proxy's `Date` from the future skips a record."""
        return self.server_clock.watermark_time(moment)

    def server_time(self, moment: dt.datetime) -> dt.datetime:
        """The server's time at a moment of this client's clock: what a
        `last_success` watermark is taken from, so a fast clock skips nothing."""
        return self.server_clock.server_time(moment)

    def url(self, call: str, **params: object) -> str:
        """The absolute URL of a call, path parameters percent-encoded."""
        return self.base_url + self.endpoints[call].render(clientId=self.client_id, **params)

    def prepare(self, call: str, params: Mapping[str, object], query: Mapping | None, body: object):
        endpoint = self.endpoints[call]
        data = None
        headers = {}
        if body is not None:
            data = strict_json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
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
        within: float | None = None,
    ) -> Answer:
        """Send one API call, retrying what is temporary; a 2xx answer or CallFailed.

        A token the call cannot get for an attempt fails that attempt like any
        temporary failure (TokenUnavailable): backed off, tried again. `within`
        (seconds) bounds the whole call, the attempt in flight and the waits
        between attempts included: each attempt's deadline is the request
        deadline or the time left, whichever is shorter, and when no time is
        left the call raises OutOfTime instead of retrying."""
        params = params or {}
        until = None if within is None else time.monotonic() + within
        reason = ""
        kind: FailureKind = "retries_exhausted"
        for attempt in range(1, policy.attempts + 1):
            stats.attempts += 1
            if attempt > 1:
                stats.retries += 1
            try:
                failed = self._attempt(call, job, attempt, stats, params, query, body, until)
            except TokenUnavailable as e:
                if not e.transient:
                    raise
                failed = _Failed(str(e), e.status, e.wait)
                kind = "token"
                if e.status in (429, 503) and e.wait is not None and self.budget:
                    self.budget.pause(e.wait)  # the token endpoint asked every job to wait
            else:
                if isinstance(failed, Answer):
                    return failed
                kind = "retries_exhausted"
            reason = failed.reason
            if until is not None and time.monotonic() >= until:
                raise OutOfTime(call, reason)
            if attempt == policy.attempts:
                break
            delay = failed.wait if failed.wait is not None else policy.delay(attempt, self._rng)
            if until is not None and time.monotonic() + delay >= until:
                raise OutOfTime(call, reason)
            if self.on_retry is not None:
                offset = (query or {}).get("offset")
                self.on_retry(
                    RetryNotice(
                        job,
                        call,  # its reason names the token request when that failed
                        attempt + 1,
                        policy.attempts,
                        failed.status,
                        reason,
                        delay,
                        offset if type(offset) is int else None,
                    )
                )
            self._sleep(delay)
        raise CallFailed(
            call,
            f"{call} failed after {policy.attempts} attempt{'s' * (policy.attempts > 1)}: {reason}",
            kind=kind,
        )

    def _attempt(
        self,
        call: str,
        job: str,
        attempt: int,
        stats: CallStats,
        params: Mapping[str, object],
        query: Mapping[str, object] | None,
        body: object,
        until: float | None,
    ) -> Answer | _Failed:
        """One attempt (signed, sent, and re-signed once if the server blames our
        clock): its 2xx answer, or why it failed when trying again may help;
        CallFailed when it would not (a refusal, an answer over the cap). Its
        deadline is the request deadline, or the time left `until` once its
        place in the rate budget is taken, whichever is shorter."""
        prepared = self._signed(call, params, query, body)
        deadline = self.deadline
        if until is not None:
            deadline = min(deadline, until - time.monotonic())
            if deadline <= 0:  # the rate budget, or a token, took the time left
                return _Failed("no time left to send it", None, None)
        cap = self._cap(call, query)
        answer, error = self._send(prepared, job, call, attempt, cap, deadline=deadline)
        if answer is not None and self._correct_clock(answer, stats):
            stats.attempts += 1  # re-signed once with the server's time
            prepared = self._signed(call, params, query, body)
            note = f"re-signed: {self.server_clock.describe()}"
            answer, error = self._send(
                prepared, job, call, attempt, cap, note=note, deadline=deadline
            )
        if answer is not None:
            self._warn_skew(stats)
        if isinstance(error, ResponseTooLarge):
            raise CallFailed(call, f"{call}: {error}", kind="too_large")
        if error is not None and not isinstance(error, _TRANSIENT_ERRORS):
            raise CallFailed(
                call, f"{call}: the request could not be sent: {error}", kind="unsendable"
            )
        if answer is None:
            assert error is not None  # an attempt has an answer or an error
            if call == "initiate" and not _never_sent(error):
                stats.ambiguous_initiates += 1
            if isinstance(error, DeadlineExceeded) and deadline < self.deadline:
                return _Failed("no complete answer before the call's time ran out", None, None)
            return _Failed(_describe(error), None, None)
        if answer.status == 429 or answer.status >= 500:
            if answer.status in (429, 503):
                stats.throttled += 1
                if stats.on_throttle is not None:
                    stats.on_throttle()
            wait = retry_after(answer, self._clock())
            if answer.status in (429, 503) and wait is not None and self.budget:
                # The limit is the client's: every page and every job waits.
                self.budget.pause(wait)
            return _Failed(f"HTTP {answer.status}: {api_message(answer)}", answer.status, wait)
        if answer.status >= 300:
            raise CallFailed(
                call,
                f"{call} answered HTTP {answer.status}: {api_message(answer)}"
                + self._path_hint(call, answer, params),
                answer.status,
            )
        return answer

    def _signed(
        self,
        call: str,
        params: Mapping[str, object],
        query: Mapping[str, object] | None,
        body: object,
    ) -> requests.PreparedRequest:
        """The request signed afresh, just after its place in the rate budget is
        taken (a wait must not age a signature). A token the signer needs is
        fetched before the place is taken. One fetched while signing (it expired
        during the wait) takes this place, unused so far, and leaves at once; one
        awaited while signing (another thread fetched it) left after this place
        was taken, which is given back. Either way this request then takes a
        new place, so the budget counts requests in the order they leave."""
        ready = getattr(self.session.auth, "ready", None)
        if ready is not None:
            ready()
        place = self.budget.acquire() if self.budget is not None else None
        fetched = self._tokens_fetched  # after the place: fetches that end from now on
        self._holding.place = place  # taken by a token fetched while signing
        try:
            prepared = self.prepare(call, params, query, body)
        except (requests.RequestException, ValueError) as e:  # a URL requests refuses
            raise CallFailed(
                call, f"{call}: the request cannot be built: {e}", kind="unsendable"
            ) from None
        finally:
            unused, self._holding.place = self._holding.place, None
        if self.budget is None:
            return prepared
        if place is not None and unused is None:
            # the place went to the token request, or back while another's was awaited
            self.budget.acquire()
        elif self._tokens_fetched != fetched:  # a fetch ended meanwhile: it left after
            self.budget.give_back(unused)  # this place, and so does this request
            self.budget.acquire()
        return prepared

    def _awaiting_token(self) -> None:
        """This thread waits for another's token fetch: a place it holds unused
        goes back now, or the fetch could wait for that very place."""
        if getattr(self._holding, "place", None) is not None and self.budget is not None:
            self.budget.give_back(self._holding.place)
            self._holding.place = None

    def exchange_token(
        self,
        url: str,
        form: Mapping[str, str],
        *,
        basic: tuple[str, str] | None = None,
        cert: str | tuple[str, str] | None = None,
        learn: Callable[[Answer], None] | None = None,
    ) -> Answer:
        """The OAuth token request (runner/http/signing.py), sent like every other
        request: a place in the rate budget, the deadline and the small-answer
        cap, cut by `abort`, in the transcript. One attempt; whatever the token
        endpoint answered is returned, no answer at all is TokenUnavailable
        (the call that needed the token retries it with its back-off). `learn`
        sees the answer before the transcript does (the signer tells the
        redactor the token it holds)."""
        if self._aborted.is_set():  # another worker's exchange was cut: send none
            raise Interrupted()
        try:
            prepared = self._token_session.prepare_request(
                requests.Request("POST", url, data=dict(form), auth=basic)
            )
        except (requests.RequestException, ValueError) as e:
            raise TokenUnavailable(f"oauth-token: the token endpoint failed: {e}") from None
        if getattr(self._holding, "place", None) is not None:
            self._holding.place = None  # the place its call took while signing: it leaves now
        elif self.budget is not None:
            self.budget.acquire()
        try:
            answer, error = self._send(
                prepared,
                None,
                "oauth-token",
                1,
                session=self._token_session,
                cert=cert,
                learn=learn,
            )
        finally:
            with self._tokens_lock:
                self._tokens_fetched += 1
        if answer is None:
            assert error is not None  # an attempt has an answer or an error
            message = f"oauth-token: the token endpoint failed: {_describe(error)}"
            # no answer in time is temporary, as for any call; a refused send or
            # an answer over the cap is not
            transient = isinstance(error, _TRANSIENT_ERRORS)
            raise TokenUnavailable(message, transient=transient)
        return answer

    def _cap(self, call: str, query: Mapping[str, object] | None) -> int:
        """The most bytes this call's answer may have: a Retrieve page scales
        with the records asked for, anything else is small."""
        if call != "retrieve":
            return MAX_SMALL_BODY
        if self.max_page_bytes is not None:
            return self.max_page_bytes
        try:
            limit = int((query or {}).get("limit", 0))  # type: ignore[call-overload]
        except (TypeError, ValueError):
            limit = 0
        return max(MIN_PAGE_BYTES, limit * PAGE_BYTES_PER_RECORD)

    def _send(
        self,
        prepared: requests.PreparedRequest,
        job: str | None,
        call: str,
        attempt: int,
        cap: int = MAX_SMALL_BODY,
        note: str | None = None,
        *,
        session: requests.Session | None = None,
        cert: str | tuple[str, str] | None = None,
        learn: Callable[[Answer], None] | None = None,
        deadline: float | None = None,
    ) -> tuple[Answer | None, BaseException | None]:
        """One attempt, read whole within `deadline` seconds (the request deadline
        unless told a shorter one) and the cap: its answer, or (None, the error)
        for a failure the caller may retry. The API's own calls (the API session)
        also tell the server's clock and the -v observer; the token endpoint is
        another server."""
        api = session is None
        seconds = self.deadline if deadline is None else max(deadline, 0.001)
        # no socket wait alone may outlast the attempt's deadline either
        timeout = (min(self.timeout[0], seconds), min(self.timeout[1], seconds))
        started = self._clock()
        t0 = time.perf_counter()
        response: requests.Response | None = None
        answer: Answer | None = None
        error: BaseException | None = None
        timer = self._deadline_timer(seconds)
        try:
            with network_wait(seconds):
                response = (session or self.session).send(
                    prepared,
                    timeout=timeout,
                    allow_redirects=False,
                    stream=True,
                    cert=cert,  # the token request's client certificate; API calls have none
                )
                body = read_body(response, cap, time.monotonic() + seconds, seconds)
            answer = Answer(
                call, response.status_code, response.reason or "", response.headers, body
            )
            if self._aborted.is_set():  # the run is stopping: what came may be cut short
                raise Interrupted()
            if timer is not None and timer.expired:  # cut: what came may be cut short
                raise DeadlineExceeded(seconds)
        except NotSent:
            raise
        except (*_TRANSIENT_ERRORS, ResponseTooLarge, requests.RequestException) as e:
            error = e
            if timer is not None and timer.expired:  # its connection was cut by the timer
                error = DeadlineExceeded(seconds)
            _discard(response)
            response, answer = None, None
            if self._aborted.is_set():  # cut on purpose: the run is stopping
                raise Interrupted() from None
        except BaseException:
            _discard(response)
            raise
        finally:
            if timer is not None:
                timer.stop()
            elapsed = time.perf_counter() - t0
            if response is not None and api:
                self.server_clock.observe(response.headers.get("Date"), started, self._clock())
            if answer is not None and learn is not None:
                learn(answer)
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
                    note=note,
                    page=_scan_of(answer) if call == "retrieve" else None,
                )
            if self._observer is not None and api:
                self._observer(job, call, attempt, prepared, answer, error, elapsed)
        return answer, error

    # -- the server's clock, and what a 404 means ---------------------------------------
    def _correct_clock(self, answer: Answer, stats: CallStats) -> bool:
        """A 401 that blames the issued timestamp, from a server whose Date says
        our clock is off: sign with the server's time from now on. True when the
        request should be sent once more, re-signed."""
        if answer.status != 401 or not self.server_clock.known:
            return False
        messages = api.facts()["auth"]["messages"]
        if api_message(answer) not in (messages["date_format"], messages["skew"]):
            return False
        use_clock = getattr(self.session.auth, "use_clock", None)
        if use_clock is None or getattr(self.session.auth, "clock", None) == self.server_now:
            return False  # not PNAUTHINFO3, or already signing with the server's time
        use_clock(self.server_now)
        stats.notes.append(
            f"the server refused the issued timestamp ({api_message(answer)}); "
            f"{self.server_clock.describe()}, so requests are now signed with the server's time"
        )
        return True

    def _warn_skew(self, stats: CallStats) -> None:
        if abs(self.server_clock.offset) > WARN_SECONDS and not any(
            n.startswith("warning: clock") for n in stats.notes
        ):
            stats.notes.append(
                f"warning: clock skew: {self.server_clock.describe()}; signing uses the "
                "server's time and the last_success watermark the earlier of the two clocks; "
                "check this machine's clock (NTP) and the server's Date"
            )

    def _path_hint(self, call: str, answer: Answer, params: Mapping) -> str:
        """An Initiate 404 that names neither the client nor the segment group is
        most likely the path itself: the v4 paths are not published."""
        if call != "initiate" or answer.status != 404:
            return ""
        words = [w.strip("'\"`.,;:()") for w in api_message(answer).split()]
        text = " ".join(w for w in words if "://" not in w and not w.startswith("/")).lower()
        named = [self.client_id, str(params.get("segmentGroupName") or "")]
        if any(name and name.lower() in text for name in named):
            return ""
        return (
            f" (the message names neither client {self.client_id!r} nor the segment group: the "
            f"Initiate path itself may be wrong; endpoint map in use: "
            f"{self.endpoint_source or 'the inferred map (specs/endpoints.yaml)'})"
        )


def _discard(response: requests.Response | None) -> None:
    """Close the connection of an answer not read to its end, so no one reuses it
    mid-body. Only this one: threads share the session, and closing the session
    would cut their requests too. (A request that failed before its answer left
    nothing pooled: urllib3 closes the connection of any failed urlopen.)"""
    if response is not None:
        response.close()  # unconsumed: the raw stream, hence the connection, is closed


def read_body(
    response: requests.Response, cap: int, deadline_at: float, deadline: float
) -> bytearray:
    """Read the body a socket read at a time, so neither a trickle (checked
    against the deadline between reads) nor a flood (checked against the cap as
    it grows) can hold the run: memory stays near `cap`. Also left as requests'
    own `content`, which the transcript reads."""
    length = response.headers.get("Content-Length", "")
    if length.isascii() and length.isdigit() and int(length) > cap:
        raise ResponseTooLarge(f"the answer is {int(length):,} bytes, over the cap of {cap:,}")
    raw = response.raw
    read = raw.read1 if hasattr(raw, "read1") else raw.read
    body = bytearray()
    try:
        while True:
            if time.monotonic() > deadline_at:
                raise DeadlineExceeded(deadline)
            chunk = read(_CHUNK, decode_content=True)
            if not chunk:
                break
            body += chunk
            if len(body) > cap:
                raise ResponseTooLarge(f"the answer is over the cap of {cap:,} bytes")
    except urllib3.exceptions.ReadTimeoutError as e:
        raise requests.exceptions.ReadTimeout(e) from None
    except urllib3.exceptions.DecodeError as e:
        raise requests.exceptions.ContentDecodingError(e) from None
    except urllib3.exceptions.ProtocolError as e:
        raise requests.exceptions.ChunkedEncodingError(e) from None
    except (urllib3.exceptions.HTTPError, OSError) as e:
        raise requests.ConnectionError(e) from None
    # The bytearray itself, not a copy: a 10,000-record page is not held twice.
    response._content = body  # type: ignore[assignment]
    response._content_consumed = True  # type: ignore[attr-defined]  # requests' own flag
    return body


def _scan_of(answer: Answer | None) -> Callable[[], Page] | None:
    """The answer's page, scanned when first asked for (by the transcript or the
    executor, whichever comes first) and then shared."""
    if answer is None:
        return None
    return lambda: answer.page


def _never_sent(error: BaseException) -> bool:
    """True when the request cannot have reached the server (no connection was made)."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _describe(error: BaseException) -> str:
    if isinstance(error, DeadlineExceeded):
        return f"no complete answer within the request deadline of {error.seconds:g}s"
    if isinstance(error, requests.Timeout):
        return "timed out"
    if isinstance(error, requests.exceptions.ChunkedEncodingError):
        return "the response body was cut short"
    if isinstance(error, requests.ConnectionError):
        return "the connection failed or was dropped"
    return type(error).__name__
