"""The one place failures become messages and exit codes (cf. pre-commit's
error_handler): commands raise, they never print their own tracebacks."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Iterator

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
    except (SystemExit, GeneratorExit, click.exceptions.Exit, click.ClickException, click.Abort):
        raise  # click reports its own usage errors (exit 2) and --help exits
    except Exception as e:  # a bug in segrun, not bad input
        if os.environ.get("SEGRUN_DEBUG"):
            traceback.print_exc()
        print(
            f"segrun: internal error: {type(e).__name__}: {e} "
            "(this is a bug; set SEGRUN_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        raise SystemExit(70) from None
