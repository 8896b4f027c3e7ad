"""Keep secrets out of every file segrun writes.

Two layers, because either alone leaks: structural redaction (the
Authorization header, OAuth token fields) catches secrets we were never told
about, such as a token the server just issued; the known-secret scan catches a
secret that turns up somewhere unexpected (an echoed header, an error message,
a URL), including its URL-encoded and base64 spellings.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote

REDACTED = "<redacted>"
URL_REDACTED = quote(REDACTED, safe="")

# Header values replaced whole: the scheme name alone says little and a
# PNAUTHINFO3 credential names the user.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization"})

# OAuth 2.0 (RFC 6749) field names whose values are always secret.
SECRET_FIELDS = ("access_token", "refresh_token", "client_secret", "id_token")

# A secret this short also matches ordinary text, so scrubbing it garbles the
# records; it is scrubbed all the same (a leak is worse), and the run warns.
SHORT_SECRET = 8

_FIELD_HINTS = ("_token", "client_secret")
assert all(any(h in name for h in _FIELD_HINTS) for name in SECRET_FIELDS)
_NAMES = "|".join(SECRET_FIELDS)
# A value may run to the end of the text: a body cut at the cap can end inside
# a token, and that half-token must not survive.
_JSON_FIELD = re.compile(rf'("(?:{_NAMES})"\s*:\s*)"(?:[^"\\]|\\.)*(?:"|\\?$)', re.IGNORECASE)
# A run of base64 text in any spelling (raw, URL-safe, percent-encoded, with
# JSON's escaped slash): where a per-request signature would sit.
_BASE64_RUN = re.compile(r"(?:[A-Za-z0-9+/=_-]|%2[BbFf]|%3[Dd]|\\/)+")
#: every character a _BASE64_RUN can hold (a superset: "%" and "\\" whatever follows)
_RUN_CHARS = r"[A-Za-z0-9+/=_%\\-]"
#: stretches of _RUN_CHARS at least N long, by N: every run that can hold a
#: signature of N characters lies inside one (its plain form is never longer)
_LONG_RUNS: dict[int, re.Pattern] = {}
_FORM_FIELD = re.compile(rf'((?:^|[&?;\s])(?:{_NAMES})=)[^&\s#"\\]*', re.IGNORECASE)


class Redactor:
    """Replaces secrets by `<redacted>`; grows as tokens become known.

    Shared by every recorder of a run, so a token added after the OAuth call
    is redacted from then on everywhere.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._forms: list[str] = []
        self._pattern: re.Pattern[str] | None = None
        self._secrets: set[str] = set()
        # Signatures: one per request, so thousands a run; kept in a set and
        # found by shape, since a pattern of thousands of literals is slow.
        self._signatures: set[str] = set()
        self._signature_lengths: set[int] = set()
        self.add(*secrets)

    def add_signature(self, signature: str) -> None:
        """Register a base64 value produced per request (a PNAUTHINFO3
        signature); found in raw, URL-encoded, JSON-escaped and base64 spellings."""
        if not signature:
            return
        for form in (signature, base64.b64encode(signature.encode()).decode("ascii")):
            for variant in (form, form.rstrip("="), form.replace("+", "-").replace("/", "_")):
                self._signatures.add(variant)
                self._signature_lengths.add(len(variant))

    def add(self, *secrets: str | None) -> None:
        """Register secrets, whatever their length (None and empty strings are
        ignored). A secret read with surrounding whitespace (a trailing newline
        from a file or a token endpoint) is registered with and without it."""
        for secret in secrets:
            if not secret or secret in self._secrets:
                continue
            self._secrets.add(secret)
            forms = set(self._forms)
            for variant in {secret, secret.strip()}:
                if variant:
                    forms.update(f for f in _spellings(variant) if f)
            # Longest first, so a form containing another is replaced whole.
            self._forms = sorted(forms, key=len, reverse=True)
            # One pass over the text: a marker put in by one spelling is never
            # rescanned for another (a one-letter secret would eat the marker).
            self._pattern = re.compile("|".join(map(re.escape, self._forms)))

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    @property
    def longest_form(self) -> int:
        """How far a secret can straddle a cut: scan this much past a cap."""
        return len(self._forms[0]) if self._forms else 0

    def scan(self, text: str, marker: str = REDACTED) -> str:
        """Known secrets, in any registered spelling, replaced anywhere in `text`."""
        if self._signatures:
            text = self._long_runs().sub(lambda m: self._signatures_in(m.group(), marker), text)
        if self._pattern is None or not any(form in text for form in self._forms):
            return text  # the test is C-fast; the regex runs only when needed
        return self._pattern.sub(lambda _: marker, text)

    def _long_runs(self) -> re.Pattern:
        """Stretches long enough to hold the shortest signature, of the characters
        a base64 run can be spelled with: found by one character class, which the
        regex engine runs in C (the exact run pattern, tried at every character
        of every transcript line, cost a millisecond a line)."""
        shortest = min(tuple(self._signature_lengths))
        pattern = _LONG_RUNS.get(shortest)
        if pattern is None:
            pattern = re.compile(f"(?<!{_RUN_CHARS}){_RUN_CHARS}{{{shortest},}}")
            _LONG_RUNS[shortest] = pattern
        return pattern

    def _signatures_in(self, stretch: str, marker: str) -> str:
        """The base64 runs of a stretch, each whole or the marker."""
        return _BASE64_RUN.sub(lambda m: self._signature_run(m.group(), marker), stretch)

    def _signature_run(self, run: str, marker: str) -> str:
        """`run` whole, or the marker when a known signature is inside it."""
        lengths = tuple(self._signature_lengths)  # a copy: another thread may add one
        if len(run) < min(lengths):
            return run
        plain = unquote(run.replace("\\/", "/"))
        for length in lengths:
            for start in range(len(plain) - length + 1):
                if plain[start : start + length] in self._signatures:
                    return marker
        return run

    def data(self, value: object) -> object:
        """A JSON-able value with every string in it (keys too) scanned: what
        goes into a JSON file is redacted before it is escaped, so a secret
        holding a quote or a backslash is found in its own spelling.

        Every string is first scanned once, joined by NUL: no secret holds a
        NUL (it comes from an environment variable) and no base64 run crosses
        one, so when the joined text has nothing to redact no string has (a
        transcript entry's hundred strings cost one scan, not a hundred)."""
        strings: list[str] = []
        _strings(value, strings)
        joined = "\x00".join(strings)
        if "\x00" not in "".join(strings) and self.scan(joined) == joined:
            return value
        return self._data(value)

    def _data(self, value: object) -> object:
        if isinstance(value, str):
            return self.scan(value)
        if isinstance(value, dict):
            return {self.scan(str(k)): self._data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._data(v) for v in value]
        return value

    def header(self, name: str, value: str) -> str:
        if name.lower() in SECRET_HEADERS:
            return REDACTED
        return self.scan(value)

    def headers(self, items: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(name, self.header(name, value)) for name, value in items]

    def url(self, url: str) -> str:
        """The marker is percent-encoded here: `<` and `>` would make the URL
        invalid, and HAR validators check that `request.url` is a URI."""
        return _FORM_FIELD.sub(rf"\1{URL_REDACTED}", self.scan(url, URL_REDACTED))

    def body(self, text: str) -> str:
        """OAuth fields (JSON or form-encoded) and known secrets redacted.

        Works on text, not parsed JSON, so a body cut at the cap, or not JSON
        at all, is redacted too, and a big body is not parsed twice.
        """
        text = self.scan(text)
        # Two substring tests on a lowered copy cost far less than running the
        # case-insensitive patterns over every 64 KiB export page.
        lowered = text.lower()
        if any(hint in lowered for hint in _FIELD_HINTS):
            text = _JSON_FIELD.sub(rf'\1"{REDACTED}"', text)
            text = _FORM_FIELD.sub(rf"\1{REDACTED}", text)
        return text


def _spellings(secret: str) -> Iterable[str]:
    """How a secret may appear on the wire or in a log."""
    raw = secret.encode("utf-8")
    yield secret
    yield quote(secret, safe="")
    yield quote_plus(secret, safe="")
    yield json.dumps(secret)[1:-1]
    yield json.dumps(secret, ensure_ascii=False)[1:-1]
    yield base64.b64encode(raw).decode("ascii")
    yield base64.urlsafe_b64encode(raw).decode("ascii")
    yield base64.b64encode(raw).decode("ascii").rstrip("=")


def _strings(value: object, into: list[str]) -> None:
    """Every string in a JSON-able value, keys too (as `data` scans them)."""
    if isinstance(value, str):
        into.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            into.append(str(key))
            _strings(item, into)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _strings(item, into)
