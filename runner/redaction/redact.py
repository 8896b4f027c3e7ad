"""Keep secrets out of everything segrun writes: the gate.

`Redactor.scan` is the gate, and reads top to bottom:

1. **Decode.** The text as written, then the same text with each layer of
   encoding a body, a header or a URL can hide a secret in undone: a byte-order
   mark; NULs (UTF-16 read as UTF-8); backslash escapes (JSON's `\\uXXXX`,
   surrogate pairs, `\\/`, `\\"`; Python's `\\xNN`); HTML and XML entities;
   percent-encoding in either hex case (bytes read as UTF-8, and as Latin-1;
   JavaScript's `%uXXXX`). Layers nest
   (`%255C`, JSON inside a JSON string) and each order of undoing them is a
   reading, so every order is read, a few steps deep. Every decoded view
   remembers where each of its characters was written.
2. **Known secrets.** Every secret registered (the configured secret, the OAuth
   client's, every token issued, every signature made) is looked for in every
   view: as itself, with `+` and space alike (form bodies), and in base64 or
   base64url, padded or not: on its own, or inside a longer base64 run at any
   of the three byte offsets a run can hold it at (of its UTF-8, its
   URL-encoded and its JSON-escaped spelling).
3. **Shapes.** Credentials nobody registered, by their shape: OAuth fields
   (`access_token` and its kin, in JSON or in a query, a fragment or a form),
   the credential after `Bearer` or `Basic`, PNAUTHINFO3's `Credential=` and
   `Signature=`, a JSON Web Token.
4. **Mask.** Each place found, mapped back to the characters as written
   (`%2b` or `\\u002b`, whole), is replaced by the marker.

The header rules sit on top (`header`): `Authorization` values whole, cookie
values in `Cookie` and `Set-Cookie`.

Short secrets: a secret is matched whatever its length, as itself and as a
base64 token standing alone (a one-letter secret also masks that letter in
ordinary text, and the run warns below 8 characters). Inside a longer base64
run only a spelling of at least 3 bytes is looked for: 1 or 2 bytes occur by
chance in any long run, and masking every run would hide everything.
"""

from __future__ import annotations

import base64
import bisect
import functools
import html
import json
import re
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import quote, quote_plus

REDACTED = "<redacted>"
URL_REDACTED = quote(REDACTED, safe="")

# Header values replaced whole: the scheme name alone says little and a
# PNAUTHINFO3 credential names the user.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization"})
# Cookies are bearer credentials: their values go, their names and attributes stay.
COOKIE_HEADERS = frozenset({"cookie", "set-cookie"})

# OAuth 2.0 (RFC 6749) and OpenID Connect field names whose values are always secret.
SECRET_FIELDS = ("access_token", "refresh_token", "client_secret", "id_token")

# A secret this short also matches ordinary text, so scrubbing it garbles the
# records; it is scrubbed all the same (a leak is worse), and the run warns.
SHORT_SECRET = 8

#: bytes a spelling needs before it is looked for inside a longer base64 run:
#: with fewer, some run holds it by chance, and every run would be masked
BASE64_INSIDE = 3

#: how many decoding steps deep the gate reads (a secret encoded three deep, after a
#: byte-order mark, is found), and how many readings of one text it compares at most
#: (a text with every kind of escape, in every order, would make hundreds)
DEPTH = 4
VIEWS = 64
#: between the strings `data` scans at once: the ASCII unit separator
_JOINER = "\x1f"

#: the longest spelling of one character, with room to spare: a surrogate pair of
#: JSON escapes, or four percent-encoded bytes, is 12 characters, 16 in base64
_WIDEST_CHAR = 32


