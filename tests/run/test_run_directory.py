"""The run directory is segrun's alone: `--out` is new or empty, whatever its files are
called; nothing is written through a hard link or a symlink (a `cp -al` snapshot of a
run is refused, naming the file, and the original keeps its bytes); a start refused
with exit 2 leaves nothing behind, so the same command can be retried; a run that ends
leaves no `.lock` and no empty folder; the lock file's removal never lets two holders in.
(tests/run/test_planted_links.py plants a link at every path a run writes.)"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from runner.run.state import StateLocked, hold_lock
from runner.sandbox import running_sandbox
from runner.system import durable
from tests.run.test_what_the_machine_does import tmpfs
from tests.support import ROOT
from tests.support.fake_server import LONG_SECRET
from tests.support.files import tree
from tests.support.processes import segrun_argv, segrun_environ
from tests.support.runs import crash_run, read_jsonl
from tests.support.specs import spec_text, write_spec

JOBS = """
- name: vip
  segment_group: VIP Customers
  page_size: 10
- name: delta
  segment_group: Email Subscribers
  last_datetime: last_success
  page_size: 10
  output: {format: csv, path: "sub/{job}.csv"}
"""


def segrun(*args: str, cwd: Path | None = None, env: dict | None = None):
    """The real CLI, as a scheduler runs it."""
    return subprocess.run(
        ["segrun", *args] if shutil.which("segrun") else ["python", "-m", "runner", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=segrun_environ(**(env or {})),
    )


def leftovers(run_dir: Path) -> list[str]:
    """What no ended run leaves: a lock, an empty folder, an atomic write's temporary."""
    found = [".lock"] if (run_dir / ".lock").exists() else []
    for path in sorted(run_dir.rglob("*")):
        if path.is_dir() and not any(path.iterdir()):
            found.append(f"{path.relative_to(run_dir)}/ (empty)")
        if durable.is_stale_temporary(path.name):
            found.append(str(path.relative_to(run_dir)))
    return found


# -- hard links: a `cp -al` snapshot -------------------------------------------------------


def test_resuming_a_hard_linked_copy_is_refused_and_the_original_keeps_its_bytes(tmp_path):
    """A resume writes in place (the transcripts, the part file, the lock): through a
    `cp -al` copy that would rewrite the original run's files, export included."""
    with running_sandbox(profiles=60, seed=4) as sandbox:
        spec = write_spec(tmp_path, sandbox.base_url, JOBS)
        original = tmp_path / "run"
        # crashed mid-way: a part file, a checkpoint, transcripts a resume appends to
        crashed = crash_run(spec, original, "write delta.json#2", tmp_path / "durable.log")
        assert crashed == -9
        assert list((original / "exports" / "sub").glob("*.part"))
        snapshot = tmp_path / "snapshot"
        subprocess.run(["cp", "-al", str(original), str(snapshot)], check=True)
        before = tree(original)
        done = segrun("run", "-q", str(spec), "--resume", str(snapshot))
        assert done.returncode == 2, done.stderr
        assert "has 2 hard links" in done.stderr and "cp -al" in done.stderr
        linked = [p for p in snapshot.rglob("*") if p.is_file() and p.stat().st_nlink == 2]
        assert any(str(p.relative_to(snapshot)) in done.stderr for p in linked)  # named
        assert "Traceback" not in done.stderr
        assert tree(original) == before
        # a real copy resumes, and the original is still untouched
        copy = tmp_path / "copy"
        subprocess.run(["cp", "-a", str(original), str(copy)], check=True)
        resumed = segrun("run", "-q", str(spec), "--resume", str(copy))
        assert resumed.returncode == 0, resumed.stderr
        assert tree(original) == before
        assert len(read_jsonl(copy / "exports" / "vip.jsonl")) == len(
            sandbox.expected_records("VIP Customers")
        )


def test_a_file_written_in_place_is_never_a_hard_link_or_a_symlink(tmp_path):
    """The rule at the one place files are opened for writing, whoever asks."""
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"the user's own\n")
    linked, symlinked = tmp_path / "linked", tmp_path / "symlinked"
    os.link(outside, linked)
    symlinked.symlink_to(outside)
    for path in (linked, symlinked):
        for opening in (durable.open_existing, durable.open_lock):
            with pytest.raises(durable.NotOwnFile, match="hard links|symlink"):
                opening(path)
        with pytest.raises(durable.NotOwnFile), open(path, "wb", opener=durable.opener):
            pass  # a truncating open: checked before it could empty the file
    assert outside.read_bytes() == b"the user's own\n"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(durable.NotOwnFile, match="not a regular file"):
        durable.open_existing(fifo)
    own = tmp_path / "own"
    own.write_bytes(b"x")
    os.close(durable.open_existing(own))  # a file of one name is fine


