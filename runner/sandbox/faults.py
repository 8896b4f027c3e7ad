"""Fault injection: a seeded plan of random faults, and scripts for exact tests.

Plan syntax (`--faults`, or `Faults.parse`), comma-separated `KEY=VALUE`:

    429=P 503=P drop=P truncate=P slow=P    share P of requests answered so
    CALL[+CALL]:KIND=P                      the same, only for those calls
    expire=P error=P                        share P of new exports that expire
                                            early / end in Error
    seed=N retry_after=N|none slow_seconds=S expire_after=N

Whether the n-th request to a call is faulted is a pure function of (seed, call,
n), so a seeded plan gives the same faults however calls interleave.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field

from runner.apifacts.api import CALLS
from runner.sandbox.counters import Counters
from runner.sandbox.lies import LIES
from runner.sandbox.profiles import _mix
from runner.system.numbers import MAX_COUNT, MAX_SECONDS, number_problem

#: `segrun sandbox --help-faults` (docs/sandbox.md has the same table)
FAULT_HELP = """\
A fault plan (--faults, or `segrun run --sandbox-faults`) is a comma-separated list
of KEY=VALUE:

  429=P            a share P of requests is answered 429 Too Many Requests (Retry-After)
  503=P            503 with the documented "temporary condition" message
  drop=P           the connection is closed without an answer
  truncate=P       the real answer, cut to half its body (Content-Length promises more)
  slow=P           answered normally after slow_seconds
  CALL:KIND=P      the same, only for that call: initiate, status, retrieve, commit
  CALL+CALL:KIND=P ... for several calls; overrides the unprefixed share for them
  expire=P         a share P of new exports expire early, after expire_after pages
  error=P          a share P of new exports end with Status Error
  seed=N           the fault seed (default 0): the same plan gives the same faults
  retry_after=N    the 429's Retry-After seconds (default 1); retry_after=none omits it
  slow_seconds=S   the delay of slow (default 1.0)
  expire_after=N   pages an expire export serves before expiring (default 1)

The shares of one call add up to 1 at most. Example:

  segrun sandbox --faults "429=0.05,retrieve:503=0.1,drop=0.02,expire=0.1,seed=7"
