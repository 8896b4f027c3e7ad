"""The files segrun reads back (report.json, transcript.har, checkpoints, the state) are
refused, naming the file, when they hold a number segrun never writes (NaN, Infinity,
1e999, integers past 64 bits, nesting thousands deep); exit 2, never 70; and nothing segrun
writes afterwards holds `NaN` or `Infinity`, which Python's json reads and writes by
default and no other JSON reader takes.

The fuzz takes the files of real runs against the embedded sandbox (one finished, with a
watermark, a job's history and an export held by its expectations; one killed in the
middle of a job), puts hostile numbers at random places in one of them, and runs
`segrun report`, `segrun state show`, `segrun accept` and `segrun run --resume` on the
result. A short fixed-seed walk runs with the suite, a long one under `-m slow`.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli import cli
from runner.system import strict_json
from tests.support.runs import crash_run

SPEC = """\
version: 1
client_id: SanchezAssociates
environment: sandbox
defaults:
  page_size: 50
  poll: {interval: 50ms, timeout: 20s}
  retry: {attempts: 3, backoff: 0s, max_backoff: 0s}
jobs:
  - name: delta
    segment_group: VIP Customers
    last_datetime: last_success
  - name: held
    segment_group: Email Subscribers
    expect: {min_records: 100000}
"""
HUGE = "1" + "0" * 400
#: what replaces a JSON number: nothing segrun writes, or at the edge of what it does
HOSTILE = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1e999",
    "1E+400",
    HUGE,
    "-" + HUGE,
    "1" + "0" * 5000,
    HUGE + ".5",
    "9223372036854775808",
    "-9223372036854775809",
    "9007199254740993",
    "1e308",
    "1e300",
    "-1",
    "-0",
    "-0.0",
    "1e-400",
    "4.9e-324",
    "0.5",
    "[" * 3000 + "1" + "]" * 3000,
]
#: what replaces a run of digits inside a string (a timestamp, a token in a URL)
HOSTILE_DIGITS = ["9" * 30, "0", "99999", HUGE, "00000000"]
_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_DIGITS = re.compile(rb"[0-9]+")


def spans(data: bytes) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Where the JSON numbers are, and where the runs of digits inside strings are."""
    numbers, in_strings = [], []
    i, n, start = 0, len(data), None
    while i < n:
        c = data[i]
        if start is not None:  # inside a string
            if c == 0x5C:  # backslash: skip the escaped character
                i += 2
                continue
            if c == 0x22:
                in_strings.extend(
                    (start + m.start(), start + m.end()) for m in _DIGITS.finditer(data, start, i)
                )
                start = None
            i += 1
            continue
        if c == 0x22:
            start = i + 1
        elif c == 0x2D or 0x30 <= c <= 0x39:
            m = _NUMBER.match(data, i)
            if m:
                numbers.append(m.span())
                i = m.end()
                continue
        i += 1
    return numbers, in_strings


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to three numbers of `data` made hostile (a quarter of the time, a run of
    digits inside a string instead)."""
    numbers, in_strings = spans(data)
    chosen: dict[tuple[int, int], str] = {}  # one replacement a place
    for _ in range(rng.choice((1, 1, 2, 3))):
        if in_strings and (not numbers or rng.random() < 0.25):
            chosen[rng.choice(in_strings)] = rng.choice(HOSTILE_DIGITS)
        elif numbers:
            chosen[rng.choice(numbers)] = rng.choice(HOSTILE)
    for (start, end), text in sorted(chosen.items(), reverse=True):
        data = data[:start] + text.encode() + data[end:]
    return data


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A folder with the spec, its state, a finished run (`done`) and a run killed in
    the middle of its second job (`crashed`); each case works on a copy at one path,
    since report.json names the spec and the state by their absolute paths."""
    root = tmp_path_factory.mktemp("hostile")
    work = root / "work"
    work.mkdir()
    spec = work / "spec.yaml"
    spec.write_text(SPEC)
    result = invoke("run", str(spec), "--out", str(work / "done"), "-q")
    assert result.exit_code == 1, result.output  # `held` is held by its expectations
    code = crash_run(spec, work / "crashed", "write held.json#3", root / "durable.log")  # type: ignore[arg-type]
    assert code == -9
    for kept in (
        "done/report.json",
        "done/transcript.har",
        "done/checkpoints/held.json",
        ".segrun/state.json",
        "crashed/report.json",
        "crashed/transcript.har",
        "crashed/checkpoints/held.json",
    ):
        assert (work / kept).is_file(), kept
    shutil.copytree(work, root / "base", symlinks=True)
    return root


