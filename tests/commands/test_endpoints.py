"""A real account needs an endpoint map a person confirmed; the sandbox does not.

The v4 segment-group paths are not published and the inferred Initiate path is
the legacy *segment* export's (specs/endpoints.yaml), so `run` refuses
production and staging without a confirmed map, before opening any connection.
Confirming is written into the map (`confirmed: true` and where from): the map
`segrun endpoints` prints says it is not, and is refused as it stands.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import yaml

from runner.apifacts import api
from runner.jobspec import endpoint_map
from runner.jobspec.endpoint_map import load_file
from runner.sandbox import DEMO, running_sandbox
from tests.support.processes import assert_no_traceback, segrun_argv
from tests.support.runs import read_jsonl

# A map unlike the inferred one in every path, as a user's corrected file would be.
PATHS = {
    "initiate": {"method": "POST", "path": "{clientId}/SegmentGroups/{segmentGroupName}/Export"},
    "status": {"method": "GET", "path": "{clientId}/SegmentGroups/Export/{accessToken}/Status"},
    "retrieve": {"method": "GET", "path": "{clientId}/SegmentGroups/Export/{accessToken}"},
    "commit": {"method": "POST", "path": "{clientId}/SegmentGroups/Export/Commit/{accessToken}"},
}
#: ... and confirmed by a person who says where from
CONFIRMED = {
    "confirmed": True,
    "confirmed_by": "Jane Doe, from PossibleNOW support ticket #1234, 2026-12-01",
    **PATHS,
}


def production_spec(tmp_path: Path, base_url: str, extra: str = "") -> Path:
    spec = tmp_path / "prod.yaml"
    spec.write_text(
        textwrap.dedent(f"""\
            version: 1
            client_id: {DEMO.client_id}
            environment: production
            base_url: {base_url}
            auth: {{scheme: {DEMO.scheme}, user_id: {DEMO.user_id}, secret_env: {DEMO.secret_variable}}}
            defaults:
              poll: {{interval: 50ms, timeout: 20s}}
              retry: {{attempts: 2, backoff: 0s, max_backoff: 0s}}
            jobs:
              - name: everyone
                segment_group: All Profiles
                page_size: 100
        """)
        + extra
    )
    return spec


class CountingListener:
    """A loopback socket that counts the connections made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/Profiles/v4/"

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def test_production_without_a_confirmed_map_exits_2_and_connects_nowhere(segrun, tmp_path):
    listener = CountingListener()
    try:
        spec = production_spec(tmp_path, listener.url)
        result = segrun("run", str(spec), "--out", str(tmp_path / "run"), env=DEMO.environment())
    finally:
        listener.close()
    assert result.returncode == 2, result.stderr
    assert listener.accepted == 0
    assert not (tmp_path / "run").exists()
    assert "environment production needs an endpoint map you have confirmed" in result.stderr
    assert "segrun endpoints > endpoints.yaml" in result.stderr
    assert "nothing was sent" in result.stderr
    assert_no_traceback(result)


