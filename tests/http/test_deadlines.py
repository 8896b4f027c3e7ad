"""No server can hold a request past its deadline, and one stop signal ends a run
whatever it waits on: a trickle of bytes (no socket read ever times out), a silence,
a flood of interim answers, a token endpoint trickling in a worker thread, a
request deadline in a forked process."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import threading
import time

import pytest
import requests

from runner.http.abortable import AbortableAdapter, Deadline
from tests.support.fake_server import LONG_SECRET, envelope, serving
from tests.support.processes import assert_well_behaved, run_segrun, segrun_argv, segrun_environ
from tests.support.specs import spec_text, write_spec


def test_a_trickling_answer_is_cut_at_the_request_deadline(tmp_path, fake_server):
    outcome = run_segrun(
        tmp_path, spec_text(fake_server.url("trickle")), LONG_SECRET, "--request-timeout", "3"
    )
    assert outcome.code == 1, outcome.stderr
    job = outcome.report()["jobs"][0]
    assert "within the request deadline of 3s" in job["error"], job
    assert outcome.seconds < 60
    assert_well_behaved(outcome, fake_server)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_trickling_status_answer_is_cut_at_the_poll_timeout(tmp_path, fake_server, jobs):
    """poll.timeout bounds the wait for an export, the Status call in flight and its
    retries included: a Status answer trickling a byte a second (no read times out,
    the request deadline is minutes away) is cut when the poll timeout passes, in
    the main thread or a worker's, and the job fails as any poll timeout does."""
    fake_server.trickle_pause = 1.0
    names = "".join(f"- name: j{n}\n  segment_group: VIP Customers\n" for n in range(jobs))
    spec = spec_text(fake_server.url("trickle"), jobs=names)
    spec = spec.replace(
        "poll: {interval: 50ms, timeout: 20s}", "poll: {interval: 50ms, timeout: 3s}"
    )
    outcome = run_segrun(tmp_path, spec, LONG_SECRET, "--jobs", str(jobs), timeout=40)
    assert outcome.code == 1, outcome.stderr
    for job in outcome.report()["jobs"]:
        assert job["kind"] == "poll_timeout", job
        assert "after the poll timeout of 3s" in job["error"], job
    assert outcome.seconds < 15
    assert_well_behaved(outcome, fake_server)


@pytest.mark.parametrize("where", ["pages in flight", "jobs in flight", "main thread"])
def test_headers_trickled_a_byte_at_a_time_are_cut_at_the_deadline(tmp_path, fake_server, where):
    """No socket read times out, so only the request deadline ends it: the alarm
    in the main thread, a timer that shuts the connection in a worker thread."""
    jobs = "- name: people\n  segment_group: VIP Customers\n"
    args = ["--request-timeout", "3"]
    if where == "pages in flight":
        jobs += "  concurrency: 4\n"
    elif where == "jobs in flight":
        jobs += "- name: others\n  segment_group: VIP Customers\n"
        args += ["--jobs", "2"]
    outcome = run_segrun(
        tmp_path, spec_text(fake_server.url("trickle-headers"), jobs=jobs), LONG_SECRET, *args
    )
    assert outcome.code == 1, outcome.stderr
    for job in outcome.report()["jobs"]:
        assert "within the request deadline of 3s" in job["error"], job
    assert outcome.seconds < 45
    assert_well_behaved(outcome, fake_server)


@pytest.mark.parametrize("scenario", ["header-lines", "continue"])
def test_header_lines_or_interim_answers_sent_forever_are_cut_at_the_deadline(
    tmp_path, fake_server, scenario
):
    """A whole header line, or an interim 100 Continue, every half second: each is
    an answer of sorts, and none may reset the request's deadline."""
    outcome = run_segrun(
        tmp_path, spec_text(fake_server.url(scenario)), LONG_SECRET, "--request-timeout", "3"
    )
    assert outcome.code == 1, outcome.stderr
    assert outcome.seconds < 45
    assert_well_behaved(outcome, fake_server)


def test_one_stop_signal_ends_pages_in_flight_stuck_on_the_server(tmp_path, fake_server):
    jobs = "- name: people\n  segment_group: VIP Customers\n  concurrency: 4\n"
    outcome = run_segrun(
        tmp_path,
        spec_text(fake_server.url("trickle-headers"), jobs=jobs),
        LONG_SECRET,
        signal_after=(3.0, signal.SIGINT),
    )
    assert outcome.code == 130, (outcome.stderr, outcome.report()["jobs"][0]["error"])
    assert outcome.seconds < 3.0 + 10  # a few seconds after the signal, not the deadline
    assert outcome.report()["status"] == "interrupted"
    assert_well_behaved(outcome, fake_server)


