"""`validate` and `plan` warn, at the spec's line, of everything `run` refuses in a
spec before it sends; `run` refuses exactly that, in the same words (one check:
runner/jobspec/readiness.py). And `validate` checks an endpoint map file kept
beside the specs as what it is.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from runner.apifacts import api
from runner.sandbox import DEMO, running_sandbox
from tests.commands.test_endpoints import CONFIRMED, CountingListener
from tests.support.processes import assert_no_traceback, segrun_argv

PREFIX = "`segrun run` refuses this: "


def write_spec(tmp_path: Path, base_url: str, environment: str, extra: str = "") -> Path:
    """A spec whose line 3 is its environment."""
    spec = tmp_path / "prod.yaml"
    spec.write_text(
        textwrap.dedent(f"""\
            version: 1
            client_id: {DEMO.client_id}
            environment: {environment}
            base_url: {base_url}
            defaults:
              poll: {{interval: 50ms, timeout: 20s}}
              retry: {{attempts: 1, backoff: 0s, max_backoff: 0s}}
            jobs:
              - name: everyone
                segment_group: All Profiles
        """)
        + textwrap.dedent(extra)
    )
    return spec


HMAC = (
    f"auth: {{scheme: {DEMO.scheme}, user_id: {DEMO.user_id}, "
    f"secret_env: {DEMO.secret_variable}}}\n"
)
OAUTH_CERT = """\
auth:
  scheme: oauth2
  user_id: u
  token_url: https://127.0.0.1:9/token
  client_id_env: SEGRUN_TEST_CID
  client_cert_file: nowhere.pem
"""
CONFIRMED_FILE = "endpoints: endpoints.yaml\n"


def unedited_map(segrun, tmp_path: Path) -> None:
    (tmp_path / "endpoints.yaml").write_text(segrun("endpoints").stdout)


def confirmed_map(segrun, tmp_path: Path) -> None:
    (tmp_path / "endpoints.yaml").write_text(yaml.safe_dump(CONFIRMED))


#: (case, spec text after the jobs, the map beside it, the line:col warned at)
CASES = [
    ("no map", HMAC, None, "3:14"),
    ("the output of segrun endpoints", HMAC + CONFIRMED_FILE, unedited_map, "3:14"),
    (
        "a block without confirmed",
        HMAC + "endpoints:\n" + "".join(f"  {c}: {{path: 'x/{{clientId}}'}}\n" for c in api.CALLS),
        None,
        "3:14",
    ),
    ("a map file that is not there", HMAC + "endpoints: gone.yaml\n", None, "12:12"),
    ("a client certificate that is not there", OAUTH_CERT + CONFIRMED_FILE, confirmed_map, "16:21"),
]
ENVIRON = {**DEMO.environment(), "SEGRUN_TEST_CID": "client-id"}


@pytest.mark.parametrize("environment", ["production", "staging"])
@pytest.mark.parametrize(("case", "extra", "beside", "at"), CASES, ids=[c[0] for c in CASES])
def test_validate_and_plan_warn_at_the_spec_line_of_what_run_refuses(
    segrun, tmp_path, environment, case, extra, beside, at
):
    listener = CountingListener()
    try:
        if beside is not None:
            beside(segrun, tmp_path)
        spec = write_spec(tmp_path, listener.url, environment, extra)
        checked = segrun("validate", "--format", "json", str(spec), env=ENVIRON)
        plan = segrun("plan", str(spec), env=ENVIRON)
        run = segrun("run", str(spec), "--out", str(tmp_path / "run"), env=ENVIRON)
    finally:
        listener.close()
    assert checked.returncode == 0, checked.stdout
    (warning,) = [d for d in json.loads(checked.stdout) if d["message"].startswith(PREFIX)]
    assert warning["severity"] == "warning"
    assert f"{warning['line']}:{warning['column']}" == at
    said = warning["message"].removeprefix(PREFIX)
    # run refuses with the very words validate warned with, and sends nothing
    assert run.returncode == 2, run.stderr
    assert said in run.stderr
    assert listener.accepted == 0 and not (tmp_path / "run").exists()
    assert_no_traceback(run)
    if case == "a map file that is not there":  # a plan needs the map for its URLs
        assert plan.returncode == 2 and said in plan.stderr
    else:
        assert plan.returncode == 0, plan.stderr
        assert f"{spec}:{at}: warning: " in plan.stderr and said in plan.stderr


def test_a_spec_validate_and_plan_pass_without_a_warning_runs(segrun, tmp_path):
    confirmed_map(segrun, tmp_path)
    served = api.endpoints({c: CONFIRMED[c] for c in api.CALLS})
    with running_sandbox(profiles=30, seed=3, endpoints=served) as sandbox:
        spec = write_spec(tmp_path, sandbox.base_url, "production", HMAC + CONFIRMED_FILE)
        checked = segrun("validate", "--format", "json", str(spec), env=ENVIRON)
        plan = segrun("plan", str(spec), env=ENVIRON)
        run = segrun("run", str(spec), "--out", str(tmp_path / "run"), env=ENVIRON)
    assert checked.returncode == 0 and json.loads(checked.stdout) == []
    assert plan.returncode == 0 and plan.stderr == ""
    assert f"(confirmed by {CONFIRMED['confirmed_by']})" in plan.stdout
    assert run.returncode == 0, run.stderr + run.stdout


def test_the_warning_is_a_picture_of_the_environment_line(segrun, tmp_path):
    spec = write_spec(tmp_path, "https://pm.mypreferences.com/Profiles/v4/", "production", HMAC)
    checked = segrun("validate", "--format", "human", str(spec), env=ENVIRON)
    assert checked.returncode == 0
    assert f"--> {spec}:3:14" in checked.stdout
    assert "3 | environment: production\n" in checked.stdout
    assert "  |              ^^^^^^^^^^\n" in checked.stdout
    assert "= help: Run `segrun endpoints > endpoints.yaml`" in checked.stdout


def test_plan_draws_the_picture_on_a_terminal(tmp_path):
    """stderr a terminal: the warning with its source line and caret, as validate's."""
    spec = write_spec(tmp_path, "https://pm.mypreferences.com/Profiles/v4/", "staging", HMAC)
    leader, follower = pty.openpty()
    env = {**os.environ, **ENVIRON, "NO_COLOR": "1"}
    env.pop("SEGRUN_DEBUG", None)
    with subprocess.Popen(
        [*segrun_argv(), "plan", str(spec)],
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
    ) as process:
        os.close(follower)
        process.stdout.read()
        code = process.wait(timeout=60)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    shown = b"".join(chunks).decode().replace("\r\n", "\n")
    assert code == 0
    assert "warning: environment: `segrun run` refuses this: environment staging needs" in shown
    assert f"--> {spec}:3:14" in shown
    assert "3 | environment: staging\n" in shown


