"""The one rule for files segrun reads because a user named them: specs, values
files, sandbox data files.

Such a path may be anything: `/proc/self/environ` (the secrets), a FIFO (blocks
forever), `/dev/zero` (endless), a directory, a symlink out of the project. So a
named input is read only if it is a regular file, no larger than a cap, and,
when a folder confines it, inside that folder once symlinks are resolved. It is
opened without blocking and checked on the open descriptor, so what is checked
is what is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class InputRefused(Exception):
    """The file cannot be read as an input; the message says why, without its contents."""


def confined_path(written: str, folder: Path) -> Path:
    """`written` (relative to `folder`) resolved, when it stays inside `folder`.

    Absolute paths and `..` are refused even when they happen to land inside: a
    spec is reviewed as text, and its inputs should visibly live beside it.
    """
    if any(ord(c) < 32 or c == "\x7f" for c in written):
        raise InputRefused("must not contain control characters")
    if os.path.isabs(written) or written.startswith("~"):
        raise InputRefused("must be a path relative to the spec's folder, not an absolute path")
    if ".." in Path(written.replace("\\", "/")).parts:
        raise InputRefused("must stay inside the spec's folder (no '..')")
    root = folder.resolve()
    resolved = (root / written).resolve()
    if resolved != root and root not in resolved.parents:
        raise InputRefused("is a link to a file outside the spec's folder")
    return resolved


def read_regular_file(path: str | os.PathLike, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes`, or InputRefused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputRefused("does not exist") from None
    except OSError as e:
        raise InputRefused(f"cannot be read: {e.strerror}") from None
    except ValueError:  # a NUL in the name
        raise InputRefused("cannot be a file name (it holds a NUL character)") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputRefused(f"is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > max_bytes:
            raise InputRefused(_too_large(max_bytes))
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:  # it grew while being read
                raise InputRefused(_too_large(max_bytes))
        return b"".join(chunks)
    except OSError as e:
        raise InputRefused(f"cannot be read: {e.strerror}") from None
    finally:
        os.close(fd)


def _too_large(max_bytes: int) -> str:
    return f"is larger than {max_bytes:,} bytes"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"