@pytest.mark.parametrize("scenario", ["trickle", "silent"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_one_stop_signal_ends_a_run_stuck_on_the_server(tmp_path, fake_server, scenario, signum):
    outcome = run_segrun(
        tmp_path, spec_text(fake_server.url(scenario)), LONG_SECRET, signal_after=(3.0, signum)
    )
    assert outcome.code == 130, outcome.stderr
    assert outcome.seconds < 3.0 + 10  # a few seconds after the signal, not the server's 60
    assert outcome.report()["status"] == "interrupted"
    assert outcome.report()["finished"]
    assert_well_behaved(outcome, fake_server)


def _one_record(offset: int, limit: int):
    return 200, envelope([b'{"ProfileId":1}'], offset, limit, 1, False), {}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_one_ctrl_c_stops_a_run_waiting_on_a_trickling_token_endpoint(tmp_path, jobs):
    """The token exchange made from a worker thread (--jobs 2, or a token refreshed
    by a page in flight) once went through a session of its own, where no alarm
    is armed: a token endpoint trickling its headers held the worker for ever, and
    Ctrl-C could not cut it."""
    with serving(_one_record, rowcount=1) as server:
        server.trickle_pause = 0.3  # a byte every 0.3 s: no socket timeout ever trips
        top = textwrap.dedent(f"""\
            auth:
              scheme: oauth2
              user_id: demo-user
              token_url: {server.url("trickle-headers")}token
              client_id_env: OAUTH_ID
              client_secret_env: OAUTH_SECRET
            """)
        jobs_text = "- name: a\n  segment_group: VIP\n- name: b\n  segment_group: VIP\n"
        spec = write_spec(tmp_path, server.url("pages"), jobs_text, top)
        env = segrun_environ(OAUTH_ID="id-" + "i" * 45, OAUTH_SECRET="client-secret-" + "s" * 50)
        argv = [*segrun_argv(), "run", str(spec), "--out", str(tmp_path / "run"), "-q"]
        proc = subprocess.Popen(
            [*argv, "--jobs", jobs], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        time.sleep(3)
        assert proc.poll() is None  # still waiting on the token endpoint
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail("one Ctrl-C did not stop the run within 10 s")
    assert proc.returncode == 130, err.decode()[-1000:]


# -- a request deadline in a forked process ----------------------------------------
DEADLINE = 1.0


def _in_worker(session, adapter, url) -> float:
    """One request the way the client makes it outside the main thread."""
    took: list[float] = []

    def work() -> None:
        deadline = Deadline(adapter, DEADLINE)
        start = time.monotonic()
        try:
            session.get(url, timeout=(5, 5))
        except requests.RequestException:
            pass
        finally:
            deadline.stop()
            took.append(time.monotonic() - start)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return took[0]


def test_a_forked_child_keeps_its_request_deadlines(fake_server):
    """The one deadline thread (`abortable._Watch`) sleeps on a Condition. A process
    forked while that thread waits inherits the Condition with the parent thread's
    waiter still queued: in the child, a first `notify()` went to that dead waiter,
    not to the child's own deadline thread, and a server trickling its headers held
    a worker as long as it liked (8 s against a 1 s deadline). The crash tests run
    `segrun run` in forked children."""
    fake_server.trickle_pause = 0.1
    fast, slow = fake_server.url("fine"), fake_server.url("trickle-headers")
    session = requests.Session()
    adapter = AbortableAdapter()
    session.mount("http://", adapter)
    # the parent has used a worker deadline: its deadline thread now waits
    assert _in_worker(session, adapter, fast) < DEADLINE
    time.sleep(DEADLINE + 0.5)  # ...with nothing due
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(reader)
            child = requests.Session()
            child_adapter = AbortableAdapter()
            child.mount("http://", child_adapter)
            _in_worker(child, child_adapter, fast)
            time.sleep(DEADLINE + 0.5)  # its first deadline passed: nothing due
            took = _in_worker(child, child_adapter, slow)
            os.write(writer, f"{took:.3f}".encode())
        finally:
            os._exit(0)
    os.close(writer)
    took = float(os.read(reader, 100) or b"nan")
    os.waitpid(pid, 0)
    assert took < DEADLINE + 1.0, (
        f"a worker in the forked child was held {took:.1f}s by a trickle, "
        f"past its {DEADLINE:g}s deadline"
    )