#: the one module that opens files for writing, and a child's stdio going to /dev/null
ALLOWED = {"runner/system/durable.py", "runner/sandbox/forked.py"}
WRITE_FLAGS = {"O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"}


def writes_outside_durable(source: str) -> list[ast.Call]:
    """Calls that open a file for writing (or change one) by its name, bypassing
    runner/system/durable.py: builtin open() in a writing mode without its opener,
    os.open() with a writing flag, Path.write_text/write_bytes, os.truncate, chmod."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func, text = node.func, ast.unparse(node.func)
        if isinstance(func, ast.Name) and func.id == "open":
            mode = node.args[1] if len(node.args) > 1 else None
            mode = mode or next((k.value for k in node.keywords if k.arg == "mode"), None)
            writes = isinstance(mode, ast.Constant) and set(str(mode.value)) & set("wax+")
            if writes and not any(k.arg == "opener" for k in node.keywords):
                found.append(node)
        elif text == "os.open":
            flags = {a.attr for a in ast.walk(node) if isinstance(a, ast.Attribute)}
            if flags & WRITE_FLAGS:
                found.append(node)
        elif isinstance(func, ast.Attribute) and (
            func.attr in ("write_text", "write_bytes", "chmod", "lchmod", "touch")
            or text in ("os.truncate", "os.link")
        ):
            found.append(node)
    return found


def test_files_are_opened_for_writing_in_one_place():
    """Every open for writing goes through runner/system/durable.py, which keeps the
    rule; wrapping a descriptor it handed out (os.fdopen) is fine."""
    found = [
        f"{path.relative_to(ROOT)}:{call.lineno}: {ast.unparse(call)}"
        for path in sorted((ROOT / "runner").rglob("*.py"))
        if str(path.relative_to(ROOT)) not in ALLOWED
        for call in writes_outside_durable(path.read_text(encoding="utf-8"))
    ]
    assert not found, "\n".join(found)
    # and the check finds what it looks for
    caught = writes_outside_durable(
        "open(p, 'wb')\nopen(p, mode='a')\nos.open(p, os.O_RDWR | os.O_CREAT)\n"
        "p.write_text('x')\nopen(p, 'rb')\nopen(p, 'wb', opener=durable.opener)\n"
    )
    assert [c.lineno for c in caught] == [1, 2, 3, 4]


# -- --out: new or empty ----------------------------------------------------------------


def _user_folder(tmp_path: Path, what: str) -> Path:
    """An --out that is not new or empty, as a user might hand it over."""
    out = tmp_path / "out"
    if what == "report.html":
        out.mkdir()
        (out / "report.html").write_text("<p>my own report</p>\n")
    elif what == "hidden file":
        out.mkdir()
        (out / ".keep").write_text("mine\n")
    elif what == "symlink to an empty folder":
        (tmp_path / "elsewhere").mkdir()
        out.symlink_to(tmp_path / "elsewhere")
    elif what == "file":
        out.write_text("a file where a folder should be\n")
    elif what == "folder of the user's":
        (out / "notes").mkdir(parents=True)
    return out


@pytest.mark.parametrize(
    "what",
    ["report.html", "hidden file", "symlink to an empty folder", "file", "folder of the user's"],
)
def test_out_must_be_new_or_empty_whatever_its_files_are_called(tmp_path, what):
    spec = write_spec(tmp_path, None, "- segment_group: VIP Customers\n")
    out = _user_folder(tmp_path, what)
    before = tree(tmp_path)
    done = segrun("run", "-q", str(spec), "--out", str(out))
    assert done.returncode == 2, done.stderr
    assert "--out" in done.stderr and str(out) in done.stderr
    assert "Traceback" not in done.stderr
    assert tree(tmp_path) == before  # not a byte, not a mode, not a lock


@pytest.mark.parametrize("where", ["cwd", "specs folder"])
def test_out_on_the_working_or_the_specs_folder_is_refused(tmp_path, where):
    project = tmp_path / "project"
    project.mkdir()
    spec = write_spec(project, None, "- segment_group: VIP Customers\n")
    out, cwd = (".", project) if where == "cwd" else (str(project), tmp_path)
    before = tree(tmp_path)
    done = segrun("run", "-q", str(spec), "--out", out, cwd=cwd)
    assert done.returncode == 2, done.stderr
    assert "not empty (it holds spec.yaml)" in done.stderr
    assert tree(tmp_path) == before


def test_an_empty_out_folder_is_taken_and_kept(tmp_path):
    spec = write_spec(tmp_path, None, "- segment_group: VIP Customers\n")
    (tmp_path / "out").mkdir()
    done = segrun("run", "-q", str(spec), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "report.json").exists()


# -- a refused start leaves nothing behind --------------------------------------------------


CAUSES = ["state locked", "state not a regular file", "missing credentials"]


@pytest.mark.parametrize(
    "cause, out",
    [(cause, out) for cause in CAUSES for out in ("--out", "default folder")]
    + [("out locked", "--out")],  # a default run folder is new: no other run holds it
)
def test_a_start_refused_with_exit_2_leaves_nothing_and_the_retry_runs(
    tmp_path, fake_server, cause, out
):
    project = tmp_path / "project"
    project.mkdir()
    spec = project / "spec.yaml"
    spec.write_text(spec_text(fake_server.url("fine")))  # a last_success job: the state is locked
    env = {"HOSTILE_SECRET": LONG_SECRET}
    args = ["run", "-q", str(spec)]
    run_dir = tmp_path / "run"
    if out == "--out":
        if cause == "out locked":
            run_dir.mkdir()  # an empty folder another run is just starting in
        args += ["--out", str(run_dir)]
    holding = None
    if cause == "state locked":
        holding = hold_lock(project / ".segrun" / "state.json.lock", "another run")
    elif cause == "out locked":
        holding = hold_lock(run_dir / ".lock", "another run")
    elif cause == "state not a regular file":
        os.mkfifo(tmp_path / "state-fifo")
        args += ["--state", str(tmp_path / "state-fifo")]
    elif cause == "missing credentials":
        env = {}
    with holding or _nothing():
        before = tree(tmp_path)
        done = segrun(*args, cwd=tmp_path, env=env)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        assert tree(tmp_path) == before, done.stderr
    assert not fake_server.requests
    # the cause gone, the scheduler's retry of the very same command runs
    if cause == "state not a regular file":
        return  # the command itself is wrong
    if cause == "out locked":
        assert list(run_dir.iterdir()) == []  # the other holder's lock went with it
    retry = segrun(*args, cwd=tmp_path, env={"HOSTILE_SECRET": LONG_SECRET})
    assert retry.returncode == 0, retry.stderr


@pytest.mark.parametrize("inodes", [3, 4, 5])
def test_a_start_the_disk_refuses_after_its_folder_was_made_takes_it_away(tmp_path, inodes):
    """A full disk (a tmpfs of a few inodes) refusing the transcripts or the first report:
    exit 2, nothing sent, and the folder made for the run goes with what was written."""
    spec = write_spec(tmp_path, None, "- segment_group: VIP Customers\n")
    with tmpfs(tmp_path / "small", f"size=1m,nr_inodes={inodes}") as small:
        done = segrun("run", "-q", str(spec), "--out", str(small / "run"))
        assert done.returncode == 2, done.stderr
        assert "disk is full" in done.stderr and "Traceback" not in done.stderr
        assert list(small.iterdir()) == []


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return None


def test_a_refused_resume_leaves_no_lock(tmp_path):
    spec = write_spec(tmp_path, None, "- segment_group: VIP Customers\n")
    assert segrun("run", "-q", str(spec), "--out", str(tmp_path / "run")).returncode == 0
    other = tmp_path / "other.yaml"
    other.write_text(spec.read_text())
    done = segrun("run", "-q", str(other), "--resume", str(tmp_path / "run"))
    assert done.returncode == 2 and "that run is of" in done.stderr
    assert leftovers(tmp_path / "run") == []


# -- an ended run leaves no lock and no empty folder ----------------------------------------


def test_a_finished_run_a_resume_of_it_and_an_accept_leave_no_lock_and_no_empty_folder(tmp_path):
    with running_sandbox(profiles=40, seed=6) as sandbox:
        spec = write_spec(
            tmp_path,
            sandbox.base_url,
            JOBS
            + """