"""
REQUEST_FAULTS = ("429", "503", "drop", "truncate", "slow")
EXPORT_FAULTS = ("expire", "error")
SCRIPT_ANSWERS = (*REQUEST_FAULTS, *LIES, "ok")


class FaultSyntaxError(ValueError):
    """A fault plan that cannot be read; the message is one line naming the entry."""


@dataclass(frozen=True)
class FaultPlan:
    request_rates: dict[str, dict[str, float]] = field(default_factory=dict)  # call -> kind -> P
    export_rates: dict[str, float] = field(default_factory=dict)  # expire/error -> P
    seed: int = 0
    retry_after: int | None = 1  # None: a 429 without the header
    slow_seconds: float = 1.0
    expire_after: int = 1  # retrieves an `expire`-faulted export serves before expiring

    @classmethod
    def parse(cls, text: str) -> FaultPlan:
        rates: dict[str, dict[str, float]] = defaultdict(dict)
        export_rates: dict[str, float] = {}
        settings: dict[str, object] = {}
        for entry in filter(None, (e.strip() for e in (text or "").split(","))):
            key, sep, value = entry.partition("=")
            key = key.strip().lower()
            if not sep:
                raise FaultSyntaxError(f"fault entry {entry!r} is not KEY=VALUE")
            calls, colon, kind = key.rpartition(":")
            if kind in REQUEST_FAULTS:
                for call in calls.split("+") if colon else CALLS:
                    if call not in CALLS:
                        raise FaultSyntaxError(
                            f"fault entry {entry!r}: unknown call {call!r} "
                            f"(calls: {', '.join(CALLS)})"
                        )
                    rates[call][kind] = _probability(entry, value)
            elif colon:
                raise FaultSyntaxError(f"fault entry {entry!r}: only {REQUEST_FAULTS} take a call")
            elif kind in EXPORT_FAULTS:
                export_rates[kind] = _probability(entry, value)
            elif kind in ("seed", "expire_after"):
                settings[kind] = _integer(entry, value)
            elif kind == "retry_after":
                settings[kind] = None if value.strip().lower() == "none" else _integer(entry, value)
            elif kind == "slow_seconds":
                settings[kind] = _number(entry, value)
            else:
                raise FaultSyntaxError(
                    f"unknown fault {kind!r} in {entry!r}; known: "
                    f"{', '.join(REQUEST_FAULTS + EXPORT_FAULTS)}, seed, retry_after, "
                    "slow_seconds, expire_after"
                )
        for call, kinds in rates.items():
            if sum(kinds.values()) > 1:
                raise FaultSyntaxError(f"the fault shares for {call} add up to more than 1")
        return cls(dict(rates), export_rates, **settings)  # type: ignore[arg-type]


def _number(entry: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise FaultSyntaxError(f"fault entry {entry!r}: {value!r} is not a number") from None
    problem = number_problem(number, low=0, high=MAX_SECONDS)  # a delay becomes a sleep
    if problem:
        raise FaultSyntaxError(f"fault entry {entry!r}: {problem}")
    return number


def _probability(entry: str, value: str) -> float:
    number = _number(entry, value)
    if number > 1:
        raise FaultSyntaxError(f"fault entry {entry!r}: a share is between 0 and 1")
    return number


def _integer(entry: str, value: str) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_COUNT)):
        raise FaultSyntaxError(f"fault entry {entry!r}: {value[:40]!r} is not a whole number >= 0")
    problem = number_problem(int(text), low=0, high=MAX_COUNT)
    if problem:
        raise FaultSyntaxError(f"fault entry {entry!r}: {problem}")
    return int(text)


@dataclass(frozen=True)
class ExportFaults:
    """What happens to one export: an early expiry, or an end in Error."""

    error: bool = False
    expire_after: int | None = None


class Faults:
    """The running fault state: the plan, the scripts, and what was injected."""

    def __init__(self, plan: FaultPlan | None = None, counters: Counters | None = None) -> None:
        self.plan = plan or FaultPlan()
        self.counters = counters or Counters()
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[str]] = defaultdict(deque)
        self._export_scripts: deque[ExportFaults] = deque()
        self._seen: dict[str, int] = defaultdict(int)
        self._exports_seen = 0

    # -- scripting, for tests that need exact answers ------------------------------

    def script(self, call: str, answers: list[str]) -> None:
        """The next requests to `call` get exactly these answers, in order:
        one of 429, 503, drop, truncate, slow, ok (answer normally), or a lie
        (see `lies.py`: 400, notjson, wrongshape, badcount, badoffset, badtoken,
        miscount, badtotal)."""
        if call not in CALLS:
            raise ValueError(f"unknown call {call!r}; calls: {', '.join(CALLS)}")
        bad = [a for a in answers if a not in SCRIPT_ANSWERS]
        if bad:
            raise ValueError(f"unknown scripted answer {bad[0]!r}; use {SCRIPT_ANSWERS}")
        with self._lock:
            self._scripts[call].extend(answers)

    def expire_next_export(self, after_retrieves: int = 0) -> None:
        """The next Initiate's export expires once it has served that many pages."""
        with self._lock:
            self._export_scripts.append(ExportFaults(expire_after=after_retrieves))

    def error_next_export(self) -> None:
        """The next Initiate's export ends with status Error instead of Complete."""
        with self._lock:
            self._export_scripts.append(ExportFaults(error=True))

    def clear(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._export_scripts.clear()

    # -- decisions -----------------------------------------------------------------

    def request_fault(self, call: str) -> str | None:
        """The fault for this request to `call`, or None to answer normally."""
        with self._lock:
            n = self._seen[call]
            self._seen[call] = n + 1
            if self._scripts[call]:
                answer = self._scripts[call].popleft()
                kind = None if answer == "ok" else answer
            else:
                kind = self._draw(self.plan.request_rates.get(call, {}), call, n)
        if kind:
            self.counters.add("faults", call, kind)
        return kind

    def export_faults(self) -> ExportFaults:
        """Decided once per Initiate that gets a token."""
        with self._lock:
            n = self._exports_seen
            self._exports_seen = n + 1
            if self._export_scripts:
                decided = self._export_scripts.popleft()
            else:
                kind = self._draw(self.plan.export_rates, "export", n)
                decided = ExportFaults(
                    error=kind == "error",
                    expire_after=self.plan.expire_after if kind == "expire" else None,
                )
        if decided.error:
            self.counters.add("faults", "export", "error")
        if decided.expire_after is not None:
            self.counters.add("faults", "export", "expire")
        return decided

    def _draw(self, rates: dict[str, float], stream: str, n: int) -> str | None:
        if not rates:
            return None
        salt = sum(ord(c) << (8 * i) for i, c in enumerate(stream))
        roll = _mix((self.plan.seed * 1_000_003 + salt) * 1_000_000_007 + n) / 2.0**64
        for kind, share in sorted(rates.items()):
            if roll < share:
                return kind
            roll -= share
        return None
