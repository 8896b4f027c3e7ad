"""A mutation fuzzer over the example specs: `validate`, `plan` and `run --dry-run`
must end with exit 0 or 2, print no traceback and return promptly, whatever the spec.

The tests run a bounded number of inputs (tests/jobspec/test_fuzz.py). The long run,
not part of the default suite:

    python -m tests.support.spec_fuzzer --inputs 100000 [--seed N] [--seconds 900]

prints every input that ended otherwise (saved under --keep, default
/tmp/segrun-fuzz) and a count at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from runner.cli import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SEEDS = sorted(p for p in EXAMPLES.glob("*.yaml"))
#: files the example specs name beside them: values files, and the endpoint map
#: incremental.yaml names (a seed too, mutated like the specs)
DATA_FILES = sorted(p for p in EXAMPLES.glob("*.csv")) + [EXAMPLES / "endpoints.yaml"]
COMMANDS = (("validate",), ("plan",), ("run", "--dry-run"))
ENVIRON = {
    "MYPREF_CLIENT_ID": "SanchezAssociates",
    "MYPREF_USER_ID": "demo-user",
    "MYPREF_SECRET": "fuzz-secret-value",
}
# Numbers YAML spells that no spec means: NaN and the infinities in every spelling, floats
# too large or too small for a float, integers of hundreds and thousands of digits (past
# Python's int() limit), and numbers at the edge of a 53- and a 64-bit integer.
HOSTILE_NUMBERS = [
    ".nan",
    "1.0e-10",
    "-.inf",
    "1.0e+999",
    "1" + "0" * 400,
    "-0.0",
    ".NaN",
    "-1.0e+999",
    "1.0e-400",
    "-1" + "0" * 400,
    "1" + "0" * 5000,
    "9007199254740993",
    "+.inf",
    ".Inf",
    "18446744073709551616",
    "1" + "0" * 400 + ".5",
    "1" + "0" * 400 + "ms",
    "1" + "0" * 400 + "h",
    "0.0000000001s",
    "1e999%",
    "nan%",
    "-inf%",
    "1" + "0" * 400 + "%",
]
# Values that have broken spec readers before, or are near an edge of a rule.
TOKENS = [
    "30",
    "0",
    "-1",
    "1e309",
    ".inf",
    ".nan",
    "3000000000h",
    "99999999999999999999ms",
    "1.5s",
    "5 s",
    "5S",
    "10m",
    "2h",
    "500ms",
    "0s",
    "1_000",
    "0x10",
    "0o7",
    "1:30",
    "+5",
    "1e3",
    '!!bool ""',
    '!!int ""',
    '!!float ""',
    "!!str 5",
    "!!null ''",
    "!!timestamp x",
    "!foo x",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "0001-01-01",
    "2026-02-30",
    "2026-11-21T00:00:00.0001Z",
    "2026-11-21T24:00:00Z",
    "last_success",
    "null",
    "~",
    "''",
    '"http://[::1/"',
    "http://127.0.0.1:99999/",
    "http://127.0.0.1:0/",
    "https://x:-1/",
    "http://[::1]:8080/",
    "https://",
    "ftp://x/",
    "'https://exa mple.com/'",
    "http://localhost/",
    '"{job:d}"',
    '"{job:>2000000000}"',
    '"{job!r}"',
    '"{job:.0}../escape.jsonl"',
    '"{0}"',
    '"{}"',
    '"{job.x}"',
    '"{job[0]}"',
    '"{{job}}.jsonl"',
    '"{job"',
    '"job}"',
    '"."',
    '"./"',
    '"exports/"',
    '"a/"',
    '"a/../b.jsonl"',
    '"../x"',
    '"/etc/passwd"',
    '"C:/x"',
    '"a\\\\b"',
    '"${X"',
    '"${"',
    '"$${X}"',
    '"${MYPREF_SECRET}"',
    '"${UNSET_VAR:-d}"',
    '"${1X}"',
    "/proc/self/environ",
    "/dev/zero",
    "../x.csv",
    "/dev/stdin",
    "loyalty-ids.csv",
    ".",
    "[]",
    "{}",
    "[1, 2]",
    "{a: 1}",
    "[[[]]]",
    "yes",
    "no",
    "on",
    "true",
    "1",
    "-0",
    "1000",
    "1001",
    "100000000000",
    "-100",
    "2147483648",
    *HOSTILE_NUMBERS,
    *(f"{{requests_per_second: {n}}}" for n in HOSTILE_NUMBERS[:12]),
    *(f"{{min_records: {n}, max_records: {n}}}" for n in HOSTILE_NUMBERS[:12:2]),
    *(f"{{interval: {n}, timeout: {n}}}" for n in HOSTILE_NUMBERS[:12:3]),
    "ProfileId",
    "AlternateId",
    "EmailAddress",
    "PhoneNumber",
    "oauth2",
    "PNAUTHINFO3-HMAC-SHA512",
    "production",
    "staging",
    "sandbox",
    '"\\ud800"',
    '"\\x00"',
    '"\\t"',
    "é",
    "'" + "x" * 300 + "'",
    "&a x",
    "*a",
    "*nosuch",
    "? x",
    "|",
    ">",
    "'",
    '"',
    "{",
    "[",
    "#",
    "%",
    "@",
    "`",
]
KEYS = [
    "version",
    "client_id",
    "environment",
    "base_url",
    "auth",
    "scheme",
    "user_id",
    "secret_env",
    "token_url",
    "client_id_env",
    "client_secret_env",
    "secret",
    "endpoints",
    "initiate",
    "method",
    "path",
    "defaults",
    "jobs",
    "name",
    "segment_group",
    "segement_group",
    "last_datetime",
    "match_criteria",
    "match_type",
    "values",
    "values_file",
    "column",
    "output",
    "format",
    "page_size",
    "poll",
    "interval",
    "timeout",
    "retry",
    "attempts",
    "backoff",
    "max_backoff",
    "1",
    "true",
    "null",
    "2026-01-01",
    "<<",
    "'<<'",
    "? [a]",
    "segment_groups",
    "users",
    "criteria",
    "rate_limit",
    "requests_per_second",
    "concurrency",
    "expect",
    "min_records",
    "max_records",
    "max_drop",
    "max_bytes",
]
_VALUE = re.compile(r"^(\s*(?:- )?[^:#\n]+:\s)(.*)$")


class Hang(BaseException):
    """Raised by the alarm: not an Exception, so segrun's error handler cannot swallow it."""