- name: held
  segment_group: All Profiles
  expect: {max_records: 3}
- name: refused
  segment_group: Finance Audit
""",
        )
        run_dir = tmp_path / "run"
        done = segrun("run", "-q", str(spec), "--out", str(run_dir))
        assert done.returncode == 1, done.stderr  # one held, one refused
        assert leftovers(run_dir) == []
        assert not (run_dir / "checkpoints").exists() or any((run_dir / "checkpoints").iterdir())
        again = segrun("run", "-q", str(spec), "--resume", str(run_dir))
        assert again.returncode == 1, again.stderr
        assert leftovers(run_dir) == []
        accepted = segrun("accept", str(run_dir), "held")
        assert accepted.returncode == 0, accepted.stderr
        assert leftovers(run_dir) == []
        assert not (run_dir / "checkpoints").exists()  # the held job's checkpoint went
        assert not (tmp_path / ".segrun" / "state.json.lock").exists()


def test_a_run_whose_every_job_failed_leaves_no_empty_exports_folder(tmp_path):
    spec = write_spec(tmp_path, None, "- segment_group: Finance Audit\n")
    done = segrun("run", "-q", str(spec), "--out", str(tmp_path / "run"))
    assert done.returncode == 1, done.stderr
    assert leftovers(tmp_path / "run") == []
    assert (tmp_path / "run" / "report.json").exists()


def test_removing_the_lock_file_on_release_never_lets_two_holders_in(tmp_path):
    """Each holder removes the lock file as it lets go; one that opened the old file
    meanwhile must see that and lock the new one, or two would hold it at once."""
    path = tmp_path / "sub" / ".lock"
    inside, overlaps, taken, errors = [0], [], [0], []
    guard = threading.Lock()
    deadline = time.monotonic() + 2.0

    def contend() -> None:
        while time.monotonic() < deadline:
            try:
                with hold_lock(path, "contending"):
                    with guard:
                        inside[0] += 1
                        if inside[0] > 1:
                            overlaps.append(inside[0])
                        taken[0] += 1
                    time.sleep(0.0005)
                    with guard:
                        inside[0] -= 1
            except StateLocked:
                pass
            except Exception as e:  # anything else is a failure of the lock
                errors.append(repr(e))

    threads = [threading.Thread(target=contend) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert not overlaps, f"{len(overlaps)} times two held the lock at once"
    assert taken[0] > 50
    assert not path.exists()  # the last holder took the lock file away
    alone = tmp_path / "alone" / ".lock"
    with hold_lock(alone, "alone"):  # the folder made for a lock goes with it
        assert alone.exists()
    assert not alone.parent.exists()


def test_a_folder_made_at_out_while_the_run_starts_is_checked_under_its_lock(tmp_path):
    """`--out` new when it was checked, then made by someone else (another run, a user's
    `mkdir` and copy) before the run made it: the run takes it only if it is still empty
    once the run holds its lock, so no file of the user's is replaced."""
    spec = write_spec(tmp_path, None, JOBS)
    out = tmp_path / "out"
    writes = tmp_path / "writes.fifo"
    os.mkfifo(writes)  # the first write segrun notes blocks the run until it is read
    proc = subprocess.Popen(
        [*segrun_argv(), "run", "-q", str(spec), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=segrun_environ(**{durable.WRITES_ENV: str(writes)}),
    )
    # the run has checked --out (new) and waits at its first write (the state's lock)
    reader = os.open(writes, os.O_RDWR)  # a reader as long as the run: no later write waits
    try:
        first = os.read(reader, 4096)
        assert str(out).encode() not in first, first  # --out was not made yet
        out.mkdir()
        (out / "report.html").write_text("the user's own\n")
        drained = threading.Thread(target=lambda: [*iter(lambda: os.read(reader, 4096), b"")])
        drained.daemon = True
        drained.start()
        _, stderr = proc.communicate(timeout=120)
    finally:
        os.close(reader)
    assert (out / "report.html").read_text() == "the user's own\n"
    assert proc.returncode == 2, stderr
    assert "--out" in stderr and "report.html" in stderr, stderr
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]
