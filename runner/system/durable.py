"""Every durable operation a run relies on, in one module.

`--resume` trusts what is on disk, so the ways segrun changes the disk are few
and named here: fsync a file, write a whole file atomically, rename, unlink,
each followed by an fsync of the directory so the change survives a power cut
(git's lockfile.c and SQLite's atomic commit do the same). Nothing is ever
written through a symlink that was already in the run directory.

Each operation first passes `point()`, the test-only crash switch, read here
and nowhere else: with `SEGRUN_TEST_CRASH_AT` in the environment the process
SIGKILLs itself just before the operation it names, and
`SEGRUN_TEST_DURABLE_LOG=FILE` appends one line per operation, so a test can
walk a crash over every one (tests/run/test_crash_points.py). Unset, both cost
two dict lookups next to an fsync.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import tempfile
from pathlib import Path

CRASH_ENV = "SEGRUN_TEST_CRASH_AT"
LOG_ENV = "SEGRUN_TEST_DURABLE_LOG"

_count = 0
_named: dict[str, int] = {}


def point(what: str) -> None:
    """Count one durable operation, and crash just before it when a test asks:
    `SEGRUN_TEST_CRASH_AT=N` (the N-th operation) or `=WHAT#K` (the K-th
    operation described as WHAT, e.g. `write report.json#2`)."""
    global _count
    crash_at, log = os.environ.get(CRASH_ENV), os.environ.get(LOG_ENV)
    if crash_at is None and log is None:
        return
    _count += 1
    _named[what] = _named.get(what, 0) + 1
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{_count} {what}\n")
    if crash_at is not None and crash_at in (str(_count), f"{what}#{_named[what]}"):
        os.kill(os.getpid(), signal.SIGKILL)


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a rename or unlink in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(fd: int, what: str) -> None:
    point(f"fsync {what}")
    os.fsync(fd)


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace `path` with `data` so readers see the old file or the new one.

    The temporary file lives in the same directory because os.replace is only
    atomic within one filesystem; os.replace swaps a symlink for a file rather
    than writing through it. The file gets the mode the process umask allows
    (mkstemp's fixed 0600 would ignore `--share-with-group`).
    """
    target = Path(path)
    point(f"write {target.name}")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~current_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        point(f"rename {target.name}")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(target.parent)


def rename(source: Path, target: Path) -> None:
    point(f"rename {source.name} -> {target.name}")
    os.replace(source, target)
    fsync_dir(target.parent)


def unlink(path: Path) -> None:
    point(f"unlink {path.name}")
    try:
        path.unlink()
    except FileNotFoundError:
        return
    fsync_dir(path.parent)


def open_new(path: Path) -> int:
    """A file descriptor on a fresh, empty `path`, never through a symlink:
    whatever stood there (a stale part file, a planted link) is removed first,
    and the new file is created exclusively."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)


def open_existing(path: Path) -> int:
    """A read-write descriptor on an existing file, refusing a symlink."""
    return os.open(path, os.O_RDWR | os.O_NOFOLLOW)


def make_dirs(base: Path, relative: Path) -> Path:
    """`base/relative` as a directory, created where missing; a symlink or
    a file anywhere below `base` is refused, so nothing lands outside it."""
    folder = Path(base)
    for part in Path(relative).parts:
        folder = folder / part
        try:
            os.mkdir(folder)  # the umask (runner/redaction/sink.py) makes it private
        except FileExistsError:
            if folder.is_symlink() or not folder.is_dir():
                raise NotADirectoryError(
                    f"{folder} is not a directory of this run (a file or a symlink stands there)"
                ) from None
        else:
            fsync_dir(folder.parent)
    return folder


#: the most bytes of a file segrun reads back (a report, a checkpoint, the state)
READ_BACK_CAP = 64 * 1024 * 1024


def read_back(path: Path, *, follow: bool = False, cap: int = READ_BACK_CAP) -> str:
    """The text of a file segrun wrote earlier, read without trusting it: a
    FIFO or device never blocks or floods (a regular file only, checked on the
    open descriptor), a planted symlink is refused unless `follow`, and the size
    is capped. FileNotFoundError when absent; another OSError or ValueError
    (UnicodeDecodeError included) when it is not such a file."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path} is not a regular file")
        if info.st_size > cap:
            raise ValueError(f"{path} is over {cap:,} bytes")
        with os.fdopen(os.dup(fd), "rb") as f:  # sized by the file, not the cap
            data = f.read(min(info.st_size, cap) + 1)
            if len(data) > info.st_size:  # it grew since: read on, to the cap
                data += f.read(cap + 1 - len(data))
    finally:
        os.close(fd)
    if len(data) > cap:
        raise ValueError(f"{path} is over {cap:,} bytes")
    return data.decode("utf-8")


def is_stale_temporary(name: str) -> bool:
    """A temporary file `write_atomic` left behind when a crash cut it short."""
    return name.startswith(".") and name.endswith(".tmp")


def remove_stale_temporaries(folder: Path) -> None:
    """What crashed atomic writes left in `folder` (a checkpoint's may hold a token):
    removed by the resume that supersedes them, under the folder's lock, so no write
    of a live process is ever among them."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    for name in names:
        path = Path(folder) / name
        if is_stale_temporary(name) and path.is_file() and not path.is_symlink():
            unlink(path)


def current_umask() -> int:
    """The process umask (reading it means setting it: put straight back)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask
