"""Where a credential turns up after a run: every spelling of it, in every file of
the folders given and in every stream."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote, quote_plus


def spellings(secret: str) -> set[str]:
    """Every way a secret could be written down: raw, URL-encoded, JSON-escaped, base64."""
    raw = secret.encode()
    forms = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    stripped = secret.strip()
    if stripped != secret:
        forms |= spellings(stripped)
    return {f for f in forms if f}


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
            found += [f"{path}: {form!r}" for form in forms if form in text]
            if not any(form in text for form in forms):
                found += [f"{path}: piece {p!r}" for p in sorted(pieces) if p in text][:1]
    for number, text in enumerate(streams):
        found += [f"stream {number}: {form!r}" for form in forms if form in text]
        found += [f"stream {number}: piece {p!r}" for p in sorted(pieces) if p in text][:1]
    return found
