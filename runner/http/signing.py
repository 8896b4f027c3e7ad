"""How each request proves who sends it: PNAUTHINFO3 or OAuth 2.0 bearer tokens.

Both are requests auth objects, applied at every attempt, so a retried request
carries a fresh issued timestamp (PNAUTHINFO3 requests expire 15 minutes after
they are issued) or a fresh token.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable

import requests

from runner.apifacts import auth
from runner.apifacts.timestamps import utc_now
from runner.http.answer import Answer
from runner.http.client import TokenUnavailable, retry_after
from runner.redaction.redact import Redactor

Clock = Callable[[], dt.datetime]
#: the client's `exchange_token(url, form, *, basic, cert, learn)`
TokenSend = Callable[..., Answer]
#: seconds before its expiry that a token is fetched again, so none expires in flight
EARLY = 30.0
#: what a bearer token may hold (RFC 6750's b64token, loosened to visible ASCII)
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


class PnAuthInfo3(requests.auth.AuthBase):
    def __init__(
        self,
        scheme: str,
        client_id: str,
        user_id: str,
        secret: str | None,
        clock: Clock = utc_now,
        redactor: Redactor | None = None,
    ):
        self.scheme = scheme
        self.client_id = client_id
        self.user_id = user_id
        self._secret = secret
        #: where issued timestamps come from; the client swaps in the server's
        #: clock when the server refuses ours (runner/http/server_clock.py)
        self.clock = clock
        #: learns every signature made: a server echoing one (valid 15 minutes)
        #: must not get it into a report or onto the terminal
        self._redactor = redactor

    def use_clock(self, clock: Clock) -> None:
        self.clock = clock

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        value = auth.authorization(
            self.scheme, self.client_id, self.user_id, self._secret, self.clock()
        )
        if self._redactor is not None:
            parsed = auth.parse_authorization(value)
            self._redactor.add_signature(parsed.signature if parsed else value)
        request.headers["Authorization"] = value
        return request

    def __repr__(self) -> str:  # never the secret, even in a debugger or a log
        return f"PnAuthInfo3({self.scheme}, user_id={self.user_id!r})"


class OAuth2ClientCredentials(requests.auth.AuthBase):
    """Client-credentials grant; the token is cached until shortly before it expires.

    The token endpoint is not published (API-NOTES), so it is always the spec's
    `auth.token_url`. The scope is `<ClientId>/<UserId>` as documented. The
    token request is sent by the client that signs with this (`send_through`),
    like any of its requests: rate budget, deadline, size cap, transcript.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | None,  # None: a client certificate authenticates instead
        scope: str,
        redactor: Redactor,
        cert: str | tuple[str, str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self._redactor = redactor
        #: requests' `cert=` of the token request (mutual TLS), read by the TLS layer only
        self._cert = cert
        self._monotonic = monotonic
        self._send: TokenSend | None = None
        self._waiting: Callable[[], None] | None = None
        self._token: str | None = None
        self._expires_at = 0.0
        #: guards the token and the fetch in flight; told when a fetch ends
        self._changed = threading.Condition(threading.Lock())
        self._fetching = False
        #: fetches finished, and how the last one failed (None: it did not)
        self._fetches = 0
        self._failure: TokenUnavailable | None = None

    def send_through(self, send: TokenSend, waiting: Callable[[], None] | None = None) -> None:
        """Where token requests go: the client's `exchange_token`; `waiting` is
        told when a thread is about to wait for another's fetch."""
        self._send = send
        self._waiting = waiting

    def ready(self) -> None:
        """A token that is due fetched now: the client asks before it takes a
        request's place in the rate budget, so that place is not held meanwhile."""
        self.token()

    def token(self) -> str:
        """A token good for EARLY seconds more at least, fetched now if need be."""
        return self._good_for(EARLY)

    def _good_for(self, seconds: float) -> str:
        """Single flight: one fetch at a time, and a thread that needs a token
        while one is in flight waits for it and takes its outcome, its token (if
        still good at all) or its failure. So N jobs waiting on one token
        endpoint cost one request and one deadline, not N one after another;
        after a failure each job backs off as after any failed attempt
        (ApiClient.call), and the first one back fetches for those waiting."""
        with self._changed:
            waited = False
            while True:
                ahead = 0.0 if waited else seconds
                if self._token is not None and self._monotonic() + ahead < self._expires_at:
                    return self._token
                if waited and self._failure is not None:
                    raise self._failure.again()
                if not self._fetching:
                    break
                if self._waiting is not None:
                    self._waiting()
                self._changed.wait_for(self._ended(self._fetches))
                waited = True
            self._fetching = True
        failure: TokenUnavailable | None = None
        fetched: tuple[str, float] | None = None
        try:
            fetched = self._refresh()  # outside the lock: the waiters sleep meanwhile
        except TokenUnavailable as e:
            failure = e
            raise
        finally:
            with self._changed:
                if fetched is not None:
                    self._token, self._expires_at = fetched
                self._failure = failure
                self._fetching = False
                self._fetches += 1
                self._changed.notify_all()
        return fetched[0]

    def _ended(self, started: int) -> Callable[[], bool]:
        """For `wait_for`: true once the fetch in flight now has ended."""
        return lambda: self._fetches != started

    def _refresh(self) -> tuple[str, float]:
        """One token request: the token and when it expires (monotonic)."""
        if self._send is None:
            raise RuntimeError("no client to send the OAuth token request through")
        data = {"grant_type": "client_credentials", "scope": self.scope}
        basic = None
        if self._client_secret is None:  # mutual TLS: client_id goes in the body
            data["client_id"] = self._client_id
        else:
            basic = (self._client_id, self._client_secret)
        answer = self._send(self.token_url, data, basic=basic, cert=self._cert, learn=self._learn)
        body = _json_or_none(answer)
        token = body.get("access_token") if isinstance(body, dict) else None
        if answer.status == 429 or answer.status >= 500:  # temporary, as for any call
            raise TokenUnavailable(
                f"oauth-token answered HTTP {answer.status}",
                transient=True,
                status=answer.status,
                wait=retry_after(answer, utc_now()),
            )
        if answer.status != 200:
            raise TokenUnavailable(
                f"oauth-token answered HTTP {answer.status}", status=answer.status
            )
        if not isinstance(body, dict) or not isinstance(token, str) or not token:
            raise TokenUnavailable("oauth-token: the answer holds no access_token")
        token = token.strip()  # "tok\n": a token endpoint's trailing newline
        if not _HEADER_SAFE.fullmatch(token):
            raise TokenUnavailable(
                "oauth-token: the access_token cannot be sent in a header "
                "(it is empty or holds spaces or control characters)"
            )
        lifetime = body.get("expires_in")
        try:  # an int too big for a float (1e400) or NaN: the default lifetime
            lifetime = float(lifetime) if isinstance(lifetime, (int, float)) else 300.0
        except OverflowError:
            lifetime = 300.0
        if not 0 <= lifetime <= 86_400 * 366:
            lifetime = 300.0
        return token, self._monotonic() + lifetime

    def _learn(self, answer: Answer) -> None:
        """The token, known to the gate before the exchange is recorded: the server
        may echo it elsewhere too (a header, a cookie), in any spelling."""
        body = _json_or_none(answer)
        token = body.get("access_token") if isinstance(body, dict) else None
        if isinstance(token, str) and token:
            self._redactor.add(token)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        # `ready` made the token good for EARLY seconds just before the client waited
        # for this request's place in the rate budget: still good now, it is sent.
        request.headers["Authorization"] = f"Bearer {self._good_for(0.0)}"
        return request

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentials(token_url={self.token_url!r})"


def _json_or_none(answer: Answer) -> object:
    try:
        return answer.json()
    except (ValueError, RecursionError):
        return None


class Unsigned(requests.auth.AuthBase):
    """For the dry run of an OAuth spec: nothing may be fetched, so no token."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = "Bearer <token fetched at run time>"
        return request
