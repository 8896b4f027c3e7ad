"""The ProfileIds already written to one export, in 4 bytes each.

A server that serves the same records at every offset passes every count
check, so each record's `ProfileId` is remembered and a repeat fails the job.
A Python set of a million ids costs about 90 MB; this open-addressing table
costs 8 MB at a million: the table's slot comes from the top bits of a 64-bit
hash and the 32 bits kept from its bottom, so two ids only look alike when
both halves agree. A match is only a suspicion: the caller confirms it against
the records themselves (a true collision is then ignored), so no export fails
on a hash.

Kept bits cannot be spread over a bigger table, so the table is sized from the
export's RowCount up front; when a server sends more than that, it is rebuilt
from the ids already written (`reread`).

Most servers page in ProfileId order. While every id so far is an integer
greater than the one before, no id can repeat, and no table is needed: a page
is checked by comparing neighbours (in C, not one Python step per id), and the
first page that breaks the rule builds the table from `reread` and goes on as
above. A server cannot hide a repeat this way: a repeat is never greater than
the id it repeats.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from itertools import islice
from operator import lt
from typing import cast

from runner.apifacts.page import HugeNumber

_MIX = 0x9E3779B97F4A7C15  # Fibonacci hashing spreads sequential ids over the table
_MASK64 = (1 << 64) - 1
_LOW32 = (1 << 32) - 1
#: ids compared; a missing id (None) or a nested one is opaque, and skipped
_SCALARS = frozenset({str, int, float, bool, HugeNumber})
_MIN_BITS = 12
#: a RowCount is the server's word: the table made up front holds at most this
#: many ids (16 MB); a bigger export is rebuilt as it grows
MAX_EXPECTED = 2_000_000


def _bits_for(count: int) -> int:
    """Table size (as a power of two) that holds `count` ids at most half full."""
    bits = _MIN_BITS
    while (1 << bits) < 2 * count:
        bits += 1
    return bits


class SeenIds:
    def __init__(self, expected: int = 0, reread: Callable[[], Iterable[object]] | None = None):
        """`expected`: how many ids the export should hold (its RowCount);
        `reread`: every id added so far, again, for a rebuild."""
        #: every id added so far, again (set later when the file comes later)
        self.reread = reread
        self._expected = min(expected, MAX_EXPECTED)
        self._bits = _bits_for(self._expected)
        self._table = array("I")
        self._used = 0
        #: while every id so far ascends (and they can be read again): the last one
        self._last: int | None = None
        self._ascending = reread is not None
        self._count = 0  # ids added while ascending
        if not self._ascending:
            self._table = array("I", bytes(4 << self._bits))

    def __len__(self) -> int:
        return self._count if self._ascending else self._used

    def add_all(self, ids: Sequence[object]) -> list[int]:
        """Remember a page's ids; returns the indexes whose fingerprint was
        already there (earlier in the export or in this page). Ids that are
        not JSON scalars are skipped: records stay opaque."""
        if self._ascending:
            if self._ascends(ids):
                self._count += len(ids)
                if ids:
                    self._last = cast(int, ids[-1])
                return []
            self._ascending = False  # from here on, the table: of every id so far
            self._bits = _bits_for(max(self._expected, self._count))
            self._table = array("I", bytes(4 << self._bits))
            self._add(self.reread())  # type: ignore[misc]
        if (self._used + len(ids)) * 2 > len(self._table):
            self._rebuild(self._used + len(ids))
        return self._add(ids)

    def first_repeat(
        self,
        ids: Sequence[object],
        first: int,
        written: Callable[[], Iterable[tuple[int, object]]],
    ) -> tuple[int, int] | None:
        """Add the ids of records `first`, `first + 1`, ... of the export; returns
        (record, earlier record) of the first that repeats an id before it, or None.
        A fingerprint match is only a suspicion, confirmed against the ids
        themselves (same value, same type): those before it in `ids`, else
        `written()`, the (record, ProfileId) of each record before `first`. Two ids
        that only share a fingerprint are not a repeat."""
        for index in self.add_all(ids):
            repeated = ids[index]
            earlier = next(
                (first + i for i, p in enumerate(ids[:index]) if _same(p, repeated)), None
            )
            if earlier is None:
                earlier = next((at for at, p in written() if _same(p, repeated)), None)
            if earlier is not None:
                return first + index, earlier
        return None

    def _ascends(self, ids: Sequence[object]) -> bool:
        """Integers only, each greater than the one before, the first greater
        than every id so far (bool is not int here: True is not 1 to a reader)."""
        if not ids:
            return True
        first = ids[0]
        if type(first) is not int or (self._last is not None and first <= self._last):
            return False
        ints = cast("Sequence[int]", ids)  # when the first test holds
        return set(map(type, ids)) == {int} and all(map(lt, ints, islice(ints, 1, None)))

    def _add(self, ids: Iterable[object]) -> list[int]:
        # One loop with everything local: this runs once per record exported.
        repeats: list[int] = []
        table, bits = self._table, self._bits
        mask, shift = (1 << bits) - 1, 64 - bits
        used = self._used
        for index, profile_id in enumerate(ids):
            if type(profile_id) not in _SCALARS:
                continue
            # str's hash is salted per process; an int's is the int itself, so a
            # server could pick distinct ids that share every fingerprint bit and
            # make each one a suspicion (a reread of the part file): hash its text.
            key = profile_id if type(profile_id) is str else _number_text(profile_id)
            product = (hash(key) * _MIX) & _MASK64
            mark = (product & _LOW32) | 1  # 0 marks an empty slot
            slot = product >> shift
            held = table[slot]
            while held:
                if held == mark:
                    repeats.append(index)
                    break
                slot = (slot + 1) & mask
                held = table[slot]
            else:
                table[slot] = mark
                used += 1
        self._used = used
        return repeats

    def _rebuild(self, count: int) -> None:
        """A table for twice `count` ids, filled again from `reread`."""
        if self.reread is None:
            raise RuntimeError("SeenIds outgrew its table and has no way to reread its ids")
        self._bits = _bits_for(2 * count)
        self._table = array("I", bytes(4 << self._bits))
        self._used = 0
        self._add(self.reread())


_NUMBERS = frozenset({int, float, HugeNumber})


def _number_text(value: object) -> str:
    """One text for every spelling of a JSON number: 1 and 1.0 are one id to a JSON
    reader (a warehouse loading the export as numbers), and so are 0 and -0.0, or 1e22
    and 10000000000000000000000; `true` is no number, and "1" is text."""
    kind = type(value)
    if kind is float:  # by its shortest decimal, the one its JSON text most likely had
        number = Decimal(repr(cast(float, value)))
        if not number.is_finite():
            return repr(value)
        return str(int(number)) if number == number.to_integral_value() else str(number.normalize())
    if kind is HugeNumber:
        return cast(HugeNumber, value).text
    return str(value)


def _same(a: object, b: object) -> bool:
    """The same id to a reader: equal JSON numbers (1 and 1.0), or equal and of one type
    (1 and "1" and true are three ids)."""
    if type(a) in _NUMBERS and type(b) in _NUMBERS:
        return _number_text(a) == _number_text(b)
    return a == b and type(a) is type(b)
