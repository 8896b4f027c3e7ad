"""For any secret (1 to 200 characters, any Unicode an environment variable can
hold) and every spelling the gate promises, nothing leaves the process: the text
goes through the real sink (a log file of the run directory, a JSON line, the
terminal stream) and the bytes that come out are read back every way the
spellings can be read (tests/support/leaks.py decodes on its own, with the
standard library), with the secret found in none of them.

Runs with a fixed seed in the suite; `-m slow` runs many more examples."""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.redaction.redact import Redactor
from runner.redaction.sink import RedactedStream, Sink
from tests.support.leaks import SPELLINGS, in_base64_run, spelled_in

#: what an environment variable can hold: no NUL, no lone surrogate (not UTF-8)
SECRETS = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=200,
)
#: where a spelling turns up: a body, a JSON message, a query, a fragment, a cookie,
#: a header with a scheme, a Python error text
CONTEXTS = [
    "{0}",
    "denied: {0} (try again)",
    '{{"Message": "denied {0}", "n": 1}}',
    "https://api.example/cb?key={0}&x=1",
    "https://app.example/cb#state=s&token={0}",
    "sid={0}; Path=/; HttpOnly",
    "Basic {0}",
    "ConnectionError: HTTPSConnectionPool: Max retries exceeded with url: /p?k={0} (Caused by x)",
    # neighbours that extend a base64 run or an escape, and the spelling twice
    "QUJD{0}REVG",
    "%2F{0}%2f\\u0041",
    "{0}{0}",
]

_FOLDER = Path(tempfile.mkdtemp(prefix="segrun-gate-"))


def through_the_sink(secret: str, text: str) -> str:
    """What leaves the process when `text` is written by a run that knows `secret`:
    a transcript line, the same text in a JSON line (as a value and as a key), and
    the terminal. The bytes as they reached the file and the stream."""
    sink = Sink(Redactor([secret]))
    path = _FOLDER / f"{time.monotonic_ns()}.log"
    log = sink.open_log(path, "wb")
    try:
        log.write(text + "\n")
        log.write_json_line({"text": text, text: [text]})
    finally:
        log.close()
    terminal = io.StringIO()
    stream = RedactedStream(sink, terminal)
    stream.write(text)
    stream.write("\n")
    stream.flush()
    written = path.read_bytes().decode("utf-8")
    path.unlink()
    return written + terminal.getvalue()


@st.composite
def spelled(draw) -> tuple[str, str, str]:
    """(secret, how it is spelled, the text carrying it)."""
    secret = draw(SECRETS)
    how = draw(st.sampled_from([*SPELLINGS, "inside a base64 run"]))
    if how == "inside a base64 run":
        before = draw(st.binary(max_size=5))
        after = draw(st.binary(max_size=5))
        urlsafe = draw(st.booleans())
        spelling = in_base64_run(secret, before, after, urlsafe)
        how = f"inside a base64{'url' * urlsafe} run, {len(before) % 3} bytes into a group"
    else:
        spelling = SPELLINGS[how](secret)
    context = draw(st.sampled_from(CONTEXTS))
    return secret, how, context.format(spelling)  # "{0}{0}": the spelling twice


def no_spelling_leaves(example: tuple[str, str, str]) -> None:
    secret, how, text = example
    output = through_the_sink(secret, text)
    found = spelled_in(secret, output)
    assert not found, (secret, how, text, output, found[:3])
    # and what the gate let through, it lets through again unchanged (a marker is
    # never masked again: text that passes the gate twice stays readable)
    gate = Redactor([secret])
    once = gate.scan(text)
    assert gate.scan(once) == once, (secret, how, text, once)


@settings(
    derandomize=True,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spelled())
def test_no_spelling_of_any_secret_leaves_through_the_sink(example):
    no_spelling_leaves(example)


@pytest.mark.slow
@settings(
    max_examples=20_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spelled())
def test_no_spelling_of_any_secret_leaves_through_the_sink_long(example):
    no_spelling_leaves(example)
