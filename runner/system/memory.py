"""How page-sized buffers are kept: one heap for every thread, reused, bounded.

Two costs of glibc's malloc defaults pull against each other here:

- Each thread has an arena of its own, and glibc raises its mmap threshold
  each time a big block is freed (up to 32 MB), so page buffers come from the
  arenas. A freed page stays with the arena of the thread that freed it: with
  32 workers on 12 MB pages, 377 MB was held where 85 MB was live.
- A block mapped on its own is unmapped when freed, and the next page's
  buffer is faulted in again, 4 KiB at a time. With the threshold fixed low,
  to cure the first cost, that was a quarter of segrun's CPU per page (0.5 s
  of system time per 200,000 records), on the critical path of pages in
  flight. The sandbox, which builds each page as one string, pays it too.

So: one arena for every thread (a page freed by one worker is reused by the
next, whichever it is); blocks of up to 2 MiB, pages of about 3,000 records,
reused from it; bigger ones mapped and unmapped on their own; and at most
8 MiB of free memory kept at the top of the heap. The memory tests of
tests/run/test_inflight.py and bench/export.py's peaks hold the bounds; bench/latency.py
shows the time.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util

#: glibc's mallopt parameters
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
#: blocks this big or bigger are mapped on their own and unmapped when freed
THRESHOLD = 2 * 1024 * 1024
#: free memory at the top of the heap beyond this goes back to the system
TRIM = 8 * 1024 * 1024
ARENAS = 1

_done: list[bool] = []


def reuse_page_buffers() -> bool:
    """Set the three (glibc only; elsewhere nothing is done, and the defaults
    cost time or memory, not correctness). Call before the first worker thread
    starts: arenas are handed out as threads first allocate. True when set."""
    if _done:
        return _done[0]
    ok = False
    with contextlib.suppress(OSError, AttributeError, TypeError):
        name = ctypes.util.find_library("c")
        mallopt = ctypes.CDLL(name).mallopt if name else None
        if mallopt is not None:
            mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            mallopt.restype = ctypes.c_int
            ok = all(
                [
                    mallopt(_M_ARENA_MAX, ARENAS) == 1,
                    mallopt(_M_MMAP_THRESHOLD, THRESHOLD) == 1,
                    mallopt(_M_TRIM_THRESHOLD, TRIM) == 1,
                ]
            )
    _done.append(ok)
    return ok
