"""`segrun run --jobs N` and the run's rate budget, over real HTTP on 127.0.0.1.

Properties only, never speed: the records are the spec's order whatever order
jobs end in; exports are byte-identical to a run one job at a time; a
`rate_limit` is never exceeded at the server; a 429 pauses every job.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import signal
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from runner.records.report import RunReport
from runner.sandbox import Sandbox
from tests.support import MEASURED
from tests.support.processes import assert_no_traceback, segrun_argv
from tests.support.runs import read_jsonl, run
from tests.support.specs import write_spec

JOBS = """
- name: vip
  segment_group: VIP Customers
  page_size: 7
  last_datetime: last_success
- name: missing
  segment_group: No Such Group
- name: email
  segment_group: Email Subscribers
  page_size: 9
  output: {format: csv}
  last_datetime: last_success
- name: loyalty
  segment_group: Loyalty Members
  page_size: 11
  last_datetime: last_success
"""
NAMES = ["vip", "missing", "email", "loyalty"]


class RecordingSandbox(Sandbox):
    """The sandbox, noting when each request arrived (monotonic seconds) and
    what it was answered: the server's view, which a rate limit is about."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self.arrivals: list[tuple[float, str, int]] = []  # (time, path, status)
        self._noting = threading.Lock()

    def handle(self, method, path, query, headers, body, ip):
        arrived = time.monotonic()
        reply = super().handle(method, path, query, headers, body, ip)
        if not path.startswith("/_sandbox/"):
            with self._noting:
                self.arrivals.append((arrived, path, reply.status))
        return reply


@contextlib.contextmanager
def recording_sandbox(**options: object):
    sandbox = RecordingSandbox(**options).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def most_in_one_second(times: list[float]) -> int:
    """The most events in any window [t, t + 1s)."""
    times = sorted(times)
    most, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def _har(run_dir: Path) -> dict:
    return json.loads((run_dir / "transcript.har").read_text(encoding="utf-8"))


