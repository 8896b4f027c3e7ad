"""The fast path from (segment group, query) to an export's result index.

A full scan reads only a 64-bit hash per profile (never a record), and a
MatchCriteria query decodes its Values into candidate indexes, so even a
1,000,000-profile export is computed in a few seconds in the background.
`oracle.py` computes the same thing the slow, obvious way; tests compare them.
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from runner.sandbox import profiles as p
from runner.sandbox.datafile import Criteria
from runner.sandbox.query import ExportQuery, normalise


class ResultIndex:
    """The ascending profile indexes of an export: a `range` while they are
    contiguous (every profile: no memory at all), else 4 bytes per record."""

    def __init__(self) -> None:
        self._start = 0
        self._count = 0
        self._array: array | None = None

    def append(self, index: int) -> None:
        if self._array is not None:
            self._array.append(index)
        elif self._count == 0:
            self._start, self._count = index, 1
        elif index == self._start + self._count:
            self._count += 1
        else:
            self._array = array("I", range(self._start, self._start + self._count))
            self._array.append(index)

    def __len__(self) -> int:
        return len(self._array) if self._array is not None else self._count

    def slice(self, start: int, stop: int) -> Sequence[int]:
        if self._array is not None:
            return self._array[start:stop]
        return range(self._start, self._start + self._count)[start:stop]

    def nbytes(self) -> int:
        return self._array.itemsize * len(self._array) if self._array is not None else 0


@dataclass
class Selection:
    index: ResultIndex
    byte_count: int  # the records' JSON text, summed (what ByteCount reports)


def _byte_tables(criteria: Criteria) -> list[tuple[int, tuple[bool, ...]]]:
    """Each constrained hash byte with a 256-entry table of the values that pass."""
    checks = []
    if criteria.customer_types is not None:
        checks.append((0, tuple(ct in criteria.customer_types for ct in p._CT_TABLE)))
    if criteria.active_only:
        checks.append((8, tuple(b < p.ACTIVE_BELOW for b in range(256))))
    if criteria.has_email:
        checks.append((16, tuple(m != 0 for m in p._EMAIL_MASK)))
    if criteria.has_phone:
        checks.append((24, tuple(m != 0 for m in p._PHONE_MASK)))
    if criteria.alternate_id_types is not None:
        wanted = sum(
            1 << i for i, t in enumerate(p.ALTERNATE_ID_TYPES) if t in criteria.alternate_id_types
        )
        checks.append((32, tuple(m & wanted != 0 for m in p._ALT_MASK)))
    return checks


#: selections kept per sandbox (on its Profiles), newest last: the same export
#: asked for again (a nightly rehearsal, a benchmark's every row) is Complete at
#: once, not after a scan of every profile (a second for 200,000 here); at most
#: 4 MB each, and they go with the sandbox
_RECENT_MAX = 8
_RECENT_LOCK = threading.Lock()


def select(
    profiles: p.Profiles,
    criteria: Criteria,
    query: ExportQuery,
    touched: Mapping[int, int],
) -> Selection:
    """The export's records: the group's criteria, then Edited.Date >= the
    effective LastDateTime, then the MatchCriteria, in ascending index order.

    A selection depends only on these four, and `touched` is replaced, never
    changed in place (a touch makes a new snapshot), so one computed for the
    same objects is the same selection; it is shared, never changed."""
    key = (criteria, query, id(touched))
    try:
        hash(key)
    except TypeError:  # a query that cannot be a key: computed every time
        return _select(profiles, criteria, query, touched)
    with _RECENT_LOCK:
        recent = profiles.__dict__.setdefault("_selections", OrderedDict())
        held = recent.get(key)
        if held is not None and held[0] is touched:
            recent.move_to_end(key)
            return held[1]
    selection = _select(profiles, criteria, query, touched)
    with _RECENT_LOCK:
        recent[key] = (touched, selection)
        while len(recent) > _RECENT_MAX:
            recent.popitem(last=False)
    return selection


def _select(
    profiles: p.Profiles,
    criteria: Criteria,
    query: ExportQuery,
    touched: Mapping[int, int],
) -> Selection:
    checks = _byte_tables(criteria)
    since = query.since_ms
    anchor, spread, mix = profiles.anchor_ms - 1, p.SPREAD_MS, p._mix
    length = profiles.record_length
    result, total = ResultIndex(), 0
    for i in _candidates(profiles, query):
        h = profiles.hash(i)
        if any(not table[(h >> shift) & 0xFF] for shift, table in checks):
            continue
        if since is not None:
            modified = touched.get(i)
            if modified is None:
                modified = anchor - mix(h) % spread
            if modified < since:
                continue
        if query.match_criteria and not identifier_matches(profiles.record(i, touched), query):
            continue
        result.append(i)
        total += length(i)
    return Selection(result, total)


def _candidates(profiles: p.Profiles, query: ExportQuery) -> Iterable[int]:
    if not query.match_criteria:
        return range(profiles.count)
    found = {profiles.index_of(query.match_criteria, v) for v in query.values}
    return sorted(i for i in found if i is not None)


_IDENTIFIERS = {  # MatchCriteria -> (record list, value field, type field)
    "EmailAddress": ("Emails", "EmailAddress", "EmailAddressType"),
    "PhoneNumber": ("PhoneNumbers", "PhoneNumber", "PhoneType"),
    "AlternateId": ("AlternateIds", "AlternateId", "AlternateIdType"),
}


def identifier_matches(record: dict, query: ExportQuery) -> bool:
    criteria = query.match_criteria or ""
    wanted = query.normalised_values()
    if criteria == "ProfileId":  # normalise() gave each value as the integer's digits
        return str(record["ProfileId"]) in wanted and (
            query.match_type is None or record["CustomerType"] == query.match_type
        )
    items, value_field, type_field = _IDENTIFIERS[criteria]
    return any(
        normalise(criteria, item[value_field]) in wanted
        and (query.match_type is None or item[type_field] == query.match_type)
        for item in record[items]
    )