@dataclass
class Outcome:
    command: tuple[str, ...]
    exit_code: int | None
    output: str
    problem: str | None


def mutate(rng: random.Random, text: str, other: str) -> str:
    lines = text.splitlines()
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        if not lines:
            lines = ["version: 1"]
        i = rng.randrange(len(lines))
        op = rng.randrange(8)
        if op <= 2:  # replace a value
            m = _VALUE.match(lines[i])
            if m:
                lines[i] = m[1] + rng.choice(TOKENS)
            else:
                lines[i] = lines[i].rstrip() + " " + rng.choice(TOKENS)
        elif op == 3:  # a new key at the same indent
            indent = re.match(r"^\s*", lines[i])[0]
            lines.insert(i, f"{indent}{rng.choice(KEYS)}: {rng.choice(TOKENS)}")
        elif op == 4:
            del lines[i]
        elif op == 5:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op == 6:  # splice a line of another seed
            spliced = other.splitlines() or [""]
            lines.insert(i, spliced[rng.randrange(len(spliced))])
        else:  # one character
            line = lines[i]
            at = rng.randrange(len(line) + 1)
            lines[i] = line[:at] + rng.choice(" :-[]{}#&*!|>'\"%@`,?$\\\t0aé") + line[at + 1 :]
    return "\n".join(lines) + ("\n" if rng.random() < 0.9 else "")


def inputs(seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    texts = [p.read_text(encoding="utf-8") for p in SEEDS]
    while True:
        yield mutate(rng, rng.choice(texts), rng.choice(texts))


def prepare_folder(folder: Path) -> None:
    for data in DATA_FILES:
        shutil.copy(data, folder / data.name)


def check_one(runner: CliRunner, spec: Path, command: tuple[str, ...], seconds: float) -> Outcome:
    """One command in-process; a problem is anything but exit 0 or 2 with no traceback."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        result = runner.invoke(cli, [*command, str(spec)], env=ENVIRON, catch_exceptions=True)
    except Hang:
        return Outcome(command, None, "", f"took longer than {seconds} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    problem = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        problem = f"raised {type(result.exception).__name__}: {result.exception}"
    elif result.exit_code not in (0, 2):
        problem = f"exit {result.exit_code}"
    elif "Traceback" in output:
        problem = "printed a traceback"
    return Outcome(command, result.exit_code, output, problem)


def _alarm(signum, frame):
    raise Hang


def fuzz(count: int, seed: int, folder: Path, *, seconds_each: float = 20.0, deadline=None):
    """Yield (number, text, problems) for every input, problems being the outcomes that
    went wrong."""
    prepare_folder(folder)
    runner = CliRunner()
    spec = folder / "fuzz.yaml"
    for number, text in zip(range(count), inputs(seed), strict=False):
        if deadline is not None and time.monotonic() > deadline:
            return
        spec.write_text(text, encoding="utf-8", errors="surrogatepass")
        outcomes = [check_one(runner, spec, command, seconds_each) for command in COMMANDS]
        yield number, text, [o for o in outcomes if o.problem]
        # the state folder a plan may create is part of the next input's world
        shutil.rmtree(folder / ".segrun", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--keep", type=Path, default=Path(tempfile.gettempdir()) / "segrun-fuzz")
    args = parser.parse_args()
    # /dev/zero as an input must fail cleanly, not take the machine with it
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    args.keep.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.seconds if args.seconds else None
    started = time.monotonic()
    found = 0
    done = 0
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        for number, text, problems in fuzz(args.inputs, args.seed, Path(tmp), deadline=deadline):
            done = number + 1
            if done % 1000 == 0:  # a long run that is stopped still says how far it got
                print(f"{done} inputs in {time.monotonic() - started:.0f} s", flush=True)
            if not problems:
                continue
            found += 1
            (args.keep / f"{args.seed}-{number}.yaml").write_text(
                text, encoding="utf-8", errors="surrogatepass"
            )
            for outcome in problems:
                last = outcome.output.strip().splitlines()[-1:] or [""]
                print(f"input {number}: {' '.join(outcome.command)}: {outcome.problem}: {last[0]}")
            sys.stdout.flush()
    print(
        f"{done} inputs x {len(COMMANDS)} commands in {time.monotonic() - started:.0f} s; "
        f"{found} inputs with problems (kept in {args.keep})"
    )


if __name__ == "__main__":
    main()
