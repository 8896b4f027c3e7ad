"""The one place failures become messages and exit codes (cf. pre-commit's
error_handler): commands raise, they never print their own tracebacks.

What the machine refuses (a full disk, a read-only folder, a file where a
folder should be) is the user's to fix, not a bug: one line, exit 2 (the run
command turns one that strikes after sending into exit 1). Messages are printed
to stderr, which is the redaction gate's stream (`runner.redaction.sink`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import click

from runner import exitcodes


class SegrunError(Exception):
    """A failure explained to the user in one line, with the exit code it means."""

    exit_code = exitcodes.INVALID

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(SegrunError):
    exit_code = exitcodes.INVALID


# What an OSError means for the user, by errno: the machine, not segrun.
_ENVIRONMENT = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a path component is a file, not a folder",
    errno.EISDIR: "a folder is where a file should be",
    errno.EEXIST: "something is already there",
    errno.ENOENT: "no such file or folder",
    errno.ENAMETOOLONG: "the name is too long",
    errno.ELOOP: "too many symbolic links",
    errno.EMFILE: "too many open files",
    errno.EIO: "an input/output error",
}


def missing_folder(folder: Path) -> str:
    """Why a path given on the command line has no folder to go in. segrun never creates
    the parents of a path the user typed: a typo or an unmounted volume must not become a
    fresh, empty place that silently changes what the run does."""
    if folder.exists():
        return f"{folder} is not a folder"
    return f"the folder {folder} does not exist (is it mounted?); create it, or correct the path"


def describe_os_error(error: OSError) -> str:
    """One line for an environment failure: what, and where."""
    what = _ENVIRONMENT.get(error.errno) or error.strerror or type(error).__name__
    where = error.filename
    if where is None:
        return what
    also = f" -> {error.filename2}" if error.filename2 is not None else ""
    return f"{where}{also}: {what}"


@contextlib.contextmanager
def error_handler() -> Iterator[None]:
    try:
        yield
    except SegrunError as e:
        print(f"segrun: error: {e}", file=sys.stderr)
        raise SystemExit(e.exit_code) from None
    except KeyboardInterrupt:
        print("segrun: interrupted", file=sys.stderr)
        raise SystemExit(exitcodes.INTERRUPTED) from None
    except OSError as e:  # the disk or a folder, before anything was sent
        print(f"segrun: error: {describe_os_error(e)}", file=sys.stderr)
        raise SystemExit(exitcodes.INVALID) from None
    except (SystemExit, GeneratorExit, click.exceptions.Exit, click.ClickException, click.Abort):
        raise  # click reports its own usage errors (exit 2) and --help exits
    except RecursionError:  # input nested deeper than any real one, wherever it came from
        print("segrun: error: input nested too deeply to process", file=sys.stderr)
        raise SystemExit(exitcodes.INVALID) from None
    except Exception as e:  # a bug in segrun, not bad input
        if os.environ.get("SEGRUN_DEBUG"):
            traceback.print_exc()
        print(
            f"segrun: internal error: {type(e).__name__}: {e} "
            "(this is a bug; set SEGRUN_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        raise SystemExit(70) from None
