"""Where a credential turns up after a run: every spelling of it, in every file of
the folders given and in every stream."""

from __future__ import annotations

import base64
import codecs
import html
import json
import re
import warnings
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote, unquote_plus


def spellings(secret: str) -> set[str]:
    """Every way a secret could be written down: raw, URL-encoded (either hex case),
    JSON-escaped (as needed, or every character), base64 and base64url."""
    raw = secret.encode()
    forms = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        _percent(raw, lower=True),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        _json_all(secret),
        _json_all(secret, upper=True),
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    stripped = secret.strip()
    if stripped != secret:
        forms |= spellings(stripped)
    return {f for f in forms if f}


def _without_nuls(text: str) -> str:
    """UTF-16 text read as if it were UTF-8: every other character a NUL (or, once
    escaped in JSON, a \\u0000)."""
    return text.replace("\\u0000", "").replace("\x00", "")


def leaks(secret: str, folders: list[Path], streams: list[str], fragment: int = 0) -> list[str]:
    """Where any spelling of `secret` turns up: file paths or stream numbers. With
    `fragment`, any piece of that many characters of a secret at least twice as long
    counts too (half a secret cut short is a leak)."""
    forms = spellings(secret)
    pieces = set()
    if fragment and len(secret) >= 2 * fragment:
        pieces = {secret[i : i + fragment] for i in range(len(secret) - fragment + 1)}
    found = []
    for folder in folders:
        if not folder.exists():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            text = path.read_bytes().decode("utf-8", "replace")
            text += "\n" + _without_nuls(text)
            found += [f"{path}: {form!r}" for form in forms if form in text]
            if not any(form in text for form in forms):
                found += [f"{path}: piece {p!r}" for p in sorted(pieces) if p in text][:1]
    for number, text in enumerate(streams):
        text += "\n" + _without_nuls(text)
        found += [f"stream {number}: {form!r}" for form in forms if form in text]
        found += [f"stream {number}: piece {p!r}" for p in sorted(pieces) if p in text][:1]
    return found


# -- every spelling the gate promises to catch, and a check that decodes on its own ------
def _percent(data: bytes, lower: bool = False, plus: bool = False) -> str:
    """Every byte but the unreserved ones as %XX (or a space as +)."""
    out = []
    for b in data:
        c = chr(b)
        if c.isascii() and (c.isalnum() or c in "-._~"):
            out.append(c)
        elif plus and c == " ":
            out.append("+")
        else:
            out.append(f"%{b:02x}" if lower else f"%{b:02X}")
    return "".join(out)


def _json_all(secret: str, upper: bool = False) -> str:
    """Every character as a \\u escape, astral ones as a surrogate pair."""
    units = secret.encode("utf-16-be")
    codes = [int.from_bytes(units[i : i + 2], "big") for i in range(0, len(units), 2)]
    return "".join(f"\\u{c:04X}" if upper else f"\\u{c:04x}" for c in codes)


def _b64(data: bytes, urlsafe: bool = False, pad: bool = True) -> str:
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode()
    return text if pad else text.rstrip("=")


def _js_escape(secret: str) -> str:
    """JavaScript's legacy escape(): Latin-1 as %XX, the rest as %uXXXX per UTF-16 unit."""
    out = []
    for unit in _utf16_units(secret):
        c = chr(unit)
        if c.isascii() and (c.isalnum() or c in "@*_+-./"):
            out.append(c)
        else:
            out.append(f"%{unit:02X}" if unit < 256 else f"%u{unit:04X}")
    return "".join(out)


def _utf16_units(secret: str) -> list[int]:
    units = secret.encode("utf-16-be")
    return [int.from_bytes(units[i : i + 2], "big") for i in range(0, len(units), 2)]


def _half(secret: str, first, second) -> str:
    """The first half in one spelling, the rest in another."""
    cut = len(secret) // 2
    return first(secret[:cut]) + second(secret[cut:])


#: how a secret is spelled where the gate must still see it (text, whatever the context)
SPELLINGS: dict[str, object] = {
    "raw": lambda s: s,
    "url-encoded": lambda s: _percent(s.encode()),
    "url-encoded, lower-case hex": lambda s: _percent(s.encode(), lower=True),
    "form-encoded": lambda s: _percent(s.encode(), plus=True),
    "form-encoded, lower-case hex": lambda s: _percent(s.encode(), lower=True, plus=True),
    "url-encoded twice": lambda s: _percent(_percent(s.encode()).encode()),
    "json": lambda s: json.dumps(s)[1:-1],
    "json, not ascii": lambda s: json.dumps(s, ensure_ascii=False)[1:-1],
    "json, every character escaped": _json_all,
    "json, every character escaped, upper-case hex": lambda s: _json_all(s, upper=True),
    "json with escaped slashes": lambda s: json.dumps(s)[1:-1].replace("/", "\\/"),
    "json after a byte-order mark": lambda s: "\ufeff" + _json_all(s),
    "json inside a json string": lambda s: json.dumps(json.dumps(s))[1:-1],
    "html entities": lambda s: "".join(f"&#x{ord(c):x};" for c in s),
    "python's repr of its bytes": lambda s: repr(s.encode())[2:-1],
    "javascript's escape()": lambda s: _js_escape(s),
    "half url-encoded, half json": lambda s: _half(
        s, lambda a: _percent(a.encode(), lower=True), _json_all
    ),
    "half raw, half url-encoded": lambda s: _half(s, lambda a: a, lambda b: _percent(b.encode())),
    "base64": lambda s: _b64(s.encode()),
    "base64 unpadded": lambda s: _b64(s.encode(), pad=False),
    "base64url": lambda s: _b64(s.encode(), urlsafe=True),
    "base64url unpadded": lambda s: _b64(s.encode(), urlsafe=True, pad=False),
    "base64 of the url-encoded": lambda s: _b64(_percent(s.encode()).encode()),
    "base64url of the form-encoded": lambda s: _b64(
        _percent(s.encode(), plus=True).encode(), urlsafe=True, pad=False
    ),
    "base64 of the json": lambda s: _b64(json.dumps(s)[1:-1].encode()),
    "base64, url-encoded": lambda s: _percent(_b64(s.encode()).encode(), lower=True),
}


