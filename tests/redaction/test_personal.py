"""Personal data shown without being asked for is its shape: enough to see that the right
column of the right file was read, never whose it is."""

from __future__ import annotations

import pytest

from runner.redaction.personal import masked


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("john.smith@example.com", "j***@e***.com"),
        ("Ada@mail.example.co.uk", "A***@m***.uk"),
        ("LY-10000006", "L*-*******6"),
        ("+1 (555) 010-0199", "+1 (***) ***-***9"),
        ("10000006", "1******6"),
        ("12345", "*****"),  # five letters or digits or fewer: none shown
        ("A1", "**"),
        ("user@localhost", "u***@********t"),
        ("O'Brien-Smith", "O'*****-****h"),
    ],
)
def test_a_masked_value_keeps_its_shape_and_at_most_two_of_its_characters(value, shown):
    assert masked(value) == shown


def test_a_masked_value_never_carries_a_control_character_or_its_whole_length():
    hostile = "\x1b]0;owned\x07ab\u202ecd\r\nef"
    out = masked(hostile)
    assert out.isprintable() and "owned" not in out
    long = masked("9" * 5000)
    assert long.startswith("9" + "*" * 31) and long.endswith("(5,000 characters)")
    assert len(long) < 60


def test_every_character_of_a_value_but_two_is_hidden():
    """Whatever the value: at most two of its letters or digits show (and an e-mail
    address's top-level domain)."""
    for value in ["ada.lovelace@example.org", "Zx9-Qw8-Er7-Ty6", "Müller-Lüdenscheidt 4711"]:
        out = masked(value).removesuffix(".org")
        assert len([c for c in out if c.isalnum()]) <= 2, (value, out)