def invoke(*args: str):
    """The CLI in this process, with what a run changes for the whole process (its
    signal handlers, its private umask) put back afterwards, module fixture included."""
    saved = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    mask = os.umask(0o077)
    os.umask(mask)
    try:
        return CliRunner().invoke(cli, list(args), env={"SEGRUN_DEBUG": None})
    finally:
        signal.signal(signal.SIGINT, saved[0])
        signal.signal(signal.SIGTERM, saved[1])
        os.umask(mask)


def json_files(work: Path) -> dict[Path, bytes]:
    found = [*work.glob("*/report.json"), *work.glob("*/transcript.har")]
    found += [*work.glob("*/checkpoints/*.json"), *work.glob(".segrun/*.json")]
    return {path: path.read_bytes() for path in found}


def commands(work: Path, run: str) -> list[tuple[str, ...]]:
    spec = str(work / "spec.yaml")
    return [
        ("report", str(work / run)),
        ("state", "show", spec, "--format", "json"),
        ("accept", str(work / run), "held"),
        ("run", spec, "--resume", str(work / run), "-q"),
    ]


def check(result, command: tuple[str, ...], before: dict[Path, bytes], work: Path) -> list[str]:
    """What went wrong: exit 70, a traceback, or a file segrun (re)wrote that is not
    strict JSON."""
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    problems = []
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        problems.append(f"{command}: raised {type(result.exception).__name__}")
    if result.exit_code == 70 or "internal error" in output:
        problems.append(f"{command}: exit {result.exit_code}: {output[-300:]}")
    if "Traceback" in output:
        problems.append(f"{command}: printed a traceback")
    for path, data in json_files(work).items():
        if before.get(path) == data:
            continue  # left as it was: refused, or not this command's file
        try:
            strict_json.loads(data)
        except ValueError as e:
            problems.append(f"{command}: wrote {path.relative_to(work)} that is not JSON: {e}")
    return problems


def fuzz(root: Path, seed: int, cases: int) -> tuple[Counter, list[str]]:
    rng = random.Random(seed)
    work, base = root / "work", root / "base"
    counts: Counter = Counter()
    problems: list[str] = []
    for _ in range(cases):
        shutil.rmtree(work)
        shutil.copytree(base, work, symlinks=True)
        run = rng.choice(("done", "crashed"))
        targets = sorted(p for p in json_files(work) if p.relative_to(work).parts[0] != other(run))
        target = rng.choice(targets)
        mutated = mutate(target.read_bytes(), rng)
        target.write_bytes(mutated)
        counts[target.name] += 1
        for command in commands(work, run):
            before = json_files(work)
            result = invoke(*command)
            counts[f"exit {result.exit_code}"] += 1
            counts["commands"] += 1
            found = check(result, command, before, work)
            if found:  # kept beside the work folder, to run again by hand
                kept = root / "kept" / f"{counts['cases']}-{run}-{target.name}"
                kept.parent.mkdir(exist_ok=True)
                kept.write_bytes(mutated)
            problems += [f"case {counts['cases']} ({target.relative_to(work)}): {p}" for p in found]
        counts["cases"] += 1
    return counts, problems


def other(run: str) -> str:
    return "crashed" if run == "done" else "done"


def test_hostile_numbers_in_every_file_read_back_end_cleanly(base):
    counts, problems = fuzz(base, seed=21, cases=16)
    assert not problems, problems[:5]
    assert counts["commands"] == 64 and counts["exit 2"] > 0


@pytest.mark.slow
def test_hostile_numbers_in_every_file_read_back_end_cleanly_long(base):
    counts, problems = fuzz(base, seed=2026, cases=1500)
    print(dict(counts))
    assert not problems, problems[:5]


