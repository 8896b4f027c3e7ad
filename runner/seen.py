"""The ProfileIds already written to one export, in 8 bytes each.

A server that serves the same records at every offset passes every count
check, so each record's `ProfileId` is remembered and a repeat fails the job.
A Python set of a million ids costs about 90 MB; this open-addressing table of
64-bit fingerprints costs 16 MB at a million. A fingerprint match is only a
suspicion: the caller confirms it against the records themselves (a true
64-bit collision is then ignored), so no export fails on a hash.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

_MIX = 0x9E3779B97F4A7C15  # Fibonacci hashing spreads sequential ids over the table
_MASK64 = (1 << 64) - 1
#: ids compared; a missing id (None) or a nested one is opaque, and skipped
_SCALARS = frozenset({str, int, float, bool})


class SeenIds:
    def __init__(self, bits: int = 16) -> None:
        self._bits = bits
        self._table = array("Q", [0]) * (1 << bits)
        self._used = 0

    def __len__(self) -> int:
        return self._used

    def add_all(self, ids: Sequence[object]) -> list[int]:
        """Remember a page's ids; returns the indexes whose fingerprint was
        already there (earlier in the export or in this page). Ids that are
        not JSON scalars are skipped: records stay opaque."""
        while (self._used + len(ids)) * 2 > len(self._table):
            self._grow()
        # One loop with everything local: this runs once per record exported.
        repeats: list[int] = []
        table, bits = self._table, self._bits
        mask, shift = (1 << bits) - 1, 64 - bits
        used = self._used
        for index, profile_id in enumerate(ids):
            if type(profile_id) not in _SCALARS:
                continue
            mark = ((hash(profile_id) * _MIX) & _MASK64) | 1  # 0 marks an empty slot
            slot = mark >> shift
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

    def _grow(self) -> None:
        old = self._table
        self._bits += 1
        self._table = array("Q", [0]) * (1 << self._bits)
        table, mask, shift = self._table, (1 << self._bits) - 1, 64 - self._bits
        for mark in old:
            if not mark:
                continue
            slot = mark >> shift
            while table[slot]:
                slot = (slot + 1) & mask
            table[slot] = mark
