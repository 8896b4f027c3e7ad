"""A real account needs an endpoint map the user confirmed; the sandbox does not.

The v4 segment-group paths are not published and the inferred Initiate path is
the legacy *segment* export's (specs/endpoints.yaml), so `run` refuses
production and staging without a confirmed map, before opening any connection.
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
from runner.jobspec.endpoint_map import load_file
from runner.sandbox import DEMO, running_sandbox
from tests.support.processes import assert_no_traceback, segrun_argv
from tests.support.runs import read_jsonl

# A map unlike the inferred one in every path, as a user's corrected file would be.
CONFIRMED = {
    "initiate": {"method": "POST", "path": "{clientId}/SegmentGroups/{segmentGroupName}/Export"},
    "status": {"method": "GET", "path": "{clientId}/SegmentGroups/Export/{accessToken}/Status"},
    "retrieve": {"method": "GET", "path": "{clientId}/SegmentGroups/Export/{accessToken}"},
    "commit": {"method": "POST", "path": "{clientId}/SegmentGroups/Export/Commit/{accessToken}"},
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


def test_segrun_endpoints_prints_the_inferred_map_with_a_source_on_each_line(segrun, tmp_path):
    result = segrun("endpoints")
    assert result.returncode == 0, result.stderr
    entries = [line for line in result.stdout.splitlines() if line.startswith("  ")]
    assert len(entries) == 8 and all(" # " in line for line in entries)
    assert "legacy SEGMENT export" in result.stdout
    path = tmp_path / "endpoints.yaml"
    path.write_text(result.stdout)
    inferred = {c: {"method": e.method, "path": e.path} for c, e in api.endpoints().items()}
    assert load_file(path) == inferred


def test_endpoints_file_runs_production_against_a_sandbox_serving_that_map(segrun, tmp_path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "endpoints.yaml").write_text(yaml.safe_dump(CONFIRMED))
    served = api.endpoints(load_file(tmp_path / "shared" / "endpoints.yaml"))
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
            "endpoint map {file}: initiate.path: unknown placeholder {{nope}}",
        ),
        (
            "initiate: {method: PUT, path: x}\n",
            "endpoint map {file}: initiate.method: unallowed value PUT",
        ),
        ("commits: {path: x}\n", "endpoint map {file}: commits: unknown key"),
        ("initiate: [a, b]\n", "endpoint map {file}: initiate: must be of dict type"),
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
