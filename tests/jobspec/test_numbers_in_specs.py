"""Every number a spec holds is finite and bounded, refused at its line otherwise (exit 2,
nothing sent): YAML spells NaN and the infinities (.nan, .inf, and 1.0e+999 overflows to
.inf), NaN passes every min and max, and an integer can have thousands of digits. The
messages for each field are in tests/jobspec/corpus/invalid/74-numbers-out-of-range.yaml."""

from __future__ import annotations

import textwrap

from runner.jobspec.check import check_file
from runner.jobspec.schema import spec_schema
from runner.system.numbers import MAX_COUNT
from tests.support import spec_fuzzer
from tests.support.processes import assert_no_traceback
from tests.support.specs import write_spec


def _number_fields(schema: dict, path: tuple = ()) -> list[tuple[tuple, dict]]:
    found = []
    for name, rules in schema.items():
        if not isinstance(rules, dict):
            continue
        kinds = rules.get("type")
        kinds = [kinds] if isinstance(kinds, str) else kinds or []
        if {"integer", "number"} & set(kinds):
            found.append(((*path, name), rules))
        inner = rules.get("schema")
        if isinstance(inner, dict):
            nested = inner.get("schema") if inner.get("type") == "dict" else inner
            if isinstance(nested, dict):
                found.extend(_number_fields(nested, (*path, name)))
    return found


def test_every_number_of_the_spec_format_has_a_ceiling():
    fields = _number_fields(spec_schema())
    assert len(fields) >= 9, [p for p, _ in fields]
    for path, rules in fields:
        bounded = "allowed" in rules or rules.get("max", MAX_COUNT + 1) <= MAX_COUNT
        assert bounded, f"{'.'.join(path)} takes any number: give it a max in specs/jobspec.yaml"


def test_a_rate_near_zero_is_refused_before_anything_is_sent(sandbox, segrun, tmp_path):
    """`requests_per_second: 1e-10` passed validation (more than 0, at most 1000), and
    the run crashed with exit 70 after its first request: the wait before the second
    overflowed the clock."""
    for rate in ("1.0e-10", "0.00001", ".nan", "-.inf", "1.0e+999"):
        spec = write_spec(
            tmp_path,
            sandbox.base_url,
            "- segment_group: VIP Customers\n",
            top=f"rate_limit: {{requests_per_second: {rate}}}\n",
        )
        result = segrun("run", str(spec), "--out", str(tmp_path / "run"), cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "spec.yaml:5:" in result.stdout + result.stderr  # at its line
        assert_no_traceback(result)
        assert not (tmp_path / "run").exists()
    assert sandbox.counters.requests() == 0


def test_one_request_a_day_is_a_rate(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        textwrap.dedent(
            """\
            version: 1
            client_id: SanchezAssociates
            rate_limit: {requests_per_second: 0.0000116}
            jobs:
              - segment_group: VIP Customers
            """
        )
    )
    result = check_file(spec, environ={})
    assert result.ok, result.diagnostics
    assert result.spec.requests_per_second == 0.0000116


def test_an_integer_past_pythons_digit_limit_is_an_error_at_its_line(segrun, tmp_path):
    """int() refuses more than 4,300 digits with a ValueError about
    sys.set_int_max_str_digits, which `validate` reported as a bug (exit 70)."""
    huge = "1" + "0" * 5000
    spec = tmp_path / "spec.yaml"
    for line in (f"    page_size: {huge}", f"    values: [{huge}]\n    match_criteria: ProfileId"):
        spec.write_text(
            f"version: 1\nclient_id: SanchezAssociates\njobs:\n  - segment_group: VIP\n{line}\n"
        )
        result = segrun("validate", str(spec), cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "spec.yaml:5:" in result.stdout and "quote it as a string" in result.stdout
        assert huge not in result.stdout + result.stderr
        assert_no_traceback(result)


#: hostile numbers that some field takes: 1e-10 s of back-off, 0% of max_drop
TINY = {"1.0e-10", "-0.0", "1.0e-400", "0.0000000001s"}


def test_every_hostile_number_in_every_number_field(tmp_path, monkeypatch):
    """Each hostile number of the fuzzer's list in each number field of the examples, and
    each hostile duration in each duration: an error at that line, never an exception."""
    monkeypatch.chdir(tmp_path)
    spec_fuzzer.prepare_folder(tmp_path)
    spec = tmp_path / "fuzz.yaml"
    fields = ("page_size", "concurrency", "attempts", "interval", "timeout", "backoff")
    base = (spec_fuzzer.EXAMPLES / "quickstart.yaml").read_text()
    base = base.replace(
        "defaults:\n",
        "rate_limit: {requests_per_second: 5}\ndefaults:\n"
        "  concurrency: 2\n  retry: {attempts: 3, backoff: 1s}\n"
        "  expect: {min_records: 1, max_records: 100, max_drop: 50%}\n",
    )
    lines = base.splitlines()
    checked = 0
    for index, line in enumerate(lines):
        for field in (*fields, "requests_per_second", "min_records", "max_records", "max_drop"):
            if f"{field}:" not in line:
                continue
            for number in spec_fuzzer.HOSTILE_NUMBERS:
                start = line.index(f"{field}:") + len(field) + 2
                end = min(
                    (i for i in (line.find(",", start), line.find("}", start)) if i > 0),
                    default=len(line),
                )
                changed = [*lines[:index], line[:start] + number + line[end:], *lines[index + 1 :]]
                spec.write_text("\n".join(changed) + "\n")
                result = check_file(spec, environ={})
                if number not in TINY:  # a tiny back-off or percentage is a fine one
                    assert not result.ok, (field, number)
                if not result.ok:
                    assert any(d.line == index + 1 for d in result.diagnostics), (field, number)
                checked += 1
    assert checked >= 10 * len(spec_fuzzer.HOSTILE_NUMBERS)
