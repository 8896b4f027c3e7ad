"""An Initiate body, checked the way the vendor's reference describes it.

The result is an `ExportQuery`: everything the selection needs, already in the
spelling the data uses, so neither the fast path nor the oracle re-parses text.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from runner.apifacts import api
from runner.apifacts.timestamps import TimestampError, effective, parse_wire
from runner.sandbox.profiles import (
    ALTERNATE_ID_TYPES,
    CUSTOMER_TYPES,
    EMAIL_TYPES,
    PHONE_TYPES,
    phone_digits,
)

# CallbackURL: the export overview and the legacy Initiate body (API-NOTES).
FIELDS = ("LastDateTime", "MatchCriteria", "MatchType", "Values", "CallbackURL")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

# What a MatchType names for each MatchCriteria (specs/api.yaml says which kind;
# the synthetic data says which values exist).
MATCH_TYPES = {
    "ProfileId": CUSTOMER_TYPES,
    "AlternateId": ALTERNATE_ID_TYPES,
    "PhoneNumber": PHONE_TYPES,
    "EmailAddress": EMAIL_TYPES,
}


class BodyError(Exception):
    """An Initiate body the server refuses; `status` is 400, or 404 for a
    MatchType that names nothing (the docs' "parameter in the body not found")."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ExportQuery:
    since_ms: int | None = None  # the effective (rounded) LastDateTime, epoch ms
    match_criteria: str | None = None  # canonical enum spelling
    match_type: str | None = None  # canonical spelling of the type
    values: tuple[str, ...] = ()
    callback_url: str | None = None  # where the status is POSTed when the export is done

    def normalised_values(self) -> frozenset[str]:
        """Values in the form identifiers are compared in (see docs/sandbox.md)."""
        return frozenset(normalise(self.match_criteria or "", v) for v in self.values)


def normalise(criteria: str, value: str) -> str:
    if criteria == "ProfileId":  # an integer in the model: compared by its value
        digits = value.strip()
        return str(int(digits)) if digits.isascii() and digits.isdigit() else value
    if criteria == "EmailAddress":
        return value.strip().lower()
    if criteria == "PhoneNumber":
        return phone_digits(value)
    return value


def to_ms(moment: dt.datetime) -> int:
    return (moment - EPOCH) // dt.timedelta(milliseconds=1)


def parse_body(raw: bytes) -> ExportQuery:
    """The Initiate body as a query. An empty body means "no filters" (every
    field is optional); anything else must be a JSON object of the four fields."""
    if not raw.strip():
        return ExportQuery()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BodyError("The request body is not valid JSON") from None
    return query_from_body(body)


def query_from_body(body: object) -> ExportQuery:
    if not isinstance(body, dict):
        raise BodyError("The request body must be a JSON object")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise BodyError(f"Unknown field {unknown[0]!r}; the body takes {', '.join(FIELDS)}")
    since = _last_datetime(body.get("LastDateTime"))
    criteria = _criteria(body.get("MatchCriteria"))
    match_type = _match_type(criteria, body.get("MatchType"))
    values = _values(criteria, body.get("Values"))
    return ExportQuery(since, criteria, match_type, values, _callback(body.get("CallbackURL")))


def _callback(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _http_url(value) or any(c.isspace() for c in value):
        raise BodyError("CallbackURL must be an absolute http or https URL")
    return value


def _http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        return False
    return True


def _last_datetime(value: object) -> int | None:
    if value is None:
        return None
    try:
        return to_ms(effective(parse_wire(value)))  # type: ignore[arg-type]
    except TimestampError as e:
        raise BodyError(str(e)) from None
    except OverflowError:  # rounding .999 of 9999-12-31T23:59:59 up
        raise BodyError("LastDateTime is out of range") from None


def _criteria(value: object) -> str | None:
    if value is None:
        return None
    known = api.match_criteria()
    # The vendor's own pages spell it ProfileID and ProfileId: case-insensitive.
    for name in known:
        if isinstance(value, str) and name.lower() == value.lower():
            return name
    raise BodyError(f"MatchCriteria must be one of {', '.join(known)}, not {value!r}")


def _match_type(criteria: str | None, value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise BodyError("MatchType must be a string")
    if value in (None, ""):
        if criteria and api.facts()["match_criteria"][criteria]["match_type"] == "required":
            raise BodyError(f"MatchType is required when MatchCriteria is {criteria}")
        return None
    if criteria is None:
        raise BodyError("MatchType needs a MatchCriteria to apply to")
    for name in MATCH_TYPES[criteria]:
        if name.lower() == value.lower():
            return name
    means = api.facts()["match_criteria"][criteria]["match_type_means"]
    raise BodyError(f"MatchType {value!r} is not a known {means}", status=404)


def _values(criteria: str | None, value: object) -> tuple[str, ...]:
    if value is None:
        value = []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BodyError("Values must be an array of strings")
    if criteria and not value:
        raise BodyError(f"Values must list at least one {criteria} when MatchCriteria is given")
    if value and not criteria:
        raise BodyError("Values needs a MatchCriteria saying what they are")
    return tuple(value)
