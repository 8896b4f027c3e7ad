"""A symlink and a hard link planted at every path a run, a resume and an accept write:
nothing outside the run directory changes.

The paths are not listed here: runner/system/durable.py, through which every write
goes, names each path it creates, opens for writing, renames onto or removes when
SEGRUN_TEST_WRITES_LOG is set, so a reference run of each kind says what it wrote
(a file a later segrun writes is walked without anyone adding it here). Then, for
each path, from the same starting point: a link to a file (or a folder) outside is
planted there (a file already there is moved out first and linked back, which is
what a `cp -al` copy of a run is), the same command runs, and the outside files
must keep their bytes and modes; segrun either refuses with exit 2 naming the path,
or replaces the name without writing through it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

import runner.commands.accept
import runner.commands.run  # imported once here, not by each forked command
from runner.apifacts import timestamps
from runner.jobspec.loading import load_for_run
from runner.run.state import FORMAT, watermark_fields, watermark_key
from runner.sandbox import running_sandbox
from runner.system import durable
from tests.support.files import tree
from tests.support.specs import write_spec

RUN_JOBS = """
- name: full
  segment_group: All Profiles
  page_size: 10
- name: delta
  segment_group: Email Subscribers
  last_datetime: last_success
  page_size: 10
  output: {format: csv, path: "sub/{job}.csv"}
- name: pinned
  segment_group: All Profiles
  page_size: 10
  output: {format: csv, path: "{job}.csv", columns: {id: ProfileId}}
"""
HELD_JOBS = """
- name: held
  segment_group: VIP Customers
  last_datetime: last_success
  page_size: 10
  expect: {max_records: 1}
- name: held-csv
  segment_group: Email Subscribers
  page_size: 10
  output: {format: csv, path: "sub/{job}.csv"}
  expect: {max_records: 1}
