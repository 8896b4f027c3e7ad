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
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Sequence

_MIX = 0x9E3779B97F4A7C15  # Fibonacci hashing spreads sequential ids over the table
_MASK64 = (1 << 64) - 1
_LOW32 = (1 << 32) - 1
#: ids compared; a missing id (None) or a nested one is opaque, and skipped
_SCALARS = frozenset({str, int, float, bool})
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
        self._bits = _bits_for(min(expected, MAX_EXPECTED))
        self._table = array("I", bytes(4 << self._bits))
        self._used = 0

    def __len__(self) -> int:
        return self._used

    def add_all(self, ids: Sequence[object]) -> list[int]:
        """Remember a page's ids; returns the indexes whose fingerprint was
        already there (earlier in the export or in this page). Ids that are
        not JSON scalars are skipped: records stay opaque."""
        if (self._used + len(ids)) * 2 > len(self._table):
            self._rebuild(self._used + len(ids))
        return self._add(ids)

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
            key = profile_id if type(profile_id) is str else str(profile_id)
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
