"""PNAUTHINFO3 request signing, shared by the client and the sandbox.

Form (API-NOTES): `Authorization: <scheme> Credential=<UserId>/<issued> Signature=<base64>`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass

from runner.apifacts.api import auth_schemes

UTC = dt.timezone.utc


def string_to_sign(client_id: str, user_id: str, issued: str) -> str:
    """THE ONE PLACE TO CHANGE if PossibleNOW signs something else.

    Nothing official states the signed string; public client code signs
    `<ClientId>:<UserId>:<Timestamp>` (API-NOTES, "Unknown: the signed string").
    """
    return f"{client_id}:{user_id}:{issued}"


def canonical_scheme(name: str) -> str | None:
    """Scheme names are case-insensitive; the canonical spelling, or None."""
    for known in auth_schemes():
        if known.lower() == name.lower():
            return known
    return None


def signature(scheme: str, secret: str | None, message: str) -> str:
    info = auth_schemes()[scheme]
    if info["keyed"]:
        digest = hmac.new((secret or "").encode(), message.encode(), info["hash"]).digest()
    else:
        digest = hashlib.new(info["hash"], message.encode()).digest()
    return base64.b64encode(digest).decode("ascii")


def format_issued(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def authorization(
    scheme: str, client_id: str, user_id: str, secret: str | None, issued: dt.datetime
) -> str:
    stamp = format_issued(issued)
    sig = signature(scheme, secret, string_to_sign(client_id, user_id, stamp))
    return f"{scheme} Credential={user_id}/{stamp} Signature={sig}"


@dataclass(frozen=True)
class Credential:
    scheme: str  # as sent; compare through canonical_scheme()
    user_id: str
    issued: str
    signature: str


_HEADER = re.compile(r"^(?P<scheme>\S+)\s+Credential=(?P<cred>\S+)\s+Signature=(?P<sig>\S+)\s*$")


def parse_authorization(value: str) -> Credential | None:
    """Split a header into its parts; None when it is not of the documented form.

    The user id may itself contain `/`; the issued timestamp is after the last one.
    """
    m = _HEADER.match(value or "")
    if not m or "/" not in m["cred"]:
        return None
    user_id, _, issued = m["cred"].rpartition("/")
    return Credential(m["scheme"], user_id, issued, m["sig"])


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:?\d{2})?$")


def parse_issued(text: str) -> dt.datetime | None:
    """An ISO 8601 issued timestamp as aware UTC (no zone = UTC); None if malformed."""
    if not _ISO.match(text or ""):
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
