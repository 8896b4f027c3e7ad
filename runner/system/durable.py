"""Every durable operation a run relies on, in one module.

`--resume` trusts what is on disk, so the ways segrun changes the disk are few
and named here: fsync a file, write a whole file atomically, rename, unlink,
each followed by an fsync of the directory so the change survives a power cut
(git's lockfile.c and SQLite's atomic commit do the same).

It is also the one place a file is opened for writing (tests/run/test_run_directory.py
holds every other module to it), so one rule keeps every write inside the files
segrun made: a file written in place (appended to, cut back, rewritten: a part
file, a transcript, a lock) is a regular file with exactly one name, never a
symlink and never a file with another hard link (a `cp -al` or `rsync
--link-dest` copy of a run directory shares its files' contents with the
original, and a write through one name changes both). Checked on the path
before opening and on the open descriptor after, so a swap between the two is
caught too. A rename or an unlink only ever changes the name in segrun's own
folder, never the file another link names: atomic writes replace a planted link
rather than write through it.

Each operation first passes `point()`, the test-only crash switch, read here
and nowhere else: with `SEGRUN_TEST_CRASH_AT` in the environment the process
SIGKILLs itself just before the operation it names, and
`SEGRUN_TEST_DURABLE_LOG=FILE` appends one line per operation, so a test can
walk a crash over every one (tests/run/test_crash_points.py). Unset, both cost
two dict lookups next to an fsync.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

CRASH_ENV = "SEGRUN_TEST_CRASH_AT"
LOG_ENV = "SEGRUN_TEST_DURABLE_LOG"
#: test-only: every path segrun creates, writes, renames onto or removes, one a line
#: (the tests derive from it each path a run writes, to plant links there)
WRITES_ENV = "SEGRUN_TEST_WRITES_LOG"

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


def wrote(path: str | os.PathLike[str]) -> None:
    """Note a path segrun writes, for a test that asked (`SEGRUN_TEST_WRITES_LOG`)."""
    log = os.environ.get(WRITES_ENV)
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{os.path.abspath(path)}\n")


class NotOwnFile(OSError):
    """A file segrun would write in place is not one of its own: a symlink, not a
    regular file, or a file with another hard link. Raised before a byte is written."""

    def __init__(self, path: str | os.PathLike[str], why: str) -> None:
        super().__init__(None, f"{why}: segrun writes only files of its own", os.fspath(path))
        self.why = why

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


def not_own(path: str | os.PathLike[str], info: os.stat_result) -> NotOwnFile | None:
    """Why a file with this `lstat` (or `fstat`) is not one segrun may write in place."""
    if stat.S_ISLNK(info.st_mode):
        return NotOwnFile(path, "is a symlink")
    if not stat.S_ISREG(info.st_mode):
        return NotOwnFile(path, "is not a regular file")
    if info.st_nlink != 1:
        return NotOwnFile(
            path,
            f"has {info.st_nlink} hard links (a copy made with `cp -al` or `rsync "
            "--link-dest`?), and a write would change the file its other names show too",
        )
    return None


def _open_own(path: str | os.PathLike[str], flags: int) -> int:
    """A descriptor on `path` (created with `os.O_CREAT`), which is a regular file of
    one name both before the open and on the descriptor after it. `os.O_TRUNC` is
    done only once both checks passed: opened with it, a hard link would be emptied."""
    truncate = flags & os.O_TRUNC
    flags = (flags & ~os.O_TRUNC) | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    wrote(path)
    try:
        before = os.lstat(path)
    except FileNotFoundError:
        problem = None
    else:
        if before.st_nlink == 0:  # removed as it was looked at (a lock let go): no file
            raise FileNotFoundError(errno.ENOENT, "removed as it was looked at", os.fspath(path))
        problem = not_own(path, before)
    if problem is not None:
        raise problem
    fd = os.open(path, flags, 0o666)
    try:
        info = os.fstat(fd)
        if info.st_nlink == 0:  # removed as it was opened (a lock let go): no file of a name
            raise FileNotFoundError(errno.ENOENT, "removed as it was opened", os.fspath(path))
        problem = not_own(path, info)
        if problem is not None:
            raise problem
        if truncate:
            os.ftruncate(fd, 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def opener(path: str, flags: int) -> int:
    """For `open(path, mode, opener=durable.opener)`: any mode, by the one rule."""
    return _open_own(path, flags)


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
    wrote(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    wrote(tmp)
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
    wrote(source)
    wrote(target)
    os.replace(source, target)
    fsync_dir(target.parent)


def unlink(path: Path) -> None:
    point(f"unlink {path.name}")
    wrote(path)
    try:
        path.unlink()
    except FileNotFoundError:
        return
    fsync_dir(path.parent)


def open_new(path: Path) -> int:
    """A file descriptor on a fresh, empty `path`: whatever stood there (a stale
    part file, a planted link) is removed first, which changes no other link's
    file, and the new file is created exclusively."""
    wrote(path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return _open_own(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)


def open_existing(path: Path) -> int:
    """A read-write descriptor on an existing file of segrun's own (NotOwnFile
    for a symlink or a file with another hard link)."""
    return _open_own(path, os.O_RDWR)


def open_lock(path: Path) -> int:
    """A read-write descriptor on a lock file, created when missing; of segrun's
    own like every file written in place (its holder is written into it)."""
    return _open_own(path, os.O_RDWR | os.O_CREAT)


def same_file(fd: int, path: Path) -> bool:
    """`path` still names the file open as `fd` (a lock file can be removed, and
    another made in its place, between an open and an flock)."""
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)


def remove_lock(fd: int, path: Path) -> None:
    """Remove a lock file while still holding it (`fd` locked), so a process that
    opened it meanwhile sees, once it gets the lock, that the name is gone
    (`same_file`) and locks the file now there instead. Not a durable step: a lock
    file a power cut leaves behind holds no lock."""
    if same_file(fd, path):
        wrote(path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def make_folder(folder: Path) -> bool:
    """`folder` created where missing (never over a file or a symlink): True when
    this call made it, so whoever made it can take it away again."""
    wrote(folder)
    for _ in range(10):  # one removed as it was found (an empty lock folder let go)
        try:
            os.mkdir(folder)  # the umask (runner/redaction/sink.py) makes it private
        except FileExistsError:
            try:
                info = os.lstat(folder)
            except FileNotFoundError:
                continue
            if not stat.S_ISDIR(info.st_mode):
                raise NotADirectoryError(
                    f"{folder} is not a folder (a file or a symlink stands there)"
                ) from None
            return False
        return True
    raise FileNotFoundError(errno.ENOENT, "removed each time it was made", os.fspath(folder))


def remove_folder_if_empty(folder: Path) -> bool:
    """Remove `folder` when nothing is in it (os.rmdir refuses otherwise, so a
    file another process put there meanwhile stays, with its folder)."""
    wrote(folder)
    try:
        os.rmdir(folder)
    except OSError:
        return False
    return True


def make_dirs(base: Path, relative: Path) -> Path:
    """`base/relative` as a directory, created where missing; a symlink or
    a file anywhere below `base` is refused, so nothing lands outside it."""
    folder = Path(base)
    for part in Path(relative).parts:
        folder = folder / part
        wrote(folder)
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


def temporary_of(path: Path) -> Callable[[str], bool]:
    """Whether a name is one `write_atomic(path, ...)` gives its temporary file."""
    pattern = re.compile(rf"\.{re.escape(Path(path).name)}\.[A-Za-z0-9_]{{8}}\.tmp")
    return lambda name: pattern.fullmatch(name) is not None


def remove_stale_temporaries(folder: Path, mine: Callable[[str], bool] = lambda name: True) -> None:
    """What crashed atomic writes left in `folder` (a checkpoint's may hold a token), of
    those names `mine` accepts: removed by the resume that supersedes them, under the
    folder's lock, so no write of a live process is ever among them. A planted link
    of such a name is unlinked too: that changes no other link's file."""
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        path = Path(folder) / name
        if is_stale_temporary(name) and mine(name) and not path.is_dir():
            unlink(path)


def current_umask() -> int:
    """The process umask (reading it means setting it: put straight back)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask
