"""LastDateTime: how specs write it, how the wire carries it, how the server rounds it.

The sandbox and the client share these functions, so the dry-run's
"effective LastDateTime" is by construction what the simulated server applies.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache

from runner.apifacts.api import facts

UTC = dt.timezone.utc

_SPEC_FORM = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d+))?(?P<zone>Z|[+-]\d{2}:\d{2})?)?$"
)


# A spec's LastDateTime bound: earlier years are typos, and years before 1000
# would not even print in the 4-digit wire form.
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=UTC)


class TimestampError(ValueError):
    """A LastDateTime that cannot be used; the message says why, for a person."""


def parse_spec_datetime(value: object, now: dt.datetime | None = None) -> dt.datetime:
    """A spec's `last_datetime` as an aware UTC datetime.

    Accepts `YYYY-MM-DDTHH:mm:ss[.s-sss][Z|+hh:mm]` or a bare date (midnight UTC).
    A value without a zone is UTC (the project's documented decision).
    """
    if isinstance(value, (dt.datetime, dt.date)):
        value = value.isoformat()
    if not isinstance(value, str):
        raise TimestampError(
            "must be a timestamp such as 2026-11-21T00:00:00.000Z, null or last_success"
        )
    m = _SPEC_FORM.match(value.strip())
    if not m:
        raise TimestampError(
            f"{value!r} is not a timestamp of the form YYYY-MM-DDTHH:mm:ss[.sss][Z|+hh:mm]"
            " (or null, or last_success)"
        )
    frac = m["frac"] or ""
    if len(frac) > 3:
        raise TimestampError(
            f"{value!r} has {len(frac)} fractional digits; the API takes milliseconds (at most 3)"
        )
    text = m["date"] + "T" + (m["time"] or "00:00:00")
    try:
        parsed = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise TimestampError(f"{value!r} is not a real date and time") from None
    parsed = parsed.replace(microsecond=int(frac.ljust(3, "0")) * 1000 if frac else 0)
    zone = m["zone"]
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            raise TimestampError(f"{value!r} has an impossible UTC offset {zone}")
        try:
            parsed = parsed - sign * dt.timedelta(hours=hours, minutes=minutes)
        except OverflowError:
            raise TimestampError(f"{value!r} is out of range once converted to UTC") from None
    parsed = parsed.replace(tzinfo=UTC)
    if parsed < EARLIEST:
        raise TimestampError(
            f"{value!r} is before {EARLIEST:%Y-%m-%d}, earlier than any profile change"
        )
    if now is not None and parsed > now:
        raise TimestampError(f"{value!r} is in the future")
    return parsed


def zone_missing(value: object) -> str | None:
    """The spec's text of a `last_datetime` that names no zone (read as UTC), or None.
    A person in Europe writing 2026-12-01T00:00:00 means their own midnight: `validate`
    says how it is read rather than guess."""
    if isinstance(value, dt.datetime):
        return None if value.tzinfo is not None else value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, str):
        return None
    m = _SPEC_FORM.match(value.strip())
    return value.strip() if m and not m["zone"] else None


def to_wire(moment: dt.datetime) -> str:
    """The documented request form `YYYY-MM-DDTHH:mm:ss.sssZ`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@cache
def _wire_patterns() -> list[re.Pattern]:
    return [re.compile(p) for p in facts()["last_datetime"]["wire_patterns"]]


def parse_wire(text: str) -> dt.datetime:
    """The server's strict reading of a LastDateTime body field."""
    if not isinstance(text, str) or not any(p.match(text) for p in _wire_patterns()):
        raise TimestampError(
            "LastDateTime must be YYYY-MM-DDTHH:mm:ss.sssZ or YYYY-MM-DDTHH:mm:ss.sss"
        )
    try:
        parsed = dt.datetime.strptime(text.rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f")
    except ValueError:
        raise TimestampError(f"LastDateTime {text!r} is not a real date and time") from None
    return parsed.replace(tzinfo=UTC)


def effective(moment: dt.datetime) -> dt.datetime:
    """The seeds' millisecond boundary rule: a last digit of 0-2 becomes 3, 3-6
    becomes 7, 7-9 becomes 0 of the next ten, carrying into seconds and beyond.
    """
    ms = moment.microsecond // 1000
    digit = ms % 10
    step = 3 if digit <= 2 else 7 if digit <= 6 else 10
    whole = moment.replace(microsecond=0)
    return whole + dt.timedelta(milliseconds=ms - digit + step)


def utc_now() -> dt.datetime:
    return dt.datetime.now(UTC)