def test_a_sandbox_spec_draws_no_warning_without_a_map(segrun, tmp_path):
    """The quickstart's case: the embedded sandbox serves the inferred map."""
    spec = tmp_path / "quick.yaml"
    spec.write_text("version: 1\nclient_id: SanchezAssociates\njobs:\n  - segment_group: VIP\n")
    (tmp_path / "endpoints.yaml").write_text(segrun("endpoints").stdout)
    with_map = tmp_path / "quick-map.yaml"
    with_map.write_text(spec.read_text() + CONFIRMED_FILE)
    for path in (spec, with_map):
        checked = segrun("validate", "--format", "json", str(path))
        assert checked.returncode == 0 and json.loads(checked.stdout) == [], checked.stdout
        plan = segrun("plan", str(path))
        assert plan.returncode == 0 and plan.stderr == "", plan.stderr


# -- endpoint map files, checked by validate ----------------------------------------------
def test_validate_checks_specs_and_their_endpoint_map_side_by_side(segrun, tmp_path):
    """`segrun validate jobs/*.yaml`, the map kept beside the specs as the README says."""
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    unedited_map(segrun, jobs)
    write_spec(jobs, "https://pm.mypreferences.com/Profiles/v4/", "production", HMAC)
    (jobs / "prod.yaml").write_text((jobs / "prod.yaml").read_text() + CONFIRMED_FILE)
    names = sorted(str(p) for p in jobs.glob("*.yaml"))
    result = segrun("validate", "--format", "text", *names, env=ENVIRON)
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        f"{jobs / 'endpoints.yaml'}:13:12: warning: confirmed: this endpoint map is not "
        "confirmed: it says `confirmed: false`"
    )
    assert lines[1].startswith(f"{jobs / 'prod.yaml'}:3:14: warning: environment: {PREFIX}")
    assert len(lines) == 2
    assert "2 specs checked: all valid (0 errors, 2 warnings)" in result.stderr


BAD_MAP = """\
confirmed: true
confirmed_by: ticket 12
initiate:
  method: PUT
  path: "x/{token}"
statuss: {path: x}
retrieve: {pth: x}
commit: [a]
"""


