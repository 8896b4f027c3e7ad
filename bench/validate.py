"""Validation speed: segrun's full check of a 100,000-value spec beside a bare
`yaml.load(text, Loader=yaml.CSafeLoader)` of the same file, in one run.

segrun's check = load with positions + ${VAR} substitution + defaults merge +
cerberus schema + custom rules. Target: ratio <= 1.5 (issue 2).

Then the costly case: a spec whose values are all invalid (20,000 e-mail
values that are not e-mail addresses, and 20,000 duplicates), each one a
diagnostic. Checking must stay linear: target ratio <= 3 (issue 9).

    python bench/validate.py [--values 100000] [--invalid 20000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from runner.spec.check import check_file

KINDS = {
    "AlternateId": ("match_type: LoyaltyNumber\n", lambda i: f"LN{i:08d}"),
    "EmailAddress": ("", lambda i: f"person{i}@example.com"),
    "PhoneNumber": ("", lambda i: f"+1 (404) 5{i:06d}"),
    "ProfileId": ("", lambda i: str(1_000_000 + i)),
}


def build(criteria: str, count: int) -> str:
    extra, make = KINDS[criteria]
    head = (
        "version: 1\nclient_id: SanchezAssociates\njobs:\n"
        f"  - segment_group: Loyalty Members\n    match_criteria: {criteria}\n"
        + "".join(f"    {line}\n" for line in extra.splitlines())
        + "    values:\n"
    )
    return head + "".join(f"      - {make(i)}\n" for i in range(count))


INVALID = {
    "not e-mail addresses": lambda i: f"not-an-email-{i}",
    "duplicates": lambda i: "same@example.com",
}


def build_invalid(make, count: int) -> str:
    head = (
        "version: 1\nclient_id: SanchezAssociates\njobs:\n"
        "  - segment_group: Email Subscribers\n    match_criteria: EmailAddress\n    values:\n"
    )
    return head + "".join(f"      - {make(i)}\n" for i in range(count))


def elapsed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def bare_load(path: Path) -> None:
    yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=100_000)
    parser.add_argument("--invalid", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"{args.values:,} values, median of {args.repeat} runs each, interleaved\n")
    print(f"{'MatchCriteria':<14} {'CSafeLoader':>12} {'segrun check':>13} {'ratio':>7}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for criteria in KINDS:
            path = Path(tmp) / f"{criteria}.yaml"
            text = build(criteria, args.values)
            path.write_text(text, encoding="utf-8")
            result = check_file(path, environ={})
            assert result.ok and len(result.spec.jobs[0].values) == args.values
            # Interleave the two so machine noise hits both alike.
            bare, ours = [], []
            for _ in range(args.repeat):
                bare.append(elapsed(bare_load, path))
                ours.append(elapsed(check_file, path, environ={}))
            b, o = statistics.median(bare), statistics.median(ours)
            worst = max(worst, o / b)
            print(f"{criteria:<14} {b * 1000:>10.0f}ms {o * 1000:>11.0f}ms {o / b:>7.2f}")
    verdict = "meets" if worst <= 1.5 else "MISSES"
    print(f"\nworst ratio {worst:.2f} ({verdict} the target of 1.5)")
    invalid_worst = bench_invalid(args.invalid, args.repeat)
    verdict = "meets" if invalid_worst <= 3 else "MISSES"
    print(f"\nworst ratio {invalid_worst:.2f} ({verdict} the target of 3)")


def bench_invalid(count: int, repeat: int) -> float:
    print(f"\n{count:,} invalid EmailAddress values, one diagnostic each, median of {repeat}\n")
    print(f"{'values':<22} {'CSafeLoader':>12} {'segrun check':>13} {'ratio':>7}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for label, make in INVALID.items():
            path = Path(tmp) / "invalid.yaml"
            path.write_text(build_invalid(make, count), encoding="utf-8")
            result = check_file(path, environ={})
            assert len(result.diagnostics) >= count - 1
            bare, ours = [], []
            for _ in range(repeat):
                bare.append(elapsed(bare_load, path))
                ours.append(elapsed(check_file, path, environ={}))
            b, o = statistics.median(bare), statistics.median(ours)
            worst = max(worst, o / b)
            print(f"{label:<22} {b * 1000:>10.0f}ms {o * 1000:>11.0f}ms {o / b:>7.2f}")
    return worst


if __name__ == "__main__":
    main()