class Redactor:
    """Replaces secrets by `<redacted>`; grows as tokens become known.

    Shared by every recorder of a run, so a token added after the OAuth call
    is redacted from then on everywhere. Thread-safe: what it knows is an
    immutable `_Known`, replaced whole when a secret is added.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._known = _Known(set(), set())
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Register secrets, whatever their length (None and empty strings are
        ignored). A secret read with surrounding whitespace (a trailing newline
        from a file or a token endpoint) is registered with and without it."""
        new = {v for s in secrets if s for v in (s, s.strip()) if v}
        if not new <= self._known.secrets:
            self._known = _Known(self._known.secrets | new, self._known.signatures)

    def add_signature(self, signature: str) -> None:
        """Register a base64 value produced per request (a PNAUTHINFO3
        signature): thousands a run, so they are found by shape and looked up
        in a set, not searched for one by one."""
        if signature and signature not in self._known.signatures:
            self._known = _Known(self._known.secrets, self._known.signatures | {signature})

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._known.secrets)

    @property
    def spans_lines(self) -> bool:
        """Whether a secret holds a line break before its end, so that a text
        scanned line by line could show it half on each line."""
        return self._known.spans_lines

    @property
    def longest_form(self) -> int:
        """How far a secret can straddle a cut: scan this much past a cap."""
        return self._known.longest

    # -- the gate ------------------------------------------------------------------
    def scan(self, text: str, marker: str = REDACTED) -> str:
        """`text` with every secret, in every spelling, and every credential
        found by its shape, replaced by `marker`. Until nothing more is found:
        masking can leave a spelling that was not one before (the end of a
        base64 run, cut off, is a whole token)."""
        return self._scan(text, marker)[0]

    def _scan(self, text: str, marker: str) -> tuple[str, bool]:
        """`scan`, and whether every reading of the text was compared (a text
        with more readings than VIEWS is masked where they show a secret, but
        its cleanness vouches for nothing)."""
        known = self._known  # one snapshot: another thread may add a secret meanwhile
        if not text or text in known.clean:
            return text, True
        written, complete = text, True
        while True:
            spans: list[tuple[int, int]] = []
            views = _Views(text)
            for view in views:  # 1. decode
                spans += known.find(view)  # 2. known secrets
                spans += _shapes(view)  # 3. shapes
            complete &= views.complete
            masked = _mask(text, spans, marker)  # 4. mask
            if masked == text:
                break
            text = masked
        if text is written and complete:
            known.remember_clean(text)
        return text, complete

    def literal(self, text: str, marker: str = REDACTED) -> str:
        """Known secrets in `text` as written, nothing decoded: for text built
        by escaping what `data` already passed (a JSON line), where escaping
        can only make a secret of escapes and punctuation, spelled plainly."""
        while spans := self._known.find(_View(text), plain_only=True):
            masked = _mask(text, spans, marker)
            if masked == text:
                break
            text = masked
        return text

    def head(self, text: str, keep: int, *, complete: bool = True) -> str:
        """The first `keep` characters of the redacted text, scanning only what
        that needs: `keep`, and twice the longest spelling past it, so a secret
        straddling the cut is found whole. A spelling the window itself cuts
        cannot be found, so the window's last stretch is never kept (when
        masking shortened what comes before, that stretch could slide under
        the cut). `complete`: `text` is all there is, not already a window."""
        reach = self.longest_form
        window = text[: keep + 2 * reach]
        masked = self.scan(window)
        if not complete or len(window) < len(text):
            masked = masked[: max(len(masked) - reach, 0)]
        return masked[:keep]

    # -- what the writers hand it ---------------------------------------------------
    def data(self, value: object) -> object:
        """A JSON-able value with every string in it (keys too) passed through
        the gate, and the value of any key named like an OAuth secret masked:
        what goes into a JSON file is redacted before it is escaped.

        Every string is first scanned once, joined by a character no decoding
        step reads and no string here holds (else they are scanned one by one):
        every reading of a string is then a reading of the joined text, so when
        that has nothing to redact, no string has (a transcript entry's hundred
        strings cost one scan, not a hundred)."""
        strings: list[str] = []
        if not _strings(value, strings):
            clean = self._known.clean
            joined = _JOINER.join(s for s in strings if s not in clean)
            if _JOINER not in "".join(strings) and self._scan(joined, REDACTED) == (joined, True):
                return value
        return self._data(value)

    def _data(self, value: object) -> object:
        if isinstance(value, str):
            return self.scan(value)
        if isinstance(value, dict):
            return {
                self.scan(str(k)): REDACTED if _is_secret_field(k, v) else self._data(v)
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [self._data(v) for v in value]
        return value

    def header(self, name: str, value: str) -> str:
        """A header as a transcript keeps it: credentials by the header's name,
        then the gate."""
        lowered = name.lower()
        if lowered in SECRET_HEADERS:
            return REDACTED
        if lowered in COOKIE_HEADERS:
            value = _cookie_values(value)
        return self.scan(value)

    def headers(self, items: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(name, self.header(name, value)) for name, value in items]

    def url(self, url: str) -> str:
        """The marker is percent-encoded here: `<` and `>` would make the URL
        invalid, and HAR validators check that `request.url` is a URI."""
        return self.scan(url, URL_REDACTED)

    def body(self, text: str) -> str:
        """A request or response body: the gate, which works on text, not parsed
        JSON, so a body cut at the cap, or not JSON at all, is redacted too."""
        return self.scan(text)


# -- 1. decode ---------------------------------------------------------------------
class _View:
    """A text with some layers of encoding undone, and the way back to the
    characters as written. The way back is worked out only when something was
    found (most texts hold no secret): `_edits` are (start, end) here and
    (start, end) in the view below, one per decoded piece, sorted; between them
    the two agree character for character."""

    __slots__ = ("text", "_below", "_step", "_edits", "_starts", "_b64")

    def __init__(self, text: str, below: _View | None = None, step: _Step | None = None) -> None:
        self.text = text
        self._below = below
        self._step = step
        self._edits: list[tuple[int, int, int, int]] | None = None
        self._starts: list[int] = []
        self._b64: str | None = None

    @property
    def b64(self) -> str:
        """The text with base64url's alphabet read as base64's (`-` `_` as `+` `/`):
        one search then finds both spellings; same length, same places."""
        if self._b64 is None:
            self._b64 = self.text.replace("-", "+").replace("_", "/")  # translate: 50x slower
        return self._b64

    def source(self, start: int, end: int) -> tuple[int, int]:
        """The characters as written that `text[start:end]` was decoded from."""
        view: _View | None = self
        while view is not None and view._below is not None:
            start, end = view._place(start, False), view._place(end - 1, True)
            view = view._below
        return start, end

    def _place(self, pos: int, after: bool) -> int:
        """Where the character at `pos` starts below (or ends, `after`)."""
        if self._edits is None:
            self._edits = _edits(self._below, self._step)
            self._starts = [e[0] for e in self._edits]
        i = bisect.bisect_right(self._starts, pos) - 1
        if i < 0:
            return pos + after
        start, end, below_start, below_end = self._edits[i]
        if pos < end:  # inside a decoded piece: all of what it was decoded from
            return below_end if after else below_start
        return below_end + (pos - end) + after


#: a decoding step: a character that must occur for it to apply, its pattern, and
#: what a match decodes to (pieces, each with its place in the match; or None to
#: leave it as written)
_Pieces = list[tuple[str, int, int]]
_Step = tuple[str, re.Pattern[str], Callable[[str], "_Pieces | None"]]


class _Views:
    """The text as written, then every view one more decoding step away, breadth
    first, each text once: every order of steps, because each is a reading (a
    secret holding a backslash, spelled with `%5C`, is there only when percent-
    encoding is undone first). At most DEPTH steps deep and VIEWS views (then
    `complete` is false); a text with nothing to decode is one view."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.complete = True

    def __iter__(self) -> Iterator[_View]:
        first = _View(self.text)
        yield first
        for trigger in _TRIGGERS:
            if trigger in self.text:
                break
        else:
            return  # nothing to decode: most texts
        seen = {self.text}
        level = [first]
        for _ in range(DEPTH):
            deeper = []
            for view in level:
                for step in _STEPS:
                    decoded = _decode(view, step)
                    if decoded is None or decoded.text in seen:
                        continue
                    if len(seen) >= VIEWS:
                        self.complete = False
                        return
                    seen.add(decoded.text)
                    deeper.append(decoded)
                    yield decoded
            level = deeper


def _decode(view: _View, step: _Step) -> _View | None:
    """`view` with `step` done, or None when it changes nothing. The pattern's
    own loop, in C, builds the text; the places wait until they are needed."""
    trigger, pattern, decode = step
    if trigger not in view.text:
        return None  # the test runs in C: most texts have nothing to decode

    text = pattern.sub(lambda m: _decoded(decode, m[0]), view.text)
    return None if text == view.text else _View(text, view, step)


@functools.lru_cache(maxsize=4096)
def _decoded(decode: Callable[[str], _Pieces | None], written: str) -> str:
    """What `written` decodes to: the same escapes come again and again (every
    `\\"` of a JSON string, every `\\u00e9`), so each is worked out once."""
    pieces = decode(written)
    return written if pieces is None else "".join(p[0] for p in pieces)


def _edits(below: _View | None, step: _Step | None) -> list[tuple[int, int, int, int]]:
    """The places of `step` done on `below`, for `_View._place`: the same matches
    and pieces as `_decode` made, in the same order."""
    assert below is not None and step is not None
    edits = []
    shift = 0  # how much shorter the text is here than below, so far
    for m in step[1].finditer(below.text):
        pieces = step[2](m[0])
        if pieces is None:
            continue
        start, end = m.span()
        here = start - shift
        for piece, offset, piece_end in pieces:
            edits.append((here, here + len(piece), start + offset, start + piece_end))
            here += len(piece)
        shift += (end - start) - (here - (start - shift))
    return edits


def _utf8_pieces(data: bytes, width: int) -> _Pieces:
    """Bytes each written in `width` characters (`%2B`, `\\x2b`) as characters,
    each with its place: UTF-8 where the bytes are UTF-8, else one character a
    byte (Latin-1, what a legacy form encoder meant)."""
    pieces: _Pieces = []
    i = 0
    while i < len(data):
        lead = data[i]
        size = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        try:
            char = data[i : i + size].decode("utf-8")
        except UnicodeDecodeError:
            char, size = chr(lead), 1
        pieces.append((char, i * width, (i + size) * width))
        i += size
    return pieces


_SIMPLE_ESCAPES = {"/": "/", '"': '"', "'": "'", "\\": "\\", "b": "\b", "f": "\f", "n": "\n"}
_SIMPLE_ESCAPES |= {"r": "\r", "t": "\t"}
_BACKSLASH = re.compile(
    r"\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"  # a surrogate pair
    r"|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})"
    r"|(x[0-9a-fA-F]{2}(?:\\x[0-9a-fA-F]{2})*)"  # Python's bytes, as repr() writes them
    r"|([/\"'\\bfnrt]))"
)


def _unbackslash(written: str) -> _Pieces | None:
    m = _BACKSLASH.fullmatch(written)
    assert m is not None
    high, low, code, wide, raw, simple = m.groups()
    if simple is not None:
        return [(_SIMPLE_ESCAPES[simple], 0, 2)]
    if high is not None:
        pair = 0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00)
        return [(chr(pair), 0, 12)]
    if raw is not None:
        return _utf8_pieces(bytes.fromhex(raw[1:].replace("\\x", "")), 4)
    number = int(code or wide, 16)
    if 0xD800 <= number <= 0xDFFF or number > 0x10FFFF:
        return None  # a lone surrogate is no character of any secret
    return [(chr(number), 0, len(written))]


_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def _unentity(written: str) -> _Pieces | None:
    plain = html.unescape(written)
    return None if plain == written else [(plain, 0, len(written))]


_PERCENT = re.compile(r"(?:%[0-9a-fA-F]{2})+|(?:%[uU][0-9a-fA-F]{4})+")


def _unpercent(written: str) -> _Pieces:
    """Bytes as UTF-8; or JavaScript's `escape()` spelling, `%uXXXX`, UTF-16 code
    units (a surrogate pair is one character; a lone surrogate is none, and
    stays as written)."""
    if written[1] not in "uU":
        return _utf8_pieces(bytes.fromhex(written.replace("%", "")), 3)
    units = [int(written[i + 2 : i + 6], 16) for i in range(0, len(written), 6)]
    pieces: _Pieces = []
    i = 0
    while i < len(units):
        unit = units[i]
        if 0xD800 <= unit < 0xDC00 and i + 1 < len(units) and 0xDC00 <= units[i + 1] < 0xE000:
            char = chr(0x10000 + ((unit - 0xD800) << 10) + (units[i + 1] - 0xDC00))
            pieces.append((char, 6 * i, 6 * i + 12))
            i += 2
            continue
        lone = 0xD800 <= unit < 0xE000  # no character: left as written
        pieces.append((written[6 * i : 6 * i + 6] if lone else chr(unit), 6 * i, 6 * i + 6))
        i += 1
    return pieces


#: bytes past ASCII, percent-encoded: a legacy form, or JavaScript's escape(), meant
#: Latin-1 where UTF-8 reads something else (`%C3%A9` is "é" and "Ã©"): both are read
_PERCENT_BYTES = re.compile(r"(?:%[0-9a-fA-F]{2})+")


def _unpercent_latin1(written: str) -> _Pieces | None:
    data = bytes.fromhex(written.replace("%", ""))
    if data.isascii():
        return None  # read alike either way: the other step has it
    return [(chr(byte), 3 * i, 3 * i + 3) for i, byte in enumerate(data)]


_STEPS: list[_Step] = [  # _TRIGGERS, below, are their first characters
    # a byte-order mark, and the NULs of UTF-16 text read as if it were UTF-8
    ("\ufeff", re.compile("\ufeff"), lambda written: [("", 0, 1)]),
    ("\x00", re.compile("\x00"), lambda written: [("", 0, 1)]),
    ("\\", _BACKSLASH, _unbackslash),
    ("&", _ENTITY, _unentity),
    ("%", _PERCENT, _unpercent),
    ("%", _PERCENT_BYTES, _unpercent_latin1),
]
_TRIGGERS = tuple(step[0] for step in _STEPS)


# -- 2. known secrets ----------------------------------------------------------------
_URLSAFE = str.maketrans("-_", "+/")  # for the few signature forms, not for texts
_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
#: a base64 run in a view's `b64` text, long enough to hold a signature: found by
#: a character class the regex engine runs in C, the lookbehind keeping it from
#: starting again inside a run
_B64_RUN = "[A-Za-z0-9+/=]"
_LONG_RUNS: dict[int, re.Pattern[str]] = {}
#: each byte of a run as "A", any other as a space
_RUN_BYTES = bytes(65 if chr(b) in _B64_CHARS or b == 61 else 32 for b in range(256))


class _Known:
    """What the gate looks for, built once per secret added: the needles of
    every secret in every spelling, and the signatures."""

    __slots__ = (
        "secrets",
        "signatures",
        "plain",
        "cores",
        "tokens",
        "windows",
        "longest",
        "spans_lines",
        "clean",
    )

    def __init__(self, secrets: Iterable[str], signatures: Iterable[str]) -> None:
        self.secrets = frozenset(secrets)
        self.signatures = frozenset(signatures)
        #: each secret as itself, + and space alike: a literal, or a pattern, with
        #: the longest stretch it has no + or space in, to test for first
        self.plain: list[tuple[str, str | re.Pattern[str]]] = []
        cores: set[str] = set()
        tokens: set[str] = set()
        for secret in self.secrets:
            self.plain.append(_plain_needle(secret))
            for spelling in _inner_spellings(secret):
                if len(spelling) >= BASE64_INSIDE:
                    cores.update(_cores(spelling))
                else:
                    tokens.add(base64.b64encode(spelling).decode("ascii").rstrip("="))
        #: base64 found inside any run: the characters that depend on the secret
        #: alone, at each of the three byte offsets
        self.cores = tuple(cores)
        #: base64 of a short spelling, found only as a whole token
        self.tokens = tuple(tokens)
        #: signatures and their spellings, by length: looked up in a set
        self.windows: dict[int, set[str]] = {}
        for signature in self.signatures:
            for form in _signature_forms(signature):
                self.windows.setdefault(len(form), set()).add(form)
        self.longest = max([_WIDEST_CHAR * len(s) + 4 for s in self.secrets] + [*self.windows, 0])
        self.spans_lines = any("\n" in s.rstrip("\r\n") for s in self.secrets)
        #: big strings found clean by this snapshot: a transcript body is scanned as
        #: a field, then again among its HAR entry's strings
        self.clean: dict[str, None] = {}

    def remember_clean(self, text: str) -> None:
        if len(text) < 4096:
            return  # a small one costs less to scan again than to keep
        try:
            if len(self.clean) >= 16:
                del self.clean[next(iter(self.clean))]
            self.clean[text] = None
        except (RuntimeError, KeyError, StopIteration):  # another thread got there first
            pass

    def find(self, view: _View, plain_only: bool = False) -> list[tuple[int, int]]:
        """Where any known secret is in `view`, as places in the text as written."""
        found: list[tuple[int, int]] = []
        text = view.text
        # Each test is `in`, run in C, and most texts pass them all: no call, no
        # list, no pattern for a needle that is not there (a terminal line costs
        # a few microseconds).
        for anchor, needle in self.plain:
            if anchor in text:
                found += _occurrences(text, needle)
        if not plain_only and (self.cores or self.tokens or self.windows):
            b64 = view.b64
            for core in self.cores:
                if core in b64:
                    found += [_widened(b64, s, e) for s, e in _occurrences(b64, core)]
            for token in self.tokens:
                if token in b64:
                    found += [
                        _padded(b64, s, e) for s, e in _occurrences(b64, token) if _alone(b64, s, e)
                    ]
            if self.windows:
                found += self._signatures(b64)
        if not found:
            return found
        return [view.source(s, e) for s, e in _merged(found)]

    def _signatures(self, b64: str) -> list[tuple[int, int]]:
        """Base64 runs holding a signature, each whole."""
        lengths = sorted(self.windows)
        shortest = lengths[0]
        # Is there a run that long at all? Bytes' translate and a search for a row
        # of "A"s say so in C at a tenth of the pattern's cost; few texts have one.
        runs = b64.encode("utf-8", "surrogatepass").translate(_RUN_BYTES)
        if b"A" * shortest not in runs:
            return []
        pattern = _LONG_RUNS.get(shortest)
        if pattern is None:
            pattern = re.compile(f"(?<!{_B64_RUN}){_B64_RUN}{{{shortest},}}")
            _LONG_RUNS[shortest] = pattern
        found = []
        for m in pattern.finditer(b64):
            run = m.group()
            if any(
                run[i : i + n] in self.windows[n] for n in lengths for i in range(len(run) - n + 1)
            ):
                found.append(m.span())
        return found


def _plain_needle(secret: str) -> tuple[str, str | re.Pattern[str]]:
    """A secret as itself; where it holds `+` or a space, either stands for
    both (a form body writes a space as `+`). With what to test for first."""
    if "+" not in secret and " " not in secret:
        return secret, secret
    anchor = max(re.split("[+ ]", secret), key=len)
    return anchor, re.compile("".join("[+ ]" if c in "+ " else re.escape(c) for c in secret))


def _inner_spellings(secret: str) -> set[bytes]:
    """What base64 may have been made of: the secret's UTF-8; URL-encoded or
    form-encoded (OAuth's Basic credentials are form-encoded first), in either
    hex case; JSON-escaped, in either hex case or with only what must be (a
    JSON Web Token's claims)."""
    raw = _utf8(secret)
    ascii_json = json.dumps(secret)[1:-1]
    spellings = {
        raw,
        json.dumps(secret, ensure_ascii=False)[1:-1].encode("utf-8", "surrogatepass"),
    }
    for spelling in (quote(raw, safe=""), quote_plus(raw, safe=""), ascii_json):
        spellings.add(spelling.encode("ascii"))
        spellings.add(_HEX.sub(lambda m: m[0].swapcase(), spelling).encode("ascii"))
    return spellings


#: the hex digits of a percent or JSON escape (their letters change case alone)
_HEX = re.compile(r"(?<=%)[0-9A-Fa-f]{2}|(?<=\\u)[0-9A-Fa-f]{4}")


def _utf8(text: str) -> bytes:
    """UTF-8, and the bytes an environment variable that was not UTF-8 held
    (Python reads those as lone surrogates)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _cores(spelling: bytes) -> Iterator[str]:
    """The base64 characters that depend on `spelling` alone, when it starts
    0, 1 or 2 bytes into a 3-byte group of a longer run."""
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + spelling + bytes(2)).decode("ascii")
        first = -(-8 * offset // 6)  # the first character holding none of the bytes before
        last = (8 * (offset + len(spelling))) // 6  # past the last holding none after
        if last > first:
            yield encoded[first:last]


def _signature_forms(signature: str) -> set[str]:
    """A signature as sent, unpadded, and as base64 itself (in `b64` spelling:
    base64url reads as base64 there)."""
    std = signature.translate(_URLSAFE)
    again = base64.b64encode(signature.encode("ascii", "replace")).decode("ascii")
    return {std, std.rstrip("="), again, again.rstrip("=")}


def _occurrences(text: str, needle: str | re.Pattern[str]) -> list[tuple[int, int]]:
    """Every place of `needle` in `text`, overlapping ones too."""
    if isinstance(needle, str):
        if needle not in text:  # the test runs in C: most texts hold no secret
            return []
        found, i = [], text.find(needle)
        while i >= 0:
            found.append((i, i + len(needle)))
            i = text.find(needle, i + 1)
        return found
    found, i = [], 0
    while (m := needle.search(text, i)) is not None:
        found.append(m.span())
        i = m.start() + 1
    return found


def _widened(b64: str, start: int, end: int) -> tuple[int, int]:
    """A core with the characters on either side that hold part of the secret's
    bits, and any padding after."""
    if start > 0 and b64[start - 1] in _B64_CHARS:
        start -= 1
    if end < len(b64) and b64[end] in _B64_CHARS:
        end += 1
    return _padded(b64, start, end)


def _padded(b64: str, start: int, end: int) -> tuple[int, int]:
    while end < len(b64) and b64[end] == "=":
        end += 1
    return start, end


def _alone(b64: str, start: int, end: int) -> bool:
    """A whole base64 token: no base64 character on either side (its padding, if
    any, ends it whatever follows)."""
    before = start > 0 and b64[start - 1] in _B64_CHARS
    after = end < len(b64) and b64[end] in _B64_CHARS
    return not before and not after


# -- 3. shapes -------------------------------------------------------------------------
_NAMES = "|".join(SECRET_FIELDS)
_FIELD_HINTS = ("_token", "client_secret")
assert all(any(h in name for h in _FIELD_HINTS) for name in SECRET_FIELDS)


class _Shape:
    """A credential's shape: what it cannot do without, as written (tested
    first, in C), words it holds in some letter case (tested on a lowered copy),
    and its pattern, whose group 1 (or whole match) is the credential."""

    def __init__(
        self, needs: tuple[str, ...], hints: tuple[str, ...], pattern: str, flags: int = 0
    ) -> None:
        self.needs, self.hints, self.pattern = needs, hints, re.compile(pattern, flags)


_SHAPES = [
    # An OAuth field in JSON. The value may run to the end of the text: a body cut
    # at the cap can end inside a token, and that half-token must not survive.
    _Shape(
        ("_", '"'),
        _FIELD_HINTS,
        rf'"(?:{_NAMES})"\s*:\s*"((?:[^"\\\x00\x1f]|\\.)*)(?:"|\\?(?:$|[\x00\x1f]))',
        re.IGNORECASE,
    ),
    # An OAuth field in a query, a fragment (`#access_token=`), a form or a cookie.
    _Shape(
        ("_", "="),
        _FIELD_HINTS,
        rf"(?:^|(?<=[&?#;,\s]))(?:{_NAMES})=([^&\s#\"'\\<>\x00]+)",
        re.IGNORECASE,
    ),
    # The credential after an HTTP authentication scheme, in any header or text;
    # not a word of lower-case letters ("basic information" is prose).
    _Shape(
        (),
        ("bearer", "basic"),
        r"\b(?i:bearer|basic)\s+(?![a-z]+(?![A-Za-z0-9._~+/=-]))([A-Za-z0-9._~+/-]{8,}=*)",
    ),
    # PNAUTHINFO3's parts: `Credential=<user>/<issued>` names the user.
    _Shape(
        ("=",),
        ("credential=", "signature="),
        r"\b(?:credential|signature)=([^\s,;\"'&<>\x00]+)",
        re.IGNORECASE,
    ),
    # A JSON Web Token: base64url of `{"`, a dot, a payload, a dot, a signature.
    _Shape(("eyJ",), (), r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"),
]


def _shapes(view: _View) -> list[tuple[int, int]]:
    """Credentials found by their shape in `view`, as places in the text as written."""
    text = view.text
    lowered = None
    found = []
    for shape in _SHAPES:
        for need in shape.needs:
            if need not in text:
                break
        else:
            if shape.hints:
                if lowered is None:
                    lowered = _ascii_lower(text)
                for hint in shape.hints:
                    if hint in lowered:
                        break
                else:
                    continue
            for m in shape.pattern.finditer(text):
                span = m.span(1) if shape.pattern.groups else m.span()
                if span[1] > span[0]:
                    found.append(span)
    if not found:
        return found
    return [view.source(s, e) for s, e in _merged(found)]


def _ascii_lower(text: str) -> str:
    """A lowered copy to test for ASCII words in: lower() is fast on ASCII text
    only, so other characters are dropped first."""
    if not text.isascii():
        text = text.encode("ascii", "ignore").decode("ascii")
    return text.lower()


#: a cookie's name=value, or an attribute of one (which keeps its value)
_COOKIE_PAIR = re.compile(r"((?:^|[;,])\s*([^\s=;,]+)\s*=)[^;,]*")
_COOKIE_ATTRIBUTES = {"expires", "max-age", "domain", "path", "samesite", "priority"}


def _cookie_values(value: str) -> str:
    """`Cookie` and `Set-Cookie` with every cookie's value masked; names and
    attributes (Path, Expires...) stay, they say what was set."""
    return _COOKIE_PAIR.sub(
        lambda m: m[0] if m[2].lower() in _COOKIE_ATTRIBUTES else m[1] + REDACTED, value
    )


def _is_secret_field(key: object, value: object) -> bool:
    return isinstance(value, str) and bool(value) and str(key).lower() in SECRET_FIELDS


# -- 4. mask ---------------------------------------------------------------------------
_MARKERS = re.compile("|".join(map(re.escape, (REDACTED, URL_REDACTED))))


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching spans as one."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def _mask(text: str, spans: list[tuple[int, int]], marker: str) -> str:
    """Each span replaced by `marker`. A marker already there is never masked
    again (a one-letter secret would eat it, scan after scan); a span reaching
    into one takes it whole."""
    if not spans:
        return text
    markers = [m.span() for m in _MARKERS.finditer(text)] if "redacted" in text else []
    kept = []
    for start, end in _merged(spans):
        # the markers this span touches: those ending after it starts, up to the
        # first starting at or after its end (markers never overlap)
        i = bisect.bisect_right(markers, (start, len(text) + 1)) - 1
        i = max(i, 0)
        inside = False
        while i < len(markers) and markers[i][0] < end:
            m_start, m_end = markers[i]
            if m_end > start:
                if m_start <= start and end <= m_end:
                    inside = True
                    break
                start, end = min(start, m_start), max(end, m_end)
            i += 1
        if not inside:
            kept.append((start, end))
    out, done = [], 0
    for start, end in _merged(kept):
        out += [text[done:start], marker]
        done = end
    out.append(text[done:])
    return "".join(out)


def _strings(value: object, into: list[str]) -> bool:
    """Every string in a JSON-able value, keys too (as `data` scans them); true
    when some key names an OAuth secret (its value goes, whatever it says)."""
    if isinstance(value, str):
        into.append(value)
    elif isinstance(value, dict):
        secret_field = False
        for key, item in value.items():
            into.append(str(key))
            secret_field |= _is_secret_field(key, item)
            secret_field |= _strings(item, into)
        return secret_field
    elif isinstance(value, (list, tuple)):
        return any([_strings(item, into) for item in value])
    return False
