"""Ground truth: which records an export must contain, by brute force.

Deliberately the slow, obvious reading of the rules over whole records, sharing
nothing with `selection.py` but the record generator, so a bug in the fast path
shows up as a difference instead of being copied.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from runner.apifacts.timestamps import effective, parse_wire
from runner.sandbox.datafile import SegmentGroup
from runner.sandbox.profiles import Profiles
from runner.sandbox.query import query_from_body


def expected_records(
    profiles: Profiles, group: SegmentGroup, body: dict, user_id: str, touched: Mapping[int, int]
) -> list[dict]:
    """Every record the export of `group` with Initiate `body` must hold, in order.

    Raises PermissionError when `user_id` may not export it (403) or its exports
    end Failed: there is no record set to compare with then.
    """
    if not group.permits(user_id):
        raise PermissionError(f"{user_id} may not export {group.name!r} (403)")
    if group.fails_for(user_id):
        raise PermissionError(f"exports of {group.name!r} by {user_id} end Failed")
    query_from_body(body)  # the same 400s as the server, before filtering anything
    out = []
    for i in range(profiles.count):
        record = profiles.record(i, touched)
        if _in_group(record, group) and _since(record, body) and _matches(record, body):
            out.append(record)
    return out


def _in_group(record: dict, group: SegmentGroup) -> bool:
    c = group.criteria
    if c.customer_types is not None and record["CustomerType"] not in c.customer_types:
        return False
    if c.active_only and record["IsActive"] is not True:
        return False
    if c.has_email and not record["Emails"]:
        return False
    if c.has_phone and not record["PhoneNumbers"]:
        return False
    types = {a["AlternateIdType"] for a in record["AlternateIds"]}
    return c.alternate_id_types is None or bool(types & c.alternate_id_types)


def _since(record: dict, body: dict) -> bool:
    if body.get("LastDateTime") is None:
        return True
    modified = dt.datetime.strptime(record["Edited"]["Date"], "%Y-%m-%dT%H:%M:%S.%fZ")
    bound = effective(parse_wire(body["LastDateTime"]))
    return modified.replace(tzinfo=dt.timezone.utc) >= bound


def _digits(text: str) -> str:
    d = "".join(ch for ch in text if ch.isdigit())
    return d[1:] if len(d) == 11 and d.startswith("1") else d


def _matches(record: dict, body: dict) -> bool:
    criteria = (body.get("MatchCriteria") or "").lower()
    if not criteria:
        return True
    values = body.get("Values") or []
    kind = (body.get("MatchType") or "").lower()
    if criteria == "profileid":  # an integer; Values are its decimal strings
        ids = {int(v) for v in values if v.strip().isascii() and v.strip().isdigit()}
        return record["ProfileId"] in ids and kind in ("", record["CustomerType"].lower())
    if criteria == "emailaddress":
        wanted = {v.strip().lower() for v in values}
        pairs = [(e["EmailAddress"].lower(), e["EmailAddressType"]) for e in record["Emails"]]
    elif criteria == "phonenumber":
        wanted = {_digits(v) for v in values}
        pairs = [(_digits(n["PhoneNumber"]), n["PhoneType"]) for n in record["PhoneNumbers"]]
    else:
        wanted = set(values)
        pairs = [(a["AlternateId"], a["AlternateIdType"]) for a in record["AlternateIds"]]
    return any(v in wanted and kind in ("", t.lower()) for v, t in pairs)