def test_validate_reports_every_problem_of_an_endpoint_map_at_its_line(segrun, tmp_path):
    path = tmp_path / "endpoints.yaml"
    path.write_text(BAD_MAP)
    result = segrun("validate", "--format", "text", str(path))
    assert result.returncode == 2
    assert result.stdout.splitlines() == [
        f"{path}:4:11: error: initiate.method: 'PUT' is not one of GET, POST",
        f"{path}:5:9: error: initiate.path: unknown placeholder {{token}}; known: accessToken, "
        "clientId, segmentGroupName",
        f"{path}:6:1: error: statuss: unknown key 'statuss'; did you mean 'status'?",
        f"{path}:7:12: error: retrieve.pth: unknown key 'pth'; did you mean 'path'?",
        f"{path}:8:9: error: commit: must be a mapping, not a list",
    ]
    assert "required key" not in result.stdout  # not read as a spec


def test_validate_names_an_unknown_map_key_with_the_keys_a_map_has(segrun, tmp_path):
    path = tmp_path / "endpoints.yaml"
    path.write_text("confirmed: false\nmisc: 1\n")
    result = segrun("validate", "--format", "text", str(path))
    assert result.returncode == 2
    assert "misc: unknown key 'misc' (a map has initiate, status, retrieve, commit" in (
        result.stdout
    )


def test_plan_and_run_refuse_an_endpoint_map_given_as_the_spec(segrun, tmp_path):
    unedited_map(segrun, tmp_path)
    for command in (("plan",), ("run", "--out", str(tmp_path / "run"))):
        result = segrun(*command, str(tmp_path / "endpoints.yaml"))
        assert result.returncode == 2
        assert "is an endpoint map (`endpoints: FILE` in a spec, or --endpoints FILE)" in (
            result.stderr
        )
        assert_no_traceback(result)


def test_the_example_map_is_what_segrun_endpoints_prints(segrun):
    """examples/endpoints.yaml is the starting point the README names; it must not drift."""
    from tests.support import ROOT

    printed = segrun("endpoints").stdout
    assert (ROOT / "examples" / "endpoints.yaml").read_text() == printed, (
        "run: segrun endpoints > examples/endpoints.yaml"
    )


#: a probe that runs the CLI with every socket operation refused (no lookup, no connect)
NO_SOCKETS = textwrap.dedent("""\
    import sys
    from runner.cli import cli
    import runner.commands.run, runner.sandbox, requests, urllib3

    def refuse(event, args):
        if event.startswith("socket."):
            raise RuntimeError("a socket was about to be used: " + event)

    sys.addaudithook(refuse)
    cli(sys.argv[1:], prog_name="segrun")
""")


def test_a_sandbox_spec_aimed_at_a_mypreferences_host_needs_a_confirmed_map(segrun, tmp_path):
    """`environment: sandbox` does not make pm.mypreferences.com a sandbox."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"version: 1\nclient_id: {DEMO.client_id}\n"
        "base_url: https://PM.MyPreferences.com./Profiles/v4/\n"
        + HMAC
        + "jobs:\n  - segment_group: VIP\n"
    )
    checked = segrun("validate", "--format", "json", str(spec), env=ENVIRON)
    (warning,) = json.loads(checked.stdout)
    assert (warning["line"], warning["path"]) == (3, "base_url")
    assert "base_url pm.mypreferences.com (a MyPreferences host" in warning["message"]
    probe = tmp_path / "probe.py"
    probe.write_text(NO_SOCKETS)
    env = {"PATH": "/usr/bin:/bin", **ENVIRON}
    run = subprocess.run(
        [sys.executable, str(probe), "run", str(spec), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert run.returncode == 2, run.stderr
    assert "a MyPreferences host" in run.stderr and "needs an endpoint map" in run.stderr
    assert "socket was about to be used" not in run.stderr


def test_who_confirmed_a_map_is_shown_on_one_line_that_cannot_drive_the_terminal(segrun, tmp_path):
    by = "Jane\x1b[2J Doe,\nticket 1"
    (tmp_path / "endpoints.yaml").write_text(yaml.safe_dump({**CONFIRMED, "confirmed_by": by}))
    spec = write_spec(
        tmp_path, "https://pm.mypreferences.com/Profiles/v4/", "production", HMAC + CONFIRMED_FILE
    )
    plan = segrun("plan", str(spec), env=ENVIRON)
    assert plan.returncode == 0, plan.stderr
    assert "(confirmed by Jane?[2J Doe, ticket 1)\n" in plan.stdout
    assert "\x1b" not in plan.stdout