def test_the_refusal_opens_no_socket_at_all(tmp_path):
    """The audit hook of test_plan_opens_no_socket, on `run`: not even a socket
    object is created before the refusal."""
    spec = production_spec(tmp_path, "https://pm.mypreferences.com/Profiles/v4/")
    spec.write_text(
        spec.read_text().replace("base_url: https://pm.mypreferences.com/Profiles/v4/\n", "")
    )
    probe = tmp_path / "probe.py"
    probe.write_text(
        textwrap.dedent("""\
        import sys
        from runner.cli import cli
        import runner.commands.run, runner.sandbox, requests, urllib3
        events = []
        sys.addaudithook(lambda event, args: events.append(event) if event.startswith("socket.") else None)
        try:
            cli(["run", sys.argv[1], "--out", sys.argv[2]], prog_name="segrun")
        except SystemExit as e:
            code = e.code
        sys.stderr.write("SOCKET-EVENTS:" + ",".join(events) + "\\n")
        sys.exit(code)
    """)
    )
    env = {"PATH": "/usr/bin:/bin", **DEMO.environment()}
    result = subprocess.run(
        [sys.executable, str(probe), str(spec), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().endswith("SOCKET-EVENTS:")
    assert "segrun endpoints" in result.stderr


def test_staging_and_a_partial_block_are_refused_too(segrun, tmp_path):
    spec = production_spec(tmp_path, "https://pmstg.mypreferences.com/Profiles/v4/")
    text = spec.read_text().replace("environment: production", "environment: staging")
    spec.write_text(text + "endpoints:\n  initiate: {path: 'x/{clientId}/{segmentGroupName}'}\n")
    result = segrun("run", str(spec), "--out", str(tmp_path / "run"), env=DEMO.environment())
    assert result.returncode == 2
    assert "environment staging needs an endpoint map" in result.stderr
    assert "the paths of status, retrieve, commit are only inferred" in result.stderr


def test_segrun_endpoints_prints_the_inferred_map_marked_unconfirmed_in_its_own_keys(
    segrun, tmp_path
):
    """Not only comments: `confirmed: false` and an INFERRED source on every call,
    which a program reads as plainly as a person."""
    result = segrun("endpoints")
    assert result.returncode == 0, result.stderr
    document = yaml.safe_load(result.stdout)
    assert document["confirmed"] is False and document["confirmed_by"] is None
    for call in api.CALLS:
        assert document[call]["source"].startswith("INFERRED"), call
    assert "legacy SEGMENT export" in document["initiate"]["source"]
    methods = [line for line in result.stdout.splitlines() if line.startswith("  method:")]
    assert len(methods) == 4 and all(" # documented" in line for line in methods)
    path = tmp_path / "endpoints.yaml"
    path.write_text(result.stdout)
    inferred = {c: {"method": e.method, "path": e.path} for c, e in api.endpoints().items()}
    assert load_file(path).calls == inferred
    assert endpoint_map.why_unconfirmed(load_file(path)) is not None


def test_the_unedited_output_of_segrun_endpoints_is_refused_and_connects_nowhere(segrun, tmp_path):
    listener = CountingListener()
    try:
        (tmp_path / "endpoints.yaml").write_text(segrun("endpoints").stdout)
        spec = production_spec(tmp_path, listener.url, "endpoints: endpoints.yaml\n")
        result = segrun("run", str(spec), "--out", str(tmp_path / "run"), env=DEMO.environment())
    finally:
        listener.close()
    assert result.returncode == 2, result.stderr
    assert listener.accepted == 0
    assert not (tmp_path / "run").exists()
    assert "environment production needs an endpoint map you have confirmed" in result.stderr
    assert "endpoints.yaml says `confirmed: false`" in result.stderr
    assert "nothing was sent" in result.stderr
    assert_no_traceback(result)


def _edited(text: str, confirmed_by: bool, sources: str) -> str:
    """The output of `segrun endpoints` with `confirmed: true` and, as asked, a
    confirmed_by, and the sources kept ("inferred"), dropped ("none") or replaced ("own")."""
    lines = []
    for line in text.splitlines():
        if line == "confirmed: false":
            line = "confirmed: true"
        elif line.startswith("confirmed_by:") and confirmed_by:
            line = 'confirmed_by: "Jane Doe, from PossibleNOW support ticket #1234, 2026-12-01"'
        elif line.startswith("  source:") and sources == "none":
            continue
        elif line.startswith("  source:") and sources == "own":
            line = '  source: "PossibleNOW support ticket #1234"'
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("confirmed_by", "sources", "says"),
    [
        (False, "inferred", "initiate.source still says INFERRED"),
        (True, "inferred", "initiate.source still says INFERRED"),
        (False, "none", "says `confirmed: true` but not where from"),
    ],
)
def test_a_confirmation_that_says_nothing_of_where_from_is_refused(
    segrun, tmp_path, confirmed_by, sources, says
):
    listener = CountingListener()
    try:
        text = _edited(segrun("endpoints").stdout, confirmed_by, sources)
        (tmp_path / "endpoints.yaml").write_text(text)
        spec = production_spec(tmp_path, listener.url, "endpoints: endpoints.yaml\n")
        result = segrun("run", str(spec), "--out", str(tmp_path / "run"), env=DEMO.environment())
    finally:
        listener.close()
    assert result.returncode == 2, result.stderr
    assert listener.accepted == 0
    assert says in result.stderr
    assert_no_traceback(result)


#: words that show nothing: blank to a reader, though not to str.strip
INVISIBLE = ["\\u200b", "\\u2060\\u200b", "\\u00a0\\u200d", "\\ufeff", "\\u00ad"]


@pytest.mark.parametrize("words", INVISIBLE)
def test_a_confirmation_in_invisible_words_says_nothing_of_where_from(segrun, tmp_path, words):
    """`confirmed_by:` and each call's `source:` must say something a person can read: a
    zero-width space is a bare `confirmed: true` in disguise."""
    text = _edited(segrun("endpoints").stdout, False, "none")
    for said in (f'confirmed_by: "{words}"', None):
        if said is None:  # a source on each call instead, as invisible
            edited = _edited(segrun("endpoints").stdout, False, "own")
            edited = edited.replace("PossibleNOW support ticket #1234", words)
        else:
            edited = text.replace("confirmed_by: null", said, 1)
        (tmp_path / "endpoints.yaml").write_text(edited)
        spec = production_spec(
            tmp_path, "https://pm.mypreferences.com/Profiles/v4/", "endpoints: endpoints.yaml\n"
        )
        plan = segrun("plan", "--format", "json", str(spec), env=DEMO.environment())
        assert "says `confirmed: true` but not where from" in plan.stderr, (words, said)


@pytest.mark.parametrize(
    ("confirmed_by", "sources"), [(True, "none"), (False, "own"), (True, "own")]
)
def test_a_person_confirms_a_map_with_confirmed_by_or_a_source_on_each_call(
    segrun, tmp_path, confirmed_by, sources
):
    (tmp_path / "endpoints.yaml").write_text(
        _edited(segrun("endpoints").stdout, confirmed_by, sources)
    )
    spec = production_spec(
        tmp_path, "https://pm.mypreferences.com/Profiles/v4/", "endpoints: endpoints.yaml\n"
    )
    plan = segrun("plan", "--format", "json", str(spec), env=DEMO.environment())
    assert plan.returncode == 0, plan.stderr
    assert plan.stderr == ""
    assert all(r["endpoint_confirmed"] for r in json.loads(plan.stdout)["jobs"][0]["requests"])
    both = (str(spec), str(tmp_path / "endpoints.yaml"))
    checked = segrun("validate", "--format", "text", *both, env=DEMO.environment())
    assert checked.returncode == 0 and checked.stdout == "", checked.stdout


def test_a_spec_block_is_held_to_the_same_confirmation(segrun, tmp_path):
    """Four paths written into the spec are not a confirmation either."""
    block = "endpoints:\n" + "".join(
        f'  {call}: {{method: {e["method"]}, path: "{e["path"]}"}}\n' for call, e in PATHS.items()
    )
    spec = production_spec(tmp_path, "https://pm.mypreferences.com/Profiles/v4/", block)
    result = segrun("run", str(spec), "--out", str(tmp_path / "run"), env=DEMO.environment())
    assert result.returncode == 2
    assert f"the endpoints: block of {spec} does not say `confirmed: true`" in result.stderr
    spec.write_text(
        spec.read_text().replace(
            "endpoints:\n", "endpoints:\n  confirmed: true\n  confirmed_by: ticket #1234\n"
        )
    )
    plan = segrun("plan", "--format", "json", str(spec), env=DEMO.environment())
    assert plan.returncode == 0 and plan.stderr == "", plan.stderr
    assert json.loads(plan.stdout)["jobs"][0]["requests"][0]["endpoint_confirmed"] is True


def test_endpoints_file_runs_production_against_a_sandbox_serving_that_map(segrun, tmp_path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "endpoints.yaml").write_text(yaml.safe_dump(CONFIRMED))
    served = api.endpoints(load_file(tmp_path / "shared" / "endpoints.yaml").calls)
    with running_sandbox(profiles=250, seed=5, endpoints=served) as sandbox:
        spec = production_spec(tmp_path, sandbox.base_url, "endpoints: shared/endpoints.yaml\n")
        plan = segrun("plan", "--format", "json", str(spec), env=DEMO.environment())
        result = segrun("run", str(spec), "--out", str(tmp_path / "run"), env=DEMO.environment())
        expected = sandbox.expected_records("All Profiles")
        for call in api.CALLS:
            assert sandbox.counters.requests(call) > 0, call
    assert result.returncode == 0, result.stderr + result.stdout
    assert read_jsonl(tmp_path / "run" / "exports" / "everyone.jsonl") == expected
    request = json.loads(plan.stdout)["jobs"][0]["requests"][0]
    assert request["url"].endswith("/SanchezAssociates/SegmentGroups/All%20Profiles/Export")
    assert request["endpoint_confirmed"] is True


def test_run_endpoints_option_and_segrun_sandbox_endpoints(segrun, tmp_path):
    """`segrun sandbox --endpoints FILE` serves the map; `run --endpoints FILE` uses it."""
    path = tmp_path / "endpoints.yaml"
    path.write_text(yaml.safe_dump(CONFIRMED))
    server = subprocess.Popen(
        [
            *segrun_argv(),
            "sandbox",
            "--endpoints",
            str(path),
            "--processing-seconds",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = server.stdout.readline()
        base_url = first.split()[-1]
        assert base_url.startswith("http://127.0.0.1:"), first
        spec = production_spec(tmp_path, base_url)
        result = segrun(
            "run",
            str(spec),
            "--endpoints",
            str(path),
            "--out",
            str(tmp_path / "run"),
            env=DEMO.environment(),
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert result.returncode == 0, result.stderr + result.stdout
    assert len(read_jsonl(tmp_path / "run" / "exports" / "everyone.jsonl")) == 250


def test_plan_marks_inferred_paths_unconfirmed(segrun, tmp_path):
    spec = production_spec(tmp_path, "https://pm.mypreferences.com/Profiles/v4/")
    result = segrun("plan", str(spec), env=DEMO.environment())
    assert result.returncode == 0, result.stderr
    assert "`segrun run` refuses this: environment production needs" in result.stderr
    assert "/Export/Segment/All%20Profiles  [UNCONFIRMED path]" in result.stdout
    assert "(UNCONFIRMED)" in result.stdout
    as_json = segrun("plan", "--format", "json", str(spec), env=DEMO.environment())
    job = json.loads(as_json.stdout)["jobs"][0]
    assert job["requests"][0]["endpoint_confirmed"] is False
    assert any("UNCONFIRMED endpoint paths" in note for note in job["notes"])


def test_an_initiate_404_that_names_nothing_blames_the_path(segrun, tmp_path):
    """The sandbox serves the inferred map; the spec's confirmed map is wrong."""
    path = tmp_path / "endpoints.yaml"
    path.write_text(yaml.safe_dump(CONFIRMED))
    with running_sandbox(profiles=20, seed=5) as sandbox:
        spec = production_spec(tmp_path, sandbox.base_url, "endpoints: endpoints.yaml\n")
        result = segrun("run", str(spec), "--out", str(tmp_path / "run"), env=DEMO.environment())
    assert result.returncode == 1
    error = json.loads((tmp_path / "run" / "report.json").read_text())["jobs"][0]["error"]
    assert error.startswith("initiate answered HTTP 404: No HTTP resource was found")
    assert "the Initiate path itself may be wrong" in error
    assert f"endpoint map in use: {path}" in error


def test_an_initiate_404_naming_the_segment_group_does_not_blame_the_path(tmp_path):
    from runner.http.client import ApiClient, CallStats, RetryPolicy
    from runner.http.signing import PnAuthInfo3

    with running_sandbox(profiles=20, seed=5) as sandbox:
        client = ApiClient(
            base_url=sandbox.base_url,
            client_id=DEMO.client_id,
            endpoints=api.endpoints(),
            auth=PnAuthInfo3(DEMO.scheme, DEMO.client_id, DEMO.user_id, DEMO.secret),
            endpoint_source="a test map",
        )
        try:
            client.call(
                "initiate",
                job="j",
                policy=RetryPolicy(1, 0, 0),
                stats=CallStats(),
                params={"segmentGroupName": "No Such Group"},
                body={},
            )
        except Exception as e:  # noqa: BLE001
            message = str(e)
        finally:
            client.close()
    assert message == "initiate answered HTTP 404: Segment group 'No Such Group' was not found"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "endpoint map {file}: cannot read the file"),
        (
            "",
            "endpoint map {file}: must be a mapping of calls (initiate, status, retrieve, commit)",
        ),
        ("- initiate\n", "endpoint map {file}:1:1: must be a mapping of calls"),
        (
            "initiate: {path: 'x/{nope}'}\n",
            "endpoint map {file}:1:18: initiate.path: unknown placeholder {{nope}}",
        ),
        (
            "initiate: {method: PUT, path: x}\n",
            "endpoint map {file}:1:20: initiate.method: 'PUT' is not one of GET, POST",
        ),
        (
            "commits: {path: x}\n",
            "endpoint map {file}:1:1: commits: unknown key 'commits'; did you mean 'commit'?",
        ),
        ("initiate: [a, b]\n", "endpoint map {file}:1:11: initiate: must be a mapping, not a list"),
        (
            "confirmed: yes please\n",
            "endpoint map {file}:1:12: confirmed: must be true or false",
        ),
    ],
)
def test_a_bad_endpoint_map_is_one_clear_line_and_exit_2(segrun, tmp_path, text, message):
    path = tmp_path / "endpoints.yaml"
    if text is not None:
        path.write_text(text)
    spec = production_spec(
        tmp_path, "https://pm.mypreferences.com/Profiles/v4/", "endpoints: endpoints.yaml\n"
    )
    for command in ("plan", "run"):
        result = segrun(command, str(spec), env=DEMO.environment(), cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert message.format(file=path) in result.stderr, result.stderr
        assert_no_traceback(result)
    assert not (tmp_path / "runs").exists()
