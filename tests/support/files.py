"""What a folder holds, to compare before and after a command: the tests that nothing
outside a run directory changed, and that a refused start left nothing behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def tree(
    folder: Path, *, itself: bool = True, written: bool = False
) -> dict[str, tuple[bytes | None, int] | tuple[bytes | None, int, int]]:
    """Every path under `folder` (and `itself`, when it exists): its bytes (None for a
    folder, a link's target for a link) and its mode as lstat sees them; `written` adds
    when it was last written (a file rewritten with the very bytes it held was still
    written)."""
    if not folder.exists():
        return {}
    paths = [folder] if itself else []
    seen: dict[str, tuple[bytes | None, int] | tuple[bytes | None, int, int]] = {}
    for path in [*paths, *sorted(folder.rglob("*"))]:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            content: bytes | None = os.readlink(path).encode()
        elif stat.S_ISREG(info.st_mode):
            content = path.read_bytes()
        else:
            content = None
        name = str(path.relative_to(folder))
        seen[name] = (
            (content, info.st_mode, info.st_mtime_ns) if written else (content, info.st_mode)
        )
    return seen
