"""The run directory is segrun's alone: what it may be when a run starts, what a
resume or an accept refuses to find in it, and what a run leaves when it ends.

- `--out` is a new folder, or an empty one, whatever the files in it are called:
  a run replaces report.json, report.html, junit.xml... so a folder holding
  anything (hidden files too) could lose a file of the user's. Checked before
  anything is made, and again once the run holds the folder's lock (it may have
  been made and filled by someone else in between).
- A resumed or accepted run directory holds no symlink and no file with another
  hard link: segrun appends to its transcripts and part files and rewrites its
  lock in place, and through a `cp -al` or `rsync --link-dest` copy that would
  change the original's files too. Refused before anything is sent (exit 2),
  naming the file; runner/system/durable.py refuses the same at every open.
- A start refused before anything was sent leaves nothing behind (the folders
  made for it and the files written into them go again), so a scheduler's retry of
  the same command is not refused for good; a run that ends leaves no `.lock`
  (runner/run/state.py, `hold_lock`) and no empty folder.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from runner.errors import SegrunError, missing_folder
from runner.system import durable

#: the files of a run directory: one of them in --out says it holds a run already
RUN_FILES = ("report.json", "transcript.har", "transcript.txt", "checkpoints", "exports")
#: folders a run makes, and takes away again when they end empty
FOLDERS = ("checkpoints", "exports")
#: how many names a refusal lists before "..."
_SHOWN = 5


def check_out(out: Path) -> None:
    """Refuse an `--out` that is not a new or an empty folder, before anything is made."""
    if out.is_symlink():
        raise SegrunError(
            f"--out {out}: a symlink (to {os.readlink(out)}); a run directory must be a new "
            "or an empty folder: give the folder itself, or a new one"
        )
    if not out.exists():
        if not out.parent.is_dir():
            raise SegrunError(f"--out {out}: {missing_folder(out.parent)}")
        return
    if not out.is_dir():
        raise SegrunError(f"--out {out}: not a directory")
    _refuse_contents(out, sorted(os.listdir(out)))


def check_still_empty(run_dir: Path) -> None:
    """`check_out` again, once the run holds its lock in the folder: one made at `--out`
    by someone else after it was checked (another run, a user's `mkdir` and copy) is
    taken only if it still holds nothing but the lock."""
    _refuse_contents(run_dir, sorted(set(os.listdir(run_dir)) - {".lock"}))


def _refuse_contents(out: Path, names: list[str]) -> None:
    if not names:
        return
    runs = [name for name in RUN_FILES if name in names]
    if runs:
        raise SegrunError(
            f"--out {out}: already holds a run ({', '.join(runs)}); continue it with "
            f"--resume {out}, or choose another directory"
        )
    shown = ", ".join(names[:_SHOWN]) + (", ..." if len(names) > _SHOWN else "")
    raise SegrunError(
        f"--out {out}: not empty (it holds {shown}); a run directory must be new or empty, "
        "so that no file of yours is replaced: choose another, or a new folder's name"
    )


def make(folder: Path) -> list[Path]:
    """`folder` made, with the folders missing above it; returns those made, outermost
    first (FileExistsError when `folder` itself is there already)."""
    missing = []
    parent = folder.parent
    while not parent.exists() and not parent.is_symlink() and parent.parent != parent:
        missing.append(parent)
        parent = parent.parent
    made = [f for f in reversed(missing) if durable.make_folder(f)]
    try:
        durable.wrote(folder)
        os.mkdir(folder)  # exclusive: two runs in one second get two folders
    except BaseException:
        unmake(made)
        raise
    return [*made, folder]


def unmake(made: list[Path]) -> None:
    """Take away the folders `make` made, innermost first, where they are empty."""
    for folder in reversed(made):
        durable.remove_folder_if_empty(folder)


def refuse_foreign(run_dir: Path, command: str) -> None:
    """Exit 2, naming it, when anything in `run_dir` is a symlink, a file with another
    hard link, or something other than a file or a folder: every file of a run may be
    written again, and segrun writes only files of its own."""
    for folder, dirs, files in os.walk(run_dir):
        for name in sorted(dirs) + sorted(files):
            path = Path(folder) / name
            info = os.lstat(path)
            if stat.S_ISDIR(info.st_mode):
                continue
            problem = durable.not_own(path, info)
            if problem is not None:
                raise SegrunError(
                    f"{command} {run_dir}: {path.relative_to(run_dir)} {problem.why}; segrun "
                    "writes only files of its own: use a copy made with `cp -a` (not -l), "
                    "or remove the link"
                )


def remove_stale_temporaries(run_dir: Path) -> None:
    """Temporary files of atomic writes a crash left (a checkpoint's may hold an
    AccessToken): the folders that get atomic writes are the run directory itself
    (report.json, junit.xml, report.html) and checkpoints/. Under the run's lock."""
    for folder in (run_dir, run_dir / "checkpoints"):
        durable.remove_stale_temporaries(folder)


def tidy(run_dir: Path) -> None:
    """A run that ends leaves no empty folder: checkpoints/ once every job cleared its
    checkpoint, exports/ (and folders in it) when nothing was exported there."""
    for name in FOLDERS:
        top = run_dir / name
        if top.is_symlink() or not top.is_dir():
            continue
        for folder, _, _ in sorted(os.walk(top), key=lambda entry: -len(Path(entry[0]).parts)):
            durable.remove_folder_if_empty(Path(folder))


def undo_start(run_dir: Path) -> None:
    """A start refused before anything was sent: the files it wrote into its new (or
    empty) run directory go, under the run's lock (the folders it made go after the
    lock, with `unmake`)."""
    for name in ("report.json", "transcript.har", "transcript.txt"):
        durable.wrote(run_dir / name)
        with contextlib.suppress(FileNotFoundError):
            (run_dir / name).unlink()
    remove_stale_temporaries(run_dir)
    tidy(run_dir)
