"""`segrun validate` loads only what it uses: a pre-commit hook must not pay for
requests, the sandbox's server or the report writers. And what makes it quick (a
trusted schema, a quick sweep of long value lists) changes no answer."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from cerberus.schema import DefinitionSchema
from hypothesis import given
from hypothesis import strategies as st

from runner.cli import COMMANDS
from runner.jobspec.check import check_file
from runner.jobspec.rules import SpecValidator, _surely_valid, value_problem
from runner.jobspec.schema import spec_schema
from tests.support import ROOT

#: runs the CLI in a fresh interpreter, then lists the modules it had loaded
PROBE = textwrap.dedent(
    """
    import json, sys
    import runner.cli
    sys.argv = ["segrun", *sys.argv[1:]]
    try:
        runner.cli.main()
    except SystemExit as e:
        code = e.code
    print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.__stderr__)
    """
)

#: never needed to check a spec
UNUSED = ("requests", "urllib3", "rich", "jmespath", "openpyxl", "pkg_resources", "http.server")
UNUSED_OF_SEGRUN = (
    "runner.sandbox",
    "runner.http.client",
    "runner.run.execute",
    "runner.http.target",
    "runner.http.signing",
    "runner.records.transcript",
    "runner.records.html",
    "runner.records.junit",
)

BAD = """\
version: 1
client_id: SanchezAssociates
auth: {scheme: PNAUTHINFO3-HMAC-SHA256, user_id: u, secret_env: QUICK_VALIDATE_SECRET}
jobs:
  - segment_group: VIP Customers
    match_criteria: EmailAddress
    values: [not-an-address, a@example.com, a@example.com]
    output: {path: "x/{nope}.jsonl"}
    pol: {interval: 5s}
"""


def probe(*args: str, cwd=ROOT) -> tuple[int, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = json.loads(result.stderr.strip().splitlines()[-1])
    return found["code"], found["modules"]


def loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == n or m.startswith(n + ".") for n in names)]


@pytest.mark.parametrize(
    "spec",
    [
        "examples/quickstart.yaml",
        "examples/incremental.yaml",
        "examples/alternate-ids.yaml",
        "examples/endpoints.yaml",
    ],
)
@pytest.mark.parametrize("fmt", ["text", "human", "json"])
def test_validate_loads_no_http_client_no_sandbox(spec, fmt):
    code, modules = probe("validate", "--format", fmt, spec)
    assert code == 0
    assert loaded(modules, UNUSED + UNUSED_OF_SEGRUN) == []


@pytest.mark.parametrize("fmt", ["text", "human", "json"])
def test_an_invalid_spec_with_auth_loads_no_more(tmp_path, fmt):
    spec = tmp_path / "bad.yaml"
    spec.write_text(BAD)
    code, modules = probe("validate", "--format", fmt, str(spec))
    assert code == 2
    assert loaded(modules, UNUSED + UNUSED_OF_SEGRUN) == []


def test_a_sandbox_data_file_loads_its_checker_not_the_server():
    code, modules = probe("validate", "examples/sandbox.yaml")
    assert code == 0
    assert "runner.sandbox.datafile" in modules
    server = ("runner.sandbox.sandbox", "runner.sandbox.server", "runner.sandbox.service")
    assert loaded(modules, UNUSED + server) == []


def test_help_lists_every_command_with_its_short_help(segrun):
    out = segrun("--help").stdout
    listed = out.split("Commands:")[1]
    for name in COMMANDS:
        short = segrun(name, "--help").stdout.split("\n\n")[1].strip().split("\n")[0]
        line = next(line for line in listed.splitlines() if line.split()[:1] == [name])
        assert line.split(None, 1)[1].rstrip(".").rstrip() in short, (name, line)


def test_an_unknown_command_is_a_usage_error(segrun):
    result = segrun("valdate", "x.yaml")
    assert result.returncode == 2
    assert "No such command 'valdate'" in result.stderr


def test_the_trusted_schema_passes_cerberus_own_check():
    """The one check cerberus no longer makes in every process."""
    DefinitionSchema(SpecValidator(findings=[]), spec_schema())


ANY_VALUE = st.one_of(
    st.text(alphabet="0123456789+-.() \t\n@ab._é٣²x", max_size=24),
    st.from_regex(r"[a-z0-9.]{1,8}@[a-z0-9]{1,6}(\.[a-z]{1,4}){1,2}", fullmatch=True),
    st.from_regex(r"\+?1? ?\(?[0-9]{3}\)? ?[0-9]{3}-?[0-9]{4}", fullmatch=True),
    st.integers(),
    st.booleans(),
    st.none(),
)


@given(st.sampled_from(["ProfileId", "AlternateId", "PhoneNumber", "EmailAddress"]), ANY_VALUE)
def test_the_quick_sweep_never_passes_a_value_the_rule_refuses(criteria, value):
    if _surely_valid(criteria, [value]):
        assert value_problem(criteria, value) is None


@pytest.mark.parametrize(
    ("criteria", "good", "bad"),
    [
        ("EmailAddress", "person{}@example.com", "not-an-address"),
        ("PhoneNumber", "+1 (404) 5{:06d}", "555 123 4567\n"),
        ("ProfileId", "{}", "   "),
        ("AlternateId", "LN{:08d}", ""),
    ],
)
def test_a_long_list_with_one_bad_value_names_it(tmp_path, criteria, good, bad):
    """The quick sweep gives way to the per-value rules, which find the one."""
    extra = "    match_type: LoyaltyNumber\n" if criteria == "AlternateId" else ""
    values = [good.format(i) for i in range(2000)]
    values[1234] = json.dumps(bad)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nclient_id: SanchezAssociates\njobs:\n"
        f"  - segment_group: VIP Customers\n    match_criteria: {criteria}\n{extra}"
        "    values:\n" + "".join(f"      - {v}\n" for v in values)
    )
    found = [d for d in check_file(spec, environ={}).diagnostics if d.is_error]
    assert [(d.line, d.rule) for d in found] == [(1241 + bool(extra), "value-format")], found


def test_plain_scalars_resolve_as_pyyaml_resolves_them():
    """The loader tries Resolver's implicit resolvers itself; that is all of
    Resolver.resolve only while it has no wildcard or path resolvers."""
    from yaml.resolver import Resolver

    assert None not in Resolver.yaml_implicit_resolvers
    assert not Resolver.yaml_path_resolvers
