"""What a number must be for segrun's arithmetic to hold.

Numbers enter segrun from the command line, a spec, a server's answers and the files
segrun reads back. Each is checked where it enters against these limits, so nothing
deeper has to ask whether `time.monotonic() + x`, `datetime + timedelta(seconds=x)`,
a thread's wait or an `int()` can overflow, or whether `x` is NaN, which passes every
comparison (`nan < 0` and `nan > 86400` are both false) and so slips past any range.
"""

from __future__ import annotations

import math

#: the longest duration segrun takes anywhere, ten years: far above any real timeout,
#: far below what a clock, a timedelta or a thread's wait (292 years) can hold
MAX_SECONDS = 10 * 365 * 86400
#: the slowest request rate: one request a day (below it, one wait would outlast a day,
#: and the wait for a rate near zero overflows the clock)
MIN_RATE = 1 / 86400
#: the largest count or size segrun writes or takes (records, bytes, offsets): 2**53 - 1,
#: the largest integer every JSON reader (JavaScript's included) keeps exact
MAX_COUNT = 2**53 - 1
#: the largest integer a file segrun wrote can hold at all (an access token is the
#: server's, a 64-bit integer at most)
MAX_INTEGER = 2**63 - 1


def spelled(value: object) -> str:
    """A number as a message shows it: NaN and the infinities in words a reader of
    YAML, JSON or a command line recognises, a huge integer by its length (not 400
    digits of it)."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN (not a number)"
        if math.isinf(value):
            return f"{'-' if value < 0 else ''}infinity"
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
        digits = len(str(abs(value)))
        return f"{'a negative ' if value < 0 else 'an '}integer of {digits} digits"
    return repr(value)


def number_problem(
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
    integer: bool = False,
) -> str | None:
    """Why `value` is not a usable number, or None: not a number at all (a bool is
    not one), NaN or an infinity, not whole when `integer`, below `low`, not more than
    `above`, or over `high`. Every number segrun takes passes here or an equivalent
    range check at its entry; the message never repeats more than a number's length."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"must be {'an integer' if integer else 'a number'}, not {value!r:.40}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, not {spelled(value)}"
    if integer and not isinstance(value, int):
        return f"must be an integer, not {spelled(value)}"
    if above is not None and not value > above:
        return f"must be more than {_bound(above)}, not {spelled(value)}"
    if low is not None and value < low:
        return f"must be at least {_bound(low)}, not {spelled(value)}"
    if high is not None and value > high:
        return f"must be at most {_bound(high)}, not {spelled(value)}"
    return None


def _bound(limit: float) -> str:
    if isinstance(limit, int) or float(limit).is_integer():
        return f"{int(limit):,}"
    return f"{limit:.6g}"
