"""The run directory and the terminal: complete, standard, and free of secrets."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

from runner.records.report import RunReport
from runner.sandbox import DEMO, Sandbox
from tests.support import ROOT
from tests.support.processes import assert_no_traceback, segrun_argv
from tests.support.runs import read_jsonl, run
from tests.support.specs import write_spec

SCHEMAS = ROOT / "tests" / "records" / "schemas"


def har_validator():
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT6

    resources = []
    for path in (SCHEMAS / "har-schema").glob("*.json"):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"].rstrip("#"), Resource.from_contents(schema, DRAFT6)))
    root = json.loads((SCHEMAS / "har-schema" / "har.json").read_text())
    return jsonschema.Draft6Validator(root, registry=Registry().with_resources(resources))


def test_quickstart_from_the_readme(segrun, tmp_path):
    """The README's first command: a real run against the embedded sandbox."""
    result = segrun("run", str(ROOT / "examples" / "quickstart.yaml"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_no_traceback(result)
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.endswith("-quickstart")
    rel = run_dir.relative_to(tmp_path)
    for where in (f"{rel}/exports/", f"{rel}/transcript.har", f"{rel}/report.json"):
        assert where in result.stdout
    report = RunReport.load(run_dir / "report.json")
    assert [j.status for j in report.jobs] == ["succeeded", "succeeded"]
    truth = Sandbox()  # the embedded sandbox's defaults: same seed, same profiles
    assert read_jsonl(run_dir / "exports" / "vip-customers.jsonl") == truth.expected_records(
        "VIP Customers"
    )
    assert report.jobs[1].records == len(
        truth.expected_records("Email Subscribers", {"LastDateTime": "2025-06-01T00:00:00.000Z"})
    )


def test_transcript_is_har_1_2_and_junit_is_valid(sandbox, tmp_path):
    import xmlschema

    sandbox.faults.script("retrieve", ["503", "drop"])
    spec = write_spec(
        tmp_path,
        sandbox.base_url,
        """
        - name: ok
          segment_group: VIP Customers
          page_size: 10
        - name: refused
          segment_group: Finance Audit
        - name: skipped
          segment_group: Email Subscribers
    """,
    )
    outcome = run(spec, tmp_path, only=("ok", "refused"))
    run_dir = tmp_path / "run"
    har = json.loads((run_dir / "transcript.har").read_text())
    errors = [e.message for e in har_validator().iter_errors(har)]
    assert not errors, errors[:3]
    entries = har["log"]["entries"]
    assert sum(e["_call"] == "retrieve" for e in entries) == outcome.report.jobs[0].attempts - 3
    assert [e["response"]["status"] for e in entries if e["_call"] == "retrieve"][:3] == [
        503,
        0,
        200,
    ]
    text = (run_dir / "transcript.txt").read_text()
    assert text.count("call=retrieve") == sum(e["_call"] == "retrieve" for e in entries)
    xmlschema.XMLSchema(str(SCHEMAS / "junit-10.xsd")).validate(str(run_dir / "junit.xml"))
    junit = (run_dir / "junit.xml").read_text()
    assert 'tests="3"' in junit and 'failures="1"' in junit and 'skipped="1"' in junit


def test_big_pages_are_capped_in_the_transcript(sandbox, tmp_path):
    """With --transcript-bodies full; by default a page keeps no records at all."""
    spec = write_spec(
        tmp_path, sandbox.base_url, "- segment_group: All Profiles\n  page_size: 300\n"
    )
    run(spec, tmp_path, body_cap=1024, transcript_bodies="full")
    har = json.loads((tmp_path / "run" / "transcript.har").read_text())
    (page,) = [e for e in har["log"]["entries"] if e["_call"] == "retrieve"]
    content = page["response"]["content"]
    assert len(content["text"]) <= 1024 < content["size"]
    assert "truncated" in content["comment"]


def test_by_default_a_page_keeps_its_envelope_not_its_records(sandbox, tmp_path):
    spec = write_spec(
        tmp_path, sandbox.base_url, "- segment_group: All Profiles\n  page_size: 300\n"
    )
    run(spec, tmp_path)
    har = json.loads((tmp_path / "run" / "transcript.har").read_text())
    (page,) = [e for e in har["log"]["entries"] if e["_call"] == "retrieve"]
    content = page["response"]["content"]
    kept = json.loads(content["text"])
    assert set(kept) == {
        "Count",
        "HasMore",
        "Limit",
        "Offset",
        "TotalResults",
        "UserProfilePreferences",
    }
    assert kept["UserProfilePreferences"] == f"<{kept['Count']} records: not kept>"
    assert f"records in a {content['size']}-byte body" in content["comment"]
    assert "ProfileId" not in (tmp_path / "run" / "transcript.txt").read_text()


def test_no_secret_reaches_a_file_or_the_verbose_output(tmp_path):
    """The demo secret, and every Authorization value sent, appear nowhere."""
    import subprocess

    spec = tmp_path / "spec.yaml"
    spec.write_text(
        textwrap.dedent("""\
        version: 1
        client_id: SanchezAssociates
        defaults: {poll: {interval: 50ms}, retry: {attempts: 3, backoff: 0s}}
        jobs:
          - segment_group: VIP Customers
          - segment_group: Finance Audit
    """)
    )
    result = subprocess.run(
        [
            *segrun_argv(),
            "run",
            "-v",
            str(spec),
            "--out",
            str(tmp_path / "run"),
            "--sandbox-faults",
            "503=0.2,seed=3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert result.returncode == 1, result.stderr  # Finance Audit is refused
    assert "[vip-customers] POST http://127.0.0.1" in result.stderr  # -v did print requests
    har = json.loads((tmp_path / "run" / "transcript.har").read_text())
    assert {
        h["value"]
        for e in har["log"]["entries"]
        for h in e["request"]["headers"]
        if h["name"] == "Authorization"
    } == {"<redacted>"}
    outputs = [result.stdout, result.stderr] + [
        p.read_text(errors="replace") for p in (tmp_path / "run").rglob("*") if p.is_file()
    ]
    for text in outputs:
        assert DEMO.secret not in text
        assert "Signature=" not in text and "Credential=" not in text


def test_oauth_client_secret_and_tokens_never_reach_a_file(tmp_path):
    """An OAuth token server on 127.0.0.1 issues a token; the sandbox (PNAUTHINFO3
    only) refuses it, and neither token nor client secret is written anywhere."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    token = "tok-" + "x7" * 20

    class TokenServer(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.dumps(
                {"access_token": token, "token_type": "bearer", "expires_in": 3600}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), TokenServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        from runner.sandbox import running_sandbox

        with running_sandbox(profiles=10) as sb:
            top = textwrap.dedent(f"""\
                auth:
                  scheme: oauth2
                  user_id: demo-user
                  token_url: http://127.0.0.1:{server.server_address[1]}/token
                  client_id_env: OAUTH_ID
                  client_secret_env: OAUTH_SECRET
                """)
            spec = write_spec(tmp_path, sb.base_url, "- segment_group: VIP Customers\n", top)
            secret = "client-secret-" + "s" * 50
            outcome = run(
                spec, tmp_path, environ={"OAUTH_ID": "id-" + "i" * 45, "OAUTH_SECRET": secret}
            )
    finally:
        server.shutdown()
    assert outcome.report.jobs[0].error.startswith("initiate answered HTTP 401")
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert token not in text and secret not in text, path
    har = (tmp_path / "run" / "transcript.har").read_text()
    assert '"_call": "oauth-token"' in har or '"_call":"oauth-token"' in har


def test_plan_opens_no_socket(tmp_path):
    """An audit hook in the plan's process sees every socket it would create.

    The hook is installed after the imports: importing urllib3 probes for IPv6 by
    binding a socket to [::1]:0 (it never connects); the plan itself must create
    no socket at all, not even that.
    """
    import subprocess

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
    result = segrun("plan", "--format", "json", str(spec), env={"S": "plan-secret-value"})
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
    dry = segrun("run", "--dry-run", "--format", "json", str(spec), env={"S": "plan-secret-value"})
    assert json.loads(dry.stdout)["jobs"][0]["requests"][0]["body"] == request["body"]
    assert not Path(tmp_path / "runs").exists()
