"""Validation speed, as a user meets it: whole processes, start to exit.

Each row times `segrun validate FILE` beside a bare Python process doing the
least work the same answer needs, the two interleaved so machine noise hits
both alike, and prints the ratio of their median wall times (the target), and
of their median CPU times, which other work on the machine disturbs less:

- a 100,000-value spec (one per MatchCriteria) beside
  `python -c "import yaml; yaml.load(open(F), Loader=yaml.CSafeLoader)"`.
  Target: at most 1.0 (issue 12);
- `examples/quickstart.yaml` beside `python -c "import yaml, cerberus, click"`:
  what a pre-commit hook pays for a small file. Target: at most 2.0 (issue 12);

Then, in this process, what checking itself costs beyond start-up: 20,000
invalid values, each one a diagnostic (not e-mail addresses; duplicates),
`check_file` beside a bare CSafeLoader load. Checking must stay linear: target
at most 3.0 (issue 9).

Both sides run with this interpreter (the venv's `segrun`), so interpreter
start-up and site packages cost them the same. Both use compiled bytecode, as
an installed package has it: the children write and read it under a temporary
PYTHONPYCACHEPREFIX (even where PYTHONDONTWRITEBYTECODE is set), and a first
untimed run of each fills it. `--no-bytecode` measures without it instead: every
process compiles segrun's modules (and nothing of yaml, cerberus and click,
whose bytecode pip wrote at install), as a checkout with
PYTHONDONTWRITEBYTECODE=1 does.

    python bench/validate.py [--values 100000] [--invalid 20000] [--repeat 7] [--no-bytecode]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "examples" / "quickstart.yaml"

KINDS = {
    "AlternateId": ("match_type: LoyaltyNumber\n", lambda i: f"LN{i:08d}"),
    "EmailAddress": ("", lambda i: f"person{i}@example.com"),
    "PhoneNumber": ("", lambda i: f"+1 (404) 5{i:06d}"),
    "ProfileId": ("", lambda i: str(1_000_000 + i)),
}

INVALID = {
    "not e-mail addresses": lambda i: f"not-an-email-{i}",
    "duplicates": lambda i: "same@example.com",
}

LOAD = "import sys, yaml; yaml.load(open(sys.argv[1], 'rb'), Loader=yaml.CSafeLoader)"
IMPORTS = "import yaml, cerberus, click"


def build(criteria: str, count: int) -> str:
    extra, make = KINDS[criteria]
    head = (
        "version: 1\nclient_id: SanchezAssociates\njobs:\n"
        f"  - segment_group: Loyalty Members\n    match_criteria: {criteria}\n"
        + "".join(f"    {line}\n" for line in extra.splitlines())
        + "    values:\n"
    )
    return head + "".join(f"      - {make(i)}\n" for i in range(count))


def build_invalid(make, count: int) -> str:
    head = (
        "version: 1\nclient_id: SanchezAssociates\njobs:\n"
        "  - segment_group: Email Subscribers\n    match_criteria: EmailAddress\n    values:\n"
    )
    return head + "".join(f"      - {make(i)}\n" for i in range(count))


def segrun() -> list[str]:
    """The installed console script, run by this interpreter."""
    script = shutil.which("segrun", path=str(Path(sys.executable).parent))
    if script is None:
        raise SystemExit("segrun is not installed beside this python (pip install -e .)")
    return [sys.executable, script]


def child_env(pycache: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    return env


ENV: dict[str, str] = {}


def elapsed(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one whole process."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    _, status, usage = os.wait4(child.pid, 0)
    took = time.perf_counter() - start
    child.returncode = code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} exited {code}")
    return took, usage.ru_utime + usage.ru_stime


def row(label: str, bare: list[str], ours: list[str], repeat: int) -> float:
    """One line of the table; returns the ratio of the median wall times."""
    elapsed(bare)  # warm the page cache and the bytecode cache
    elapsed(ours)
    b_runs, o_runs = [], []
    for _ in range(repeat):
        b_runs.append(elapsed(bare))
        o_runs.append(elapsed(ours))
    b, o = (statistics.median(t for t, _ in runs) for runs in (b_runs, o_runs))
    b_cpu, o_cpu = (statistics.median(c for _, c in runs) for runs in (b_runs, o_runs))
    print(
        f"{label:<22} {b * 1000:>9.0f}ms {o * 1000:>8.0f}ms {o / b:>6.2f}"
        f" {b_cpu * 1000:>9.0f}ms {o_cpu * 1000:>8.0f}ms {o_cpu / b_cpu:>6.2f}",
        flush=True,
    )
    return o / b


def verdict(worst: float, target: float) -> str:
    met = "met" if worst <= target else "MISSED"
    return f"worst wall-time ratio {worst:.2f}: {met} (target at most {target:.1f})"


def header(first: str, bare: str) -> None:
    print(f"{'':<22} {'wall time':^26} {'CPU time (user + system)':^26}")
    print(
        f"{first:<22} {bare:>10} {'segrun':>10} {'ratio':>6} {bare:>10} {'segrun':>10} {'ratio':>6}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=100_000)
    parser.add_argument("--invalid", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--no-bytecode", action="store_true", help="compile segrun's modules in every process"
    )
    args = parser.parse_args()
    ours = segrun()
    python = [sys.executable]
    with tempfile.TemporaryDirectory() as tmp:
        ENV.update(child_env(None if args.no_bytecode else str(Path(tmp) / "pycache")))
        bytecode = "without cached bytecode" if args.no_bytecode else "bytecode cached"
        print(f"whole processes, {bytecode}, median of {args.repeat} each, interleaved\n")
        print(f"{args.values:,} values")
        header("MatchCriteria", "CSafeLoader")
        worst = 0.0
        for criteria in KINDS:
            path = Path(tmp) / f"{criteria}.yaml"
            path.write_text(build(criteria, args.values), encoding="utf-8")
            bare = [*python, "-c", LOAD, str(path)]
            worst = max(worst, row(criteria, bare, [*ours, "validate", str(path)], args.repeat))
        print(verdict(worst, 1.0), "\n")

        print("a small spec")
        header("file", "imports")
        bare = [*python, "-c", IMPORTS]
        small = row(QUICKSTART.name, bare, [*ours, "validate", str(QUICKSTART)], args.repeat)
        print(verdict(small, 2.0), "\n")

        print(verdict(bench_invalid(Path(tmp), args.invalid, args.repeat), 3.0))


def bench_invalid(tmp: Path, count: int, repeat: int) -> float:
    import yaml

    from runner.jobspec.check import check_file

    print(f"{count:,} invalid EmailAddress values, one diagnostic each, in this process")
    print(f"{'values':<22} {'CSafeLoader':>11} {'check_file':>10} {'ratio':>6}")
    worst = 0.0
    for label, make in INVALID.items():
        path = tmp / "invalid.yaml"
        path.write_text(build_invalid(make, count), encoding="utf-8")
        assert len(check_file(path, environ={}).diagnostics) >= count - 1
        bare, ours = [], []
        for _ in range(repeat):  # interleaved
            start = time.perf_counter()
            yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)
            bare.append(time.perf_counter() - start)
            start = time.perf_counter()
            check_file(path, environ={})
            ours.append(time.perf_counter() - start)
        b, o = statistics.median(bare), statistics.median(ours)
        worst = max(worst, o / b)
        print(f"{label:<22} {b * 1000:>9.0f}ms {o * 1000:>8.0f}ms {o / b:>6.2f}", flush=True)
    return worst


if __name__ == "__main__":
    main()
