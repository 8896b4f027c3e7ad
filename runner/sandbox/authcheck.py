"""The server's side of PNAUTHINFO3: which user sent a request, or the 401 why not.

Signing itself lives in `runner.apifacts.auth`, shared with the client, so the two cannot
disagree about the signed string.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Mapping

from runner.apifacts import api, auth
from runner.sandbox.replies import ApiError


def www_authenticate() -> str:
    return f'PNAUTHINFO3 realm="{api.facts()["auth"]["realm"]}"'


def unauthorized(reason: str) -> ApiError:
    """`reason` is a key of `auth.messages` in specs/api.yaml."""
    message = api.facts()["auth"]["messages"][reason]
    return ApiError(401, message, {"WWW-Authenticate": www_authenticate()})


def authenticate(
    header: str | None, client_id: str, secrets: Mapping[str, str], now: dt.datetime
) -> str:
    """The authenticated user id; raises the documented 401 otherwise."""
    if not header or not header.strip():
        raise unauthorized("missing")
    scheme = auth.canonical_scheme(header.split(None, 1)[0])
    if scheme is None:
        raise unauthorized("scheme")
    credential = auth.parse_authorization(header)
    if credential is None:
        raise unauthorized("failed")
    issued = auth.parse_issued(credential.issued)
    if issued is None:
        raise unauthorized("date_format")
    age = (now - issued).total_seconds()
    if age < 0:  # the errors page: this message also covers a date set in the future
        raise unauthorized("date_format")
    if age > api.facts()["auth"]["validity_seconds"]:
        raise unauthorized("skew")
    secret = secrets.get(credential.user_id)
    if secret is None:
        raise unauthorized("failed")
    message = auth.string_to_sign(client_id, credential.user_id, credential.issued)
    expected = auth.signature(scheme, secret, message)
    if not hmac.compare_digest(expected.encode(), credential.signature.encode()):
        raise unauthorized("failed")
    return credential.user_id
