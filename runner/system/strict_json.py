"""JSON as segrun writes its own files and reads them back: strict both ways.

Python's `json` is lenient where segrun must not be. It writes NaN and the infinities
as `NaN` and `Infinity`, which are not JSON (jq, Go and JavaScript refuse the file);
it reads them back, and reads `1e999` as infinity and `-1e999` as minus infinity; it
reads an integer of any length up to the interpreter's limit (4,300 digits), past
which it raises a ValueError about `sys.set_int_max_str_digits`. A report, transcript,
checkpoint or state file holding one of these was not written by segrun (an edit, a
foreign tool, a tampering), and what reads it must say so, naming the file (exit 2),
rather than carry an infinity into a clock or a NaN into the next file it writes.

`dumps` is how every file segrun writes is serialised (`allow_nan=False`: a NaN that
reached a writer is a bug, and a bug must not become a file nothing else can read);
`loads` is how every such file is read back.
"""

from __future__ import annotations

import json
import math
from typing import Any

from runner.system.numbers import MAX_INTEGER

#: more digits than this and an integer is surely beyond MAX_INTEGER; the exact test
#: follows for the ones near it
_INTEGER_DIGITS = len(str(MAX_INTEGER))


class NotStrictJSON(ValueError):
    """A number JSON's grammar spells but no file segrun writes holds (NaN, Infinity,
    a number beyond a 64-bit float or integer), or nesting deeper than any of them.
    A ValueError, so every reader that refuses a malformed file refuses this too."""


def dumps(value: object, **options: object) -> str:
    """`json.dumps` refusing NaN and the infinities (ValueError): what segrun writes
    is JSON every reader takes."""
    return json.dumps(value, allow_nan=False, **options)  # type: ignore[arg-type]


def _constant(name: str) -> object:
    raise NotStrictJSON(f"{name} is not a JSON number")


def _float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise NotStrictJSON(f"the number {text[:40]} is beyond a 64-bit float")
    return number


def _integer(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > _INTEGER_DIGITS or abs(int(text)) > MAX_INTEGER:
        raise NotStrictJSON(f"an integer of {digits} digits is beyond a 64-bit integer")
    return int(text)


_DECODER = json.JSONDecoder(parse_constant=_constant, parse_float=_float, parse_int=_integer)


def loads(text: str | bytes) -> Any:
    """The value of a JSON document segrun wrote. ValueError for anything else: not
    JSON, not UTF-8 (UnicodeDecodeError), and NotStrictJSON for a number out of range
    or nesting too deep to read."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")
    try:
        return _DECODER.decode(text)
    except RecursionError:
        raise NotStrictJSON("nested too deeply to be a file segrun wrote") from None