# -- each file and command, by hand ----------------------------------------------------
def _fresh(base: Path) -> Path:
    work = base / "work"
    shutil.rmtree(work)
    shutil.copytree(base / "base", work, symlinks=True)
    return work


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def test_a_report_holding_1e999_is_refused_and_never_rewritten(base):
    """A report.json holding 1e999 made `segrun report` and `--resume` exit 70, and the
    resume rewrote report.json with `Infinity` in it."""
    work = _fresh(base)
    report = work / "done" / "report.json"
    _replace(report, '"duration_s": ', '"duration_s": 1e999, "_was": ')
    held = report.read_bytes()
    for command in commands(work, "done"):
        result = invoke(*command)
        if command[0] == "state":
            continue  # reads the state, not the report
        assert result.exit_code == 2, (command, result.output)
        assert "report.json" in result.output and "1e999" in result.output, result.output
        assert report.read_bytes() == held


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_in_a_report_are_refused(base, literal):
    """Python's json reads NaN and Infinity; accept read a NaN duration, placed the
    export and wrote the NaN back into report.json."""
    work = _fresh(base)
    report = work / "done" / "report.json"
    _replace(report, '"retries": 0', f'"retries": 0, "duration_s": {literal}, "_x": 0')
    result = invoke("accept", str(work / "done"), "held")
    assert result.exit_code == 2, result.output
    assert f"{literal} is not a JSON number" in result.output
    assert not (work / "done" / "exports" / "held.jsonl").exists()


def test_a_transcript_holding_hostile_numbers_is_refused_naming_it(base):
    work = _fresh(base)
    har = work / "done" / "transcript.har"
    _replace(har, '"time": ', '"time": 1e999, "_t": ')
    result = invoke("report", str(work / "done"))
    assert result.exit_code == 2, result.output
    assert "transcript.har: line 2:" in result.output
    result = invoke("run", str(work / "spec.yaml"), "--resume", str(work / "done"), "-q")
    assert result.exit_code == 2, result.output
    assert "transcript.har" in result.output and "not resuming it" in result.output


def test_a_resume_refuses_a_transcript_whose_middle_is_not_json(base):
    """Only a crash's last line may be torn: an entry before it that is not strict JSON
    (deeper than any reader goes, or cut in the middle) was edited, and appending to it
    would leave a transcript no reader takes."""
    for broken in ('"time": ' + "[" * 3000 + "1" + "]" * 3000 + ', "_t": ', '"time": 1}, "_t": '):
        work = _fresh(base)
        har = work / "done" / "transcript.har"
        _replace(har, '"time": ', broken)
        held = har.read_bytes()
        result = invoke("run", str(work / "spec.yaml"), "--resume", str(work / "done"), "-q")
        assert result.exit_code == 2, result.output
        assert "transcript.har: line 2:" in result.output and "not resuming it" in result.output
        assert har.read_bytes() == held


def test_a_transcript_entry_of_centuries_is_refused_not_a_crash(base):
    """A finite but absurd duration (1e300 ms) reached the timeline's arithmetic."""
    work = _fresh(base)
    har = work / "done" / "transcript.har"
    _replace(har, '"time": ', '"time": 1e300, "_t": ')
    result = invoke("report", str(work / "done"))
    assert result.exit_code == 2, result.output
    assert "time must be at most" in result.output


def test_a_checkpoint_or_state_holding_hostile_numbers_is_refused_naming_it(base):
    work = _fresh(base)
    checkpoint = work / "crashed" / "checkpoints" / "held.json"
    _replace(checkpoint, '"records": ', '"records": NaN, "_r": ')
    result = invoke("run", str(work / "spec.yaml"), "--resume", str(work / "crashed"), "-q")
    assert result.exit_code == 2, result.output
    assert "checkpoints/held.json is not a checkpoint segrun wrote" in result.output
    state = work / ".segrun" / "state.json"
    data = json.loads(state.read_text())
    state.write_text(state.read_text().replace('"format": 2', '"format": -Infinity'))
    result = invoke("state", "show", str(work / "spec.yaml"))
    assert result.exit_code == 2, result.output
    assert "state.json" in result.output and "-Infinity is not a JSON number" in result.output
    assert data["format"] == 2


def test_strict_json_writes_and_reads_only_json():
    with pytest.raises(ValueError):
        strict_json.dumps({"duration_s": float("nan")})
    with pytest.raises(ValueError):
        strict_json.dumps([float("inf")])
    assert strict_json.loads('{"a": [1, -0.0, 1e-400, 9223372036854775807]}') == {
        "a": [1, -0.0, 0.0, 9223372036854775807]
    }
    for text in [
        "NaN",
        "[Infinity]",
        "-Infinity",
        "1e999",
        "-1E+400",
        "9223372036854775808",
        "1" + "0" * 5000,
        "[" * 100_000,
    ]:
        with pytest.raises(strict_json.NotStrictJSON):
            strict_json.loads(text)
