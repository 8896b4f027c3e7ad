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
from runner.http.client import CallFailed, ResponseTooLarge
from runner.http.watchdog import DeadlineExceeded
from runner.redaction.redact import Redactor

Clock = Callable[[], dt.datetime]
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
    `auth.token_url`. The scope is `<ClientId>/<UserId>` as documented.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | None,  # None: a client certificate authenticates instead
        scope: str,
        fetch: Callable[..., requests.Response],
        redactor: Redactor,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self._fetch = fetch
        self._redactor = redactor
        self._monotonic = monotonic
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        #: set by the run, so the token exchange is in the transcript like any call
        self.transcript = None

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._monotonic() >= self._expires_at:
                self._refresh()
            assert self._token is not None
            return self._token

    def _refresh(self) -> None:
        started = utc_now()
        t0 = time.perf_counter()
        try:
            data = {"grant_type": "client_credentials", "scope": self.scope}
            if self._client_secret is None:  # mutual TLS: client_id goes in the body
                data["client_id"] = self._client_id
                response = self._fetch(self.token_url, data=data)
            else:
                response = self._fetch(
                    self.token_url, data=data, auth=(self._client_id, self._client_secret)
                )
        except (requests.RequestException, DeadlineExceeded, ResponseTooLarge) as e:
            raise CallFailed(
                "oauth-token", f"oauth-token: the token endpoint failed: {e}", kind="token"
            ) from None
        answer = Answer(
            "oauth-token",
            response.status_code,
            response.reason or "",
            response.headers,
            response.content or b"",
        )
        try:
            body = answer.json()
        except (ValueError, RecursionError):
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if isinstance(token, str) and token:
            # Known to the gate before the exchange is recorded: the server may echo
            # the token elsewhere too (a header, a cookie), in any spelling.
            self._redactor.add(token)
        if self.transcript is not None:
            self.transcript.record(
                response.request,
                response,
                started=started,
                elapsed_s=time.perf_counter() - t0,
                call="oauth-token",
                attempt=1,
            )
        if response.status_code != 200:
            raise CallFailed(
                "oauth-token", f"oauth-token answered HTTP {response.status_code}", kind="token"
            )
        if not isinstance(token, str) or not token:
            raise CallFailed(
                "oauth-token", "oauth-token: the answer holds no access_token", kind="token"
            )
        token = token.strip()  # "tok\n": a token endpoint's trailing newline
        if not _HEADER_SAFE.fullmatch(token):
            raise CallFailed(
                "oauth-token",
                "oauth-token: the access_token cannot be sent in a header "
                "(it is empty or holds spaces or control characters)",
                kind="token",
            )
        lifetime = body.get("expires_in")
        try:  # an int too big for a float (1e400) or NaN: the default lifetime
            lifetime = float(lifetime) if isinstance(lifetime, (int, float)) else 300.0
        except OverflowError:
            lifetime = 300.0
        if not 0 <= lifetime <= 86_400 * 366:
            lifetime = 300.0
        self._token = token
        self._expires_at = self._monotonic() + max(0.0, lifetime - 30)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentials(token_url={self.token_url!r})"


class Unsigned(requests.auth.AuthBase):
    """For the dry run of an OAuth spec: nothing may be fetched, so no token."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = "Bearer <token fetched at run time>"
        return request
