"""A simulated network delay: every answer waits latency ± jitter before it is sent.

The sandbox answers in microseconds on loopback, so a client that waits for each
page before asking for the next looks fast. The real API is an internet round trip
away; `--latency 100ms:20ms` rehearses that. The delay is slept in the request's
own thread with no lock held, so concurrent requests overlap their delays as
they would on a real network.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass

MAX_SECONDS = 60.0  # a delay longer than a minute is a typo, not a network
_DURATION = re.compile(r"(?P<number>\d+(?:\.\d*)?|\.\d+)(?P<unit>ms|s)?", re.IGNORECASE)
SYNTAX = "a duration like 50ms or 0.2s, optionally :JITTER (100ms:20ms)"


class LatencyError(ValueError):
    """A latency that cannot be read; the message names the text and the syntax."""


@dataclass(frozen=True)
class Latency:
    seconds: float = 0.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        for name, value in (("latency", self.seconds), ("jitter", self.jitter)):
            if not 0 <= value <= MAX_SECONDS:  # NaN fails this too
                raise LatencyError(f"{name} must be between 0 and {MAX_SECONDS:g}s, not {value!r}")

    def __bool__(self) -> bool:
        return self.seconds > 0 or self.jitter > 0

    def __str__(self) -> str:
        text = _ms(self.seconds)
        return f"{text}:{_ms(self.jitter)}" if self.jitter else text


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:g}ms"


def parse_duration(text: str, what: str = "latency") -> float:
    """Seconds from `50ms`, `0.2s` or `0`. A bare number other than 0 is refused:
    is `50` milliseconds or seconds? The unit says."""
    m = _DURATION.fullmatch(text.strip())
    if m is None:
        raise LatencyError(f"{what} {text!r} is not {SYNTAX}")
    number, unit = float(m["number"]), (m["unit"] or "").lower()
    if not unit and number != 0:
        raise LatencyError(f"{what} {text!r} needs a unit: {m['number']}ms or {m['number']}s")
    seconds = number / 1000 if unit == "ms" else number
    if seconds > MAX_SECONDS:
        raise LatencyError(f"{what} {text!r} is more than {MAX_SECONDS:g}s")
    return seconds


def parse_latency(text: str) -> Latency:
    """`LATENCY[:JITTER]`, e.g. `100ms:20ms`."""
    latency, sep, jitter = text.partition(":")
    if sep and not jitter.strip():
        raise LatencyError(f"latency {text!r} has an empty jitter after ':'; say {SYNTAX}")
    return Latency(parse_duration(latency), parse_duration(jitter, "jitter") if sep else 0.0)


def latency_of(latency: float | str | Latency | None, jitter: float | str | None = None) -> Latency:
    """The forms `Sandbox(latency=..., jitter=...)` takes: seconds, text, or a Latency."""
    if isinstance(latency, Latency):
        if jitter is not None:
            raise LatencyError("give the jitter inside the Latency, not beside it")
        return latency
    if isinstance(latency, str):
        found = parse_latency(latency)
        if jitter is not None and found.jitter:
            raise LatencyError(f"latency {latency!r} already has a jitter; do not also pass jitter")
    else:
        found = Latency(_seconds(latency or 0.0, "latency"))
    if jitter is None:
        return found
    seconds = parse_duration(jitter, "jitter") if isinstance(jitter, str) else _seconds(jitter)
    return Latency(found.seconds, seconds)


def _seconds(value: object, what: str = "jitter") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LatencyError(f"{what} must be seconds as a number or a duration text, not {value!r}")
    return float(value)


class Delay:
    """Draws each answer's delay: uniform in latency ± jitter, never negative.
    Seeded, so a rehearsal's delays repeat with its seed."""

    def __init__(self, latency: Latency, seed: int = 0) -> None:
        self.latency = latency
        self._random = random.Random(seed)
        self._lock = threading.Lock()  # held to draw a number, never while sleeping

    def draw(self) -> float:
        if not self.latency:
            return 0.0
        lat = self.latency
        if not lat.jitter:
            return lat.seconds
        with self._lock:
            offset = self._random.uniform(-lat.jitter, lat.jitter)
        return max(0.0, lat.seconds + offset)