def test_jobs_in_flight_keep_the_spec_order_and_the_same_bytes(segrun, tmp_path):
    with recording_sandbox(profiles=300, seed=11, processing_seconds=0.5) as sandbox:
        spec = write_spec(tmp_path, sandbox.base_url, JOBS)
        one = segrun(
            "run",
            str(spec),
            "--out",
            str(tmp_path / "one"),
            "--state",
            str(tmp_path / "one.json"),
            cwd=tmp_path,
        )
        three = segrun(
            "run",
            str(spec),
            "--jobs",
            "3",
            "--out",
            str(tmp_path / "three"),
            "--state",
            str(tmp_path / "three.json"),
            cwd=tmp_path,
        )
    for result in (one, three):
        assert result.returncode == 1, result.stdout + result.stderr  # one job failed
        assert_no_traceback(result)
    # report.json, junit.xml and the summary: the spec's order, whatever ended first
    for run_dir, result in ((tmp_path / "one", one), (tmp_path / "three", three)):
        report = RunReport.load(run_dir / "report.json")
        assert [j.name for j in report.jobs] == NAMES
        assert [j.status for j in report.jobs] == ["succeeded", "failed", "succeeded", "succeeded"]
        assert "404" in report.jobs[1].error
        cases = ET.parse(run_dir / "junit.xml").getroot().iter("testcase")
        assert [c.get("name") for c in cases] == NAMES
        rows = [line.split()[0] for line in result.stdout.splitlines()[1:5]]
        assert rows == NAMES
    # the same exports, byte for byte
    files = sorted(
        p.relative_to(tmp_path / "one")
        for p in (tmp_path / "one").rglob("*")
        if p.is_file() and "exports" in p.parts
    )
    assert len(files) == 3
    for name in files:
        assert (tmp_path / "three" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()
    # every succeeded job's watermark was stored: none lost to another job's write
    marks = json.loads((tmp_path / "three.json").read_text())["watermarks"]
    assert sorted(json.loads(k)[4] for k in marks) == ["email", "loyalty", "vip"]
    # the HAR groups each job's entries under its page
    har = _har(tmp_path / "three")
    pages = [p["id"] for p in har["log"]["pages"]]
    assert sorted(pages) == sorted(NAMES)
    spans: dict[str, list[str]] = {}
    for entry in har["log"]["entries"]:
        assert entry["pageref"] == entry["_job"]
        spans.setdefault(entry["pageref"], []).append(entry["startedDateTime"])
    # they did run at once: some job started before another one's last request
    windows = sorted((min(s), max(s)) for s in spans.values())
    assert any(later[0] < earlier[1] for earlier, later in itertools.pairwise(windows))


def test_resume_and_only_work_with_jobs(segrun, tmp_path):
    with recording_sandbox(profiles=300, seed=11) as sandbox:
        spec = write_spec(tmp_path, sandbox.base_url, JOBS)
        out = tmp_path / "run"
        only = segrun(
            "run",
            str(spec),
            "--jobs",
            "4",
            "--only",
            "loyalty",
            "--only",
            "missing",
            "--out",
            str(out),
            "--state",
            str(tmp_path / "s.json"),
            cwd=tmp_path,
        )
        assert only.returncode == 1, only.stdout + only.stderr
        report = RunReport.load(out / "report.json")
        assert [(j.name, j.status) for j in report.jobs] == [
            ("vip", "skipped"),
            ("missing", "failed"),
            ("email", "skipped"),
            ("loyalty", "succeeded"),
        ]
        kept = (out / "exports" / "loyalty.jsonl").read_bytes()
        again = segrun(
            "run",
            "--resume",
            str(out),
            "--jobs",
            "4",
            str(spec),
            "--state",
            str(tmp_path / "s.json"),
            cwd=tmp_path,
        )
        assert again.returncode == 1, again.stdout + again.stderr
        assert_no_traceback(again)
    report = RunReport.load(out / "report.json")
    assert [(j.name, j.status) for j in report.jobs] == [
        ("vip", "succeeded"),
        ("missing", "failed"),
        ("email", "succeeded"),
        ("loyalty", "succeeded"),
    ]
    assert (out / "exports" / "loyalty.jsonl").read_bytes() == kept  # not run again
    retrieved = {e["pageref"] for e in _har(out)["log"]["entries"] if e["_call"] == "retrieve"}
    assert retrieved == {"vip", "email", "loyalty"}


def test_jobs_option_is_bounded_and_refused_with_dry_run(segrun, tmp_path):
    spec = write_spec(tmp_path, None, JOBS)
    for bad in ("0", "33"):
        result = segrun("run", str(spec), "--jobs", bad, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "--jobs" in result.stderr
        assert_no_traceback(result)
    result = segrun("run", str(spec), "--dry-run", "--jobs", "2", cwd=tmp_path)
    assert result.returncode == 2
    assert "--jobs does nothing with --dry-run" in result.stderr


RATED = """
- {name: a, segment_group: VIP Customers, page_size: 20}
- {name: b, segment_group: Email Subscribers, page_size: 20}
- {name: c, segment_group: Loyalty Members, page_size: 20}
- {name: d, segment_group: VIP Customers, page_size: 25}
- {name: e, segment_group: Email Subscribers, page_size: 30}
"""


@MEASURED
def test_rate_limit_is_never_exceeded_at_the_server(tmp_path):
    with recording_sandbox(profiles=120, seed=3) as sandbox:
        spec = write_spec(
            tmp_path, sandbox.base_url, RATED, top="rate_limit: {requests_per_second: 5}\n"
        )
        outcome = run(spec, tmp_path, jobs=4)
        arrivals = [t for t, _, _ in sandbox.arrivals]
    assert [j.status for j in outcome.report.jobs] == ["succeeded"] * 5
    assert len(arrivals) >= 20  # enough requests that an unpaced run would burst past 5
    assert most_in_one_second(arrivals) <= 5
    # the client's own record says the same of when requests started
    starts = [
        dt.datetime.fromisoformat(e["startedDateTime"]).timestamp()
        for e in _har(tmp_path / "run")["log"]["entries"]
    ]
    assert most_in_one_second(starts) <= 5


def test_a_429_with_retry_after_pauses_every_job(tmp_path):
    with recording_sandbox(profiles=300, seed=11) as sandbox:
        # one Retrieve, of whichever job comes first, is refused: Retry-After: 1
        sandbox.faults.script("retrieve", ["ok", "ok", "429"])
        spec = write_spec(
            tmp_path,
            sandbox.base_url,
            """
            - {name: a, segment_group: All Profiles, page_size: 10}
            - {name: b, segment_group: All Profiles, page_size: 10, output: {path: b.jsonl}}
            - {name: c, segment_group: All Profiles, page_size: 10, output: {path: c.jsonl}}
        """,
        )
        outcome = run(spec, tmp_path, jobs=3)
        arrivals = list(sandbox.arrivals)
    assert [j.status for j in outcome.report.jobs] == ["succeeded"] * 3
    (refused,) = [t for t, _, status in arrivals if status == 429]
    # requests already on their way when the 429 was answered may land just after it;
    # none may start until its Retry-After has passed (margins for this busy machine)
    during = [t - refused for t, _, _ in arrivals if refused + 0.25 < t < refused + 0.95]
    assert during == []
    # ...and the other jobs had work left, so the pause is what held them
    tokens = {_token(path) for t, path, _ in arrivals if t >= refused + 0.95}
    assert len(tokens - {None}) >= 2


def _token(path: str) -> str | None:
    """The export token a request's path names (None for an Initiate)."""
    parts = path.split("/")
    token = parts[parts.index("Export") + 1]
    return token if token.isdigit() else None


def test_a_dropped_connection_in_one_job_leaves_the_others_whole(tmp_path):
    """Transport errors close only their own connection: the jobs beside them
    go on over the shared session, and every export is exactly the ground truth."""
    faults = "retrieve:drop=0.1,retrieve:truncate=0.1,status:drop=0.1,seed=5"
    with recording_sandbox(profiles=400, seed=7, faults=faults) as sandbox:
        spec = write_spec(
            tmp_path,
            sandbox.base_url,
            """
            - {name: all, segment_group: All Profiles, page_size: 13, retry: {attempts: 10}}
            - {name: vip, segment_group: VIP Customers, page_size: 5, retry: {attempts: 10}}
            - {name: email, segment_group: Email Subscribers, page_size: 7,
               retry: {attempts: 10}}
        """,
        )
        outcome = run(spec, tmp_path, jobs=3)
        truth = {
            name: sandbox.expected_records(group)
            for name, group in (
                ("all", "All Profiles"),
                ("vip", "VIP Customers"),
                ("email", "Email Subscribers"),
            )
        }
        faulted = sandbox.counters.faults()
    assert faulted >= 5  # the rehearsal did break connections
    assert [j.status for j in outcome.report.jobs] == ["succeeded"] * 3
    for name, records in truth.items():
        assert read_jsonl(tmp_path / "run" / "exports" / f"{name}.jsonl") == records


def test_ctrl_c_stops_every_job_in_flight_and_resume_finishes(tmp_path):
    groups = ["All Profiles", "Email Subscribers", "VIP Customers"]
    jobs = "".join(
        f"- {{name: j{i}, segment_group: {g}, page_size: 20}}\n" for i, g in enumerate(groups)
    )
    with recording_sandbox(
        profiles=600, seed=2, faults="retrieve:slow=1,slow_seconds=0.1"
    ) as sandbox:
        spec = write_spec(tmp_path, sandbox.base_url, jobs)
        run_dir = tmp_path / "run"
        argv = [*segrun_argv(), "run", "-q", str(spec), "--jobs", "3"]
        proc = subprocess.Popen(
            [*argv, "--out", str(run_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while (
            time.monotonic() < deadline
            and len({_token(p) for _, p, _ in list(sandbox.arrivals) if "Status" not in p} - {None})
            < 3
        ):  # every job is retrieving
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130  # each job stopped after its page in hand
        assert "Traceback" not in proc.stderr.read()
        report = RunReport.load(run_dir / "report.json")
        assert report.status == "interrupted"
        assert [j.status for j in report.jobs] == ["interrupted"] * 3
        again = subprocess.run(
            [*argv, "--resume", str(run_dir)], capture_output=True, text=True, timeout=120
        )
        assert again.returncode == 0, again.stderr
        for i, group in enumerate(groups):
            assert read_jsonl(run_dir / "exports" / f"j{i}.jsonl") == sandbox.expected_records(
                group
            )


def test_one_ctrl_c_ends_the_waits_of_every_job_on_a_silent_server(tmp_path):
    """Worker threads get no alarm: their sockets are shut down instead."""
    with recording_sandbox(profiles=100, faults="retrieve:slow=1,slow_seconds=60") as sandbox:
        spec = write_spec(
            tmp_path,
            sandbox.base_url,
            """
            - {name: a, segment_group: All Profiles}
            - {name: b, segment_group: VIP Customers}
            - {name: c, segment_group: Email Subscribers}
        """,
        )
        proc = subprocess.Popen(
            [*segrun_argv(), "run", "-q", str(spec), "--jobs", "3", "--out", str(tmp_path / "run")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sandbox.counters.requests("retrieve") < 3:
            time.sleep(0.05)
        time.sleep(0.2)  # every job is now waiting on its first page, 60 s away
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 130  # not 60 s: the waits were cut
        assert "Traceback" not in proc.stderr.read()
    report = RunReport.load(tmp_path / "run" / "report.json")
    assert [j.status for j in report.jobs] == ["interrupted"] * 3
    har = _har(tmp_path / "run")
    cut = [e for e in har["log"]["entries"] if e["_call"] == "retrieve"]
    assert len(cut) == 3 and all(e["response"]["status"] == 0 for e in cut)
