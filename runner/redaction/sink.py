"""The one way out of the process: every byte segrun writes or prints leaves
through a `Sink`, and the sink runs the run's `Redactor` over it first.

- Files of the run directory (transcripts, report, JUnit) are opened only by
  `Sink.open_log` and `Sink.write_atomic`; what they take is text or JSON-able
  data, and it is scanned before it is encoded. A recorder cannot write past
  the redactor because it never holds a raw file.
- The terminal: `Sink.terminal()` replaces `sys.stdout` and `sys.stderr` for
  the whole command with streams that scan each line, so a summary, an error, a
  warning, `-v`, `plan`, click's own messages and a SEGRUN_DEBUG traceback
  all pass the same gate, whoever prints them.

Exports are the user's data, not segrun's words: they are written raw (a
record may legitimately contain any string), and kept private by file modes.
One process holds one sink (`current()`): its redactor learns every secret of
the run as it becomes known (configured secrets, tokens issued, signatures).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TextIO

from runner.redaction.redact import Redactor
from runner.system import durable, strict_json
from runner.system.atomic import write_atomic
from runner.system.durable import current_umask


class Sink:
    def __init__(self, redactor: Redactor | None = None) -> None:
        self.redactor = redactor if redactor is not None else Redactor()

    # -- the gate --------------------------------------------------------------
    def text(self, text: str) -> str:
        """`text` with every known secret, in every spelling, replaced."""
        return self.redactor.scan(text)

    def json(self, value: object, **dumps) -> str:
        """JSON of `value`: every string through the gate before escaping, then
        the text looked over for secrets as written. Escaping adds nothing a
        decoder would need to undo; a secret can only survive it by being made
        of escapes and punctuation, and then it is there as itself. Strict JSON: a NaN
        or an infinity is a ValueError, never written as `NaN` or `Infinity`."""
        return self.redactor.literal(strict_json.dumps(self.redactor.data(value), **dumps))

    def encode(self, text: str) -> bytes:
        return self.text(text).encode("utf-8", "replace")

    # -- files -----------------------------------------------------------------
    def write_atomic(self, path: str | os.PathLike[str], text: str) -> None:
        """Replace `path` with the redacted `text` so readers see the old file or
        the new one (a report half-written by a crash would mislead --resume)."""
        write_atomic(path, self.encode(text))

    def overwrite(self, path: str | os.PathLike[str], text: str) -> None:
        """Rewrite `path` in place (not atomic: for when no temp file fits)."""
        data = self.encode(text)
        with open(path, "r+b", opener=durable.opener) as f:  # a file of segrun's own only
            f.truncate(0)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def open_log(self, path: Path, mode: str) -> RedactedFile:
        """A file that grows during the run (a transcript); `mode` is a binary
        open mode ("wb", "ab", "r+b", "w+b"). Only a regular file of one name, never
        through a planted symlink or hard link (runner/system/durable.py: a run writes
        only its own files)."""
        return RedactedFile(self, open(path, mode, opener=durable.opener))  # noqa: SIM115

    # -- the terminal ------------------------------------------------------------
    @contextlib.contextmanager
    def terminal(self) -> Iterator[None]:
        """While inside: stdout and stderr pass through the redactor."""
        saved = sys.stdout, sys.stderr
        out, err = RedactedStream(self, saved[0]), RedactedStream(self, saved[1])
        sys.stdout, sys.stderr = out, err
        try:
            yield
        finally:
            for stream in (out, err):
                with contextlib.suppress(Exception):
                    stream.flush()
            sys.stdout, sys.stderr = saved


class RedactedFile:
    """A binary file that accepts only text, and scans it before encoding."""

    def __init__(self, sink: Sink, raw: IO[bytes]) -> None:
        self._sink = sink
        self._raw = raw

    def write(self, text: str) -> int:
        """Bytes actually written (after redaction: offsets are counted in these)."""
        data = self._sink.encode(text)
        self._raw.write(data)
        return len(data)

    def write_json_line(self, value: object) -> int:
        return self.write(self._sink.json(value, ensure_ascii=False))

    # reading, seeking and syncing carry no new text out of the process
    def read(self, size: int = -1) -> bytes:
        return self._raw.read(size)

    def readline(self) -> bytes:
        return self._raw.readline()

    def __iter__(self):
        return iter(self._raw)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def truncate(self, size: int | None = None) -> int:
        return self._raw.truncate(size)

    def flush(self) -> None:
        self._raw.flush()

    def fileno(self) -> int:
        return self._raw.fileno()

    @property
    def closed(self) -> bool:
        return self._raw.closed

    def close(self) -> None:
        self._raw.close()


class RedactedStream(io.TextIOBase):
    """A text stream that scans whole lines: a secret printed in two `write`
    calls (print writes the text and the newline apart) is still one line.
    A partial line (a progress bar's carriage return) goes out on flush. While
    a known secret spans lines (a line break inside it), lines wait for the
    flush too: a secret cut between two scans would be seen by neither."""

    def __init__(self, sink: Sink, target: TextIO) -> None:
        self._sink = sink
        self._target = target
        self._pending = ""
        self._lock = threading.RLock()

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            if "\n" in self._pending and not self._sink.redactor.spans_lines:
                whole, _, self._pending = self._pending.rpartition("\n")
                self._target.write(self._sink.text(whole + "\n"))
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self._target.write(self._sink.text(self._pending))
                self._pending = ""
            self._target.flush()

    def isatty(self) -> bool:
        return self._target.isatty()

    def fileno(self) -> int:
        return self._target.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target, "encoding", "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self._target, "errors", None)


_STARTING_UMASK = current_umask()


def keep_private(share_with_group: bool = False) -> None:
    """Exports, transcripts, reports and the state hold personal data or say
    what was exported: everything segrun creates is its owner's only (0700
    folders, 0600 files), or its group's too when asked (0750/0640). Set as the
    umask, so no writer (segrun's or a library's) can forget it; the user's own
    umask can only make it stricter."""
    os.umask(_STARTING_UMASK | (0o027 if share_with_group else 0o077))


_current = Sink()


def current() -> Sink:
    """The process's sink; its redactor knows every secret seen so far."""
    return _current