"""
#: where a resume starts: a run killed as it rewrote a checkpoint, its part file open
RESUME_FROM = "write delta.json#2"
_TEMPORARY = re.compile(r"\.(.+)\.[A-Za-z0-9_]{8}\.tmp")


def segrun_forked(work: Path, *commands: list[str], writes: Path | None = None, crash=None):
    """`segrun` commands one after the other in a forked child, as the CLI runs them
    (the imports are paid for once, in the test's process), in `work`; stops at the
    first that does not exit 0. Its exit code (-9: crashed) and what it printed."""
    out = work.parent / f"{work.name}.out"
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 3
        try:
            os.chdir(work)
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            if writes is not None:
                os.environ[durable.WRITES_ENV] = str(writes)
            if crash is not None:
                os.environ[durable.CRASH_ENV] = crash
            durable._count, durable._named = 0, {}
            from runner.cli import main

            assert runner.commands.run and runner.commands.accept
            for argv in commands:
                sys.argv = ["segrun", *argv]
                try:
                    main()
                    code = 0
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else int(e.code is not None)
                if code:
                    break
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    return code, out.read_text(errors="replace")


def prepare(work: Path, base_url: str, jobs: str) -> Path:
    """A spec, and a state file holding a watermark for each last_success job (so
    there is a state to replace, and a link to plant at it from the start)."""
    work.mkdir()
    spec = write_spec(work, base_url, jobs)
    loaded = load_for_run(str(spec), {})
    state = work / ".segrun" / "state.json"
    state.parent.mkdir()
    moment = timestamps.to_wire(timestamps.parse_wire("2026-01-01T00:00:00.000Z"))
    marks = {
        watermark_key(loaded, job, state): {
            **watermark_fields(loaded, job, state),
            "last_success": moment,
            "stored": moment,
        }
        for job in loaded.jobs
        if job.incremental
    }
    state.write_text(json.dumps({"format": FORMAT, "watermarks": marks}))
    return spec


class Scenario:
    """A starting point, made again before every command, and the command."""

    def __init__(self, tmp_path: Path, phase: str, base_url: str) -> None:
        self.work, self.kept, self.phase = tmp_path / "work", tmp_path / "kept", phase
        jobs = HELD_JOBS if phase == "accept" else RUN_JOBS
        spec = prepare(self.work, base_url, jobs)
        self.start_run = ["run", "-q", str(spec), "--out", "run"]
        if phase == "run":
            self.commands = [self.start_run]
        elif phase == "resume":
            self.commands = [["run", "-q", str(spec), "--resume", "run"]]
        else:
            code, said = segrun_forked(self.work, self.start_run)
            assert code == 1, said  # both jobs held by their expectations
            self.commands = [["accept", "run", "held"], ["accept", "run", "held-csv"]]
        shutil.copytree(self.work, self.kept, symlinks=True)
        self.restore()

    def restore(self) -> None:
        """The starting point: for a resume, a run killed again each time (the token
        of an earlier one was used up by the resume after it, and a resume must find
        a part file to go on with, as the reference did)."""
        shutil.rmtree(self.work)
        shutil.copytree(self.kept, self.work, symlinks=True)
        if self.phase == "resume":
            code, said = segrun_forked(self.work, self.start_run, crash=RESUME_FROM)
            assert code == -9, said

    def run(self, writes: Path | None = None) -> tuple[int, str]:
        return segrun_forked(self.work, *self.commands, writes=writes)

    def written(self, log: Path) -> list[Path]:
        """Each path the reference wrote, once; of an atomic write's temporaries (a
        random name each time) one per file; not the run or state folder themselves."""
        paths, temporaries = [], set()
        mine = {self.work, self.work / "run", self.work / ".segrun"}
        for line in log.read_text().splitlines():
            path = Path(line)
            if path in mine or path in paths or self.work not in path.parents:
                continue
            temporary = _TEMPORARY.fullmatch(path.name)
            if temporary:
                if (path.parent, temporary[1]) in temporaries:
                    continue
                temporaries.add((path.parent, temporary[1]))
            paths.append(path)
        return paths


def plant(path: Path, kind: str, outside: Path, folder: bool) -> bool:
    """A link of `kind` at `path` to a file (a folder, for a symlink where a folder
    goes) outside; what stood at `path` is moved out and linked back. False when there
    is no such link to make (a hard link to a folder)."""
    target = outside / "target"
    if path.is_dir() and not path.is_symlink():
        if kind == "hardlink":
            return False
        shutil.move(path, target)
    elif path.exists() or path.is_symlink():
        shutil.move(path, target)
    elif folder and kind == "symlink":
        target.mkdir(mode=0o750)
        (target / "theirs.txt").write_bytes(b"a file of the user's\n")
    else:
        target.write_bytes(b"a file of the user's, not segrun's\n")
        target.chmod(0o640)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "symlink":
        path.symlink_to(target)
    else:
        os.link(target, path)
    return True


def named(rel: Path, said: str) -> bool:
    """A refusal names the planted path (or the folder of the run holding it); a state
    file linked to elsewhere may be refused as another state, which it then is."""
    return any(part in said for part in rel.parts[1:]) or (
        rel.name == "state.json" and "state" in said
    )


#: what each kind of command must be seen writing, or the walk missed them
MUST_WALK = {
    "run": {
        ".lock",
        "transcript.har",
        "transcript.txt",
        "report.json",
        "junit.xml",
        "report.html",
        "full.jsonl.part",
        "full.jsonl",
        "delta.csv.part",
        "delta.csv.csv-tmp",
        "delta.csv",
        "delta.json",
        "pinned.csv.part",
        "pinned.ids",
        "pinned.csv",
        "checkpoints",
        "exports",
        "sub",
        "state.json",
        "state.json.lock",
    },
    "resume": {
        ".lock",
        "transcript.har",
        "transcript.txt",
        "report.json",
        "junit.xml",
        "report.html",
        "delta.csv.part",
        "delta.csv",
        "delta.json",
        "pinned.csv.part",
        "pinned.ids",
        "pinned.csv",
        "state.json",
        "state.json.lock",
    },
    "accept": {
        ".lock",
        "report.json",
        "junit.xml",
        "report.html",
        "held.jsonl",
        "held.json",
        "held-csv.csv",
        "state.json",
        "state.json.lock",
    },
}


@pytest.mark.parametrize("kind", ["symlink", "hardlink"])
@pytest.mark.parametrize("phase", ["run", "resume", "accept"])
def test_a_link_planted_at_any_path_segrun_writes_changes_nothing_outside(tmp_path, phase, kind):
    with running_sandbox(profiles=40, seed=9) as sandbox:
        scenario = Scenario(tmp_path, phase, sandbox.base_url)
        log = tmp_path / "writes.log"
        code, said = scenario.run(writes=log)
        assert code in (0, 1), said
        reference = scenario.work
        paths = scenario.written(log)
        folders = {p for p in paths if p.is_dir() or any(p in q.parents for q in paths)}
        walked = {p.name for p in paths}
        assert MUST_WALK[phase] <= walked, MUST_WALK[phase] - walked
        problems, planted = [], 0
        for n, path in enumerate(paths):
            scenario.restore()
            outside = tmp_path / f"outside-{n}"
            outside.mkdir()
            if not plant(path, kind, outside, path in folders):
                continue
            planted += 1
            before = tree(outside, itself=False, written=True)
            code, said = scenario.run()
            rel = path.relative_to(reference)
            if tree(outside, itself=False, written=True) != before:
                problems.append(f"{rel}: the file outside changed (exit {code}): {said}")
            elif code not in (0, 1, 2) or "Traceback" in said or "internal error" in said:
                problems.append(f"{rel}: exit {code}: {said}")
            elif code == 2 and not named(rel, said):
                problems.append(f"{rel}: refused without naming it: {said}")
            shutil.rmtree(outside)
        assert not problems, "\n".join(problems)
        assert planted >= len(MUST_WALK[phase]) - 4
        print(f"{phase}: a {kind} planted at {planted} paths")
