"""Big buffers go back to the system when freed, whichever thread freed them.

glibc's malloc raises its mmap threshold each time a big block is freed, up to
32 MB: after the first Retrieve page, every page-sized buffer comes from a
heap arena instead, and a freed one stays with that arena (each thread has its
own). With pages in flight, each worker thread's arena keeps the biggest pages
it ever held: 377 MB for 32 workers on 12 MB pages, where 85 MB is live. A
fixed threshold turns that adjustment off, so a page's memory leaves with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util

#: glibc's mallopt parameter for the mmap threshold
_M_MMAP_THRESHOLD = -3
#: blocks this big or bigger are mapped on their own and unmapped when freed
THRESHOLD = 256 * 1024


def release_big_buffers() -> bool:
    """Fix malloc's mmap threshold (glibc only; elsewhere nothing is done).
    True when it was set."""
    with contextlib.suppress(OSError, AttributeError, TypeError):
        name = ctypes.util.find_library("c")
        mallopt = ctypes.CDLL(name).mallopt if name else None
        if mallopt is not None:
            mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            mallopt.restype = ctypes.c_int
            return mallopt(_M_MMAP_THRESHOLD, THRESHOLD) == 1
    return False
