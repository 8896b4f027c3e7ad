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
from typing import Literal, get_args

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


#: Why a job stopped, in one word: what advice (runner/records/hints.py), the report's
#: `kind` and anything that reacts to a failure key on. A message may quote a server
#: and may be reworded; a kind is chosen by segrun where the failure is raised.
FailureKind = Literal[
    "auth",  # the API refused the credentials (401)
    "permission",  # the user may not export this segment group (403, Status Failed)
    "not_found",  # no such client, segment group or path (404)
    "rejected",  # the API refused the request's content (400)
    "refused",  # any other status the API does not retry (3xx, 405, 409...)
    "retries_exhausted",  # temporary failures (429, 5xx, the network) outlasted the retries
    "unsendable",  # the request could not be built or sent at all
    "too_large",  # an answer over its size cap
    "token",  # the OAuth token endpoint gave no usable token
    "poll_timeout",  # Status still not Complete after poll.timeout
    "export_gone",  # Status Expired or Retrieved: the token can fetch nothing more
    "server_failed",  # Status Error: the server failed to prepare the export
    "invalid_answer",  # a 2xx answer that is not in the documented shape
    "server_lied",  # answers that contradict each other or their counts
    "output",  # the export's path or format cannot take it
    "resume",  # what a resume found on disk is not what its checkpoint recorded
    "interrupted",  # a stop was requested
    "disk",  # the machine refused a write or a read
    "too_deep",  # a record nested too deeply to decode again
    "expectation",  # the export is not what `expect:` says it must be (kept aside, not placed)
    "state",  # the state (watermarks) is missing or unusable where the job needs it
]
FAILURE_KINDS: tuple[FailureKind, ...] = get_args(FailureKind)


class JobFailure(Exception):
    """A job that cannot go on. The run goes on to its other jobs; the job's
    report entry gets the message and the kind (never a traceback)."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}")
        super().__init__(message)
        self.kind: FailureKind = kind


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
    known = _ENVIRONMENT.get(error.errno) if error.errno is not None else None
    what = known or error.strerror or type(error).__name__
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
