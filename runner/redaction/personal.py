"""Personal data shown as its shape, never its content.

A job's match values (e-mail addresses, phone numbers, loyalty numbers) are
people. Where segrun shows them without being asked (`segrun plan`), a person
still needs to see that the right column of the right file was read: an e-mail
address where one is meant, an id of the expected length and punctuation. So a
value is shown masked: an e-mail address as its first letter, its domain's first
letter and its top-level domain (`j***@e***.com`); anything else with its
punctuation and spaces in place, every letter and digit a `*` but the first and
the last, and those only when there are six or more (`L*-*******6`, `+1 *** ***0`).
A value of five letters or digits or fewer shows none of them.
"""

from __future__ import annotations

import string

#: values shown as samples, masked, where all of them are not asked for
SAMPLES = 3
#: the longest a masked value is shown; its length is said beyond that
_SHOWN_CHARACTERS = 32
#: kept in place: they give a value its shape and say nothing of whose it is
_SHAPE = frozenset(string.punctuation + " ")
#: letters and digits shown (first and last) only from this many on
_REVEALS_FROM = 6


def masked(value: str) -> str:
    """`value` as its shape: see the module's docstring. Never a control character,
    whatever the value holds."""
    local, at, domain = value.rpartition("@")
    top = domain.rsplit(".", 1)[-1] if "." in domain else ""
    if at and local[:1].isalnum() and domain[:1].isalnum() and top.isascii() and top.isalpha():
        return f"{local[0]}***@{domain[0]}***.{top}"
    alnum = [i for i, c in enumerate(value) if c.isalnum()]
    shown = {alnum[0], alnum[-1]} if len(alnum) >= _REVEALS_FROM else set()
    text = "".join(
        c if i in shown or (c in _SHAPE and not c.isalnum()) else "*" for i, c in enumerate(value)
    )
    if len(text) > _SHOWN_CHARACTERS:
        text = f"{text[:_SHOWN_CHARACTERS]}... ({len(value):,} characters)"
    return text