def in_base64_run(secret: str, before: bytes, after: bytes, urlsafe: bool) -> str:
    """The secret's UTF-8 inside a longer base64 run, `len(before) % 3` bytes into a
    3-byte group (the three ways a run can hold it)."""
    return _b64(before + secret.encode() + after, urlsafe=urlsafe, pad=False)


_JSON_ESCAPE = re.compile(
    r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"
    r'|\\u([0-9a-fA-F]{4})|\\(["\\\\/bfnrt])'
)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]+")


def _json_unescaped(text: str) -> str:
    def undo(m: re.Match) -> str:
        if m[1]:
            return (bytes.fromhex(m[1]) + bytes.fromhex(m[2])).decode("utf-16-be")
        if m[3]:
            code = int(m[3], 16)
            return m[0] if 0xD800 <= code <= 0xDFFF else chr(code)
        return {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}.get(m[4], m[4])

    return _JSON_ESCAPE.sub(undo, text)


def _js_unescaped(text: str) -> str:
    """JavaScript's unescape(): %uXXXX as UTF-16 units, %XX as Latin-1."""

    def undo(m: re.Match) -> str:
        data = b"".join(
            int(part[1:], 16).to_bytes(2, "big") if part[0] in "uU" else bytes([0, int(part, 16)])
            for part in re.findall(r"u[0-9a-fA-F]{4}|[0-9a-fA-F]{2}", m[0].replace("%", ""))
        )
        return (
            data.decode("utf-16-be", "surrogatepass")
            .encode("utf-16", "surrogatepass")
            .decode("utf-16", "replace")
        )

    return re.sub(r"(?:%(?:[uU][0-9a-fA-F]{4}|[0-9a-fA-F]{2}))+", undo, text)


def _bytes_unescaped(text: str) -> str:
    """Python's bytes escapes undone by Python's own codec (text it cannot read stays)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "\\8" and the like: kept
        try:
            return codecs.escape_decode(text.encode())[0].decode("utf-8", "replace")
        except ValueError:
            return text


def readings(text: str) -> set[str]:
    """`text` read every way the spellings above can be read back, each decoder
    applied on its own and after the others (not the gate's code: the standard
    library's, and a JSON unescaper of this module's own)."""
    out = {text}
    for _ in range(3):
        for seen in list(out):
            out |= {
                unquote(seen),
                unquote_plus(seen),
                html.unescape(seen),
                _json_unescaped(seen),
                _bytes_unescaped(seen),
                _js_unescaped(seen),
                seen.replace("\ufeff", ""),
            }
    return out


def spelled_in(secret: str, output: str) -> list[str]:
    """How `secret` can still be read in `output`, markers aside: as itself in any
    reading of the output, or inside a base64 run of any reading (at any offset,
    in either alphabet) when its UTF-8, URL-encoded or JSON spelling is at least 3
    bytes long; a shorter one only as a whole base64 token (the gate's rule)."""
    for marker in ("<redacted>", "%3Credacted%3E"):
        output = output.replace(marker, "\x00")
    found = []
    inner = {
        secret.encode(),
        _percent(secret.encode()).encode(),
        _percent(secret.encode(), lower=True).encode(),
        _percent(secret.encode(), plus=True).encode(),
        json.dumps(secret)[1:-1].encode(),
    }
    for reading in readings(output):
        if secret in reading or (secret.replace(" ", "+") in reading):
            found.append(f"as itself in {reading!r}")
        plain = reading.replace("-", "+").replace("_", "/")
        for run in _BASE64_RUN.findall(plain):
            for offset in range(4):
                piece = run[offset:]
                piece = piece[: len(piece) - len(piece) % 4]
                decoded = base64.b64decode(piece) if piece else b""
                for spelling in inner:
                    short = len(spelling) < 3
                    if (short and run == _b64(spelling, pad=False)) or (
                        not short and spelling in decoded
                    ):
                        found.append(f"{spelling!r} in base64 run {run!r}")
    return found
