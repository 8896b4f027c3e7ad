"""`segrun plan`: what run would send, without a socket, and exit 2 on whatever run
would fail on."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support import ROOT
from tests.support.processes import assert_no_traceback


def test_plan_opens_no_socket(tmp_path):
    """An audit hook in the plan's process sees every socket it would create.

    The hook is installed after the imports: importing urllib3 probes for IPv6 by
    binding a socket to [::1]:0 (it never connects); the plan itself must create
    no socket at all, not even that.
    """

    probe = tmp_path / "probe.py"
    probe.write_text(
        textwrap.dedent("""\
        import sys
        from runner.cli import cli
        import runner.commands.plan, runner.sandbox  # everything a plan could import
        events = []
        sys.addaudithook(lambda event, args: events.append(event) if event.startswith("socket.") else None)
        try:
            cli(["plan", sys.argv[1]], prog_name="segrun")
        except SystemExit as e:
            code = e.code
        sys.stderr.write("SOCKET-EVENTS:" + ",".join(events) + "\\n")
        sys.exit(code)
    """)
    )
    for example in ("quickstart.yaml", "alternate-ids.yaml"):
        result = subprocess.run(
            [sys.executable, str(probe), str(ROOT / "examples" / example)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert (
            "POST http://127.0.0.1/Profiles/v4/Async/SanchezAssociates/Export/Segment/"
            in result.stdout
        )
        assert result.stderr.strip().endswith("SOCKET-EVENTS:")


def test_plan_fails_with_2_on_what_run_would_fail_on(segrun, tmp_path):
    spec = tmp_path / "spec.yaml"
    base = "version: 1\nclient_id: ${CID}\njobs:\n  - segment_group: VIP\n"
    spec.write_text(base)
    result = segrun("plan", str(spec), env={"CID": ""})
    assert result.returncode == 2 and "CID is not set" not in result.stdout
    result = segrun("plan", str(spec))
    assert result.returncode == 2
    assert "environment variable CID is not set" in result.stderr
    spec.write_text(
        base.replace("${CID}", "X")
        + "    match_criteria: ProfileId\n    values_file: {path: gone.txt}\n"
    )
    result = segrun("plan", str(spec))
    assert result.returncode == 2 and "'gone.txt' does not exist" in result.stderr
    spec.write_text(
        "version: 1\nclient_id: X\nenvironment: production\nauth:\n  scheme: PNAUTHINFO3-HMAC-SHA256\n"
        "  user_id: u\n  secret_env: SEGRUN_TEST_UNSET_SECRET\njobs:\n  - segment_group: VIP\n"
    )
    result = segrun("plan", str(spec))
    assert result.returncode == 2
    assert "SEGRUN_TEST_UNSET_SECRET (named by auth in the spec) is not set" in result.stderr
    assert_no_traceback(result)


def test_plan_json_and_percent_encoding(segrun, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        textwrap.dedent("""\
        version: 1
        client_id: Acme/Corp
        environment: production
        auth: {scheme: pnauthinfo3-hmac-sha256, user_id: u, secret_env: S}
        jobs:
          - segment_group: "VIP / ../Customers?x#y"
            last_datetime: 2026-01-01T00:00:00.999Z
            match_criteria: ProfileId
            values: [1001, "1002"]
    """)
    )
    result = segrun(
        "plan", "--format", "json", "--show-values", str(spec), env={"S": "plan-secret-value"}
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    (job,) = plan["jobs"]
    assert job["effective_last_datetime"] == "2026-01-01T00:00:01.000Z"
    (request,) = job["requests"]
    assert request["url"] == (
        "https://pm.mypreferences.com/Profiles/v4/Async/Acme%2FCorp/Export/Segment/"
        "VIP%20%2F%20..%2FCustomers%3Fx%23y"
    )
    assert request["headers"]["Authorization"] == "<redacted>"
    assert (
        request["body"]
        == '{"LastDateTime":"2026-01-01T00:00:00.999Z","MatchCriteria":"ProfileId","Values":["1001","1002"]}'
    )
    assert "plan-secret-value" not in result.stdout + result.stderr
    dry = segrun(
        "run",
        "--dry-run",
        "--format",
        "json",
        str(spec),
        env={"S": "plan-secret-value"},
        cwd=tmp_path,
    )
    masked = request["body"].replace('["1001","1002"]', '"<2 values: not shown>"')
    assert json.loads(dry.stdout)["jobs"][0]["requests"][0]["body"] == masked
    assert not Path(tmp_path / "runs").exists()


PEOPLE = 20_000


def people_spec(folder: Path) -> Path:
    """A spec matching on 20,000 e-mail addresses read from a values file."""
    (folder / "people.txt").write_text(
        "".join(f"ada.lovelace.{i}@example.org\n" for i in range(PEOPLE))
    )
    spec = folder / "spec.yaml"
    spec.write_text(
        "version: 1\nclient_id: SanchezAssociates\njobs:\n  - name: people\n"
        "    segment_group: Email Subscribers\n    match_criteria: EmailAddress\n"
        "    values_file: {path: people.txt}\n"
    )
    return spec


def test_a_plan_shows_how_many_match_values_and_three_masked_in_every_format(segrun, tmp_path):
    """A plan is read in CI logs: the Initiate body's Values are their count and the first
    three, masked, whether printed as text or JSON, by `plan` or `run --dry-run`."""
    spec = people_spec(tmp_path)
    for args in (
        ["plan"],
        ["plan", "--format", "json"],
        ["run", "--dry-run"],
        ["run", "--dry-run", "--format", "json"],
    ):
        result = segrun(*args, str(spec), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        out = result.stdout + result.stderr
        assert "lovelace" not in out, args
        assert len(out) < 10_000, (args, len(out))  # not 600 KB of addresses
        if "json" in args:
            (request,) = json.loads(result.stdout)["jobs"][0]["requests"]
            assert request["values"] == {"count": PEOPLE, "masked": ["a***@e***.org"] * 3}
            assert json.loads(request["body"]) == {
                "MatchCriteria": "EmailAddress",
                "Values": f"<{PEOPLE} values: not shown>",
            }
        else:
            assert (
                "Values: 20,000; the first 3, masked: a***@e***.org, a***@e***.org, "
                "a***@e***.org (`segrun plan --show-values` prints them all: personal data)"
            ) in result.stdout
    assert not (tmp_path / "runs").exists()


def test_show_values_prints_every_match_value_as_sent(segrun, tmp_path):
    spec = people_spec(tmp_path)
    text = segrun("plan", "--show-values", str(spec))
    assert text.returncode == 0, text.stderr
    sent = [f"ada.lovelace.{i}@example.org" for i in range(PEOPLE)]
    body = next(line.strip() for line in text.stdout.splitlines() if '"Values"' in line)
    assert json.loads(body)["Values"] == sent
    assert "Values: 20,000, in full in the body above (personal data)" in text.stdout
    as_json = segrun("plan", "--show-values", "--format", "json", str(spec))
    (request,) = json.loads(as_json.stdout)["jobs"][0]["requests"]
    assert json.loads(request["body"])["Values"] == sent
    assert request["values"]["count"] == PEOPLE
