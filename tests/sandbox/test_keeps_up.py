"""The sandbox keeps up: a simulated latency that does not serialise requests,
concurrent readers of one export served the same bytes as a sequential one, and
the peak counters a benchmark reads.

No test here asserts a speed: a request taking *at least* its latency is a
correctness property, and overlap is shown by the sandbox's own in-flight count.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from runner.apifacts.api import endpoints
from runner.sandbox import DEMO, running_sandbox
from runner.sandbox.latency import Latency, LatencyError, parse_latency
from runner.sandbox.peaks import Peaks
from tests.support.sandbox_calls import Client

SEGRUN = [sys.executable, "-m", "runner"]


def _status_url(sb) -> str:
    return sb.base_url + endpoints()["status"].render(clientId=DEMO.client_id, accessToken=1)


def _counters(sb) -> dict:
    url = sb.base_url.split("/Profiles/")[0] + "/_sandbox/counters"
    return requests.get(url, timeout=10).json()


# -- latency: the syntax ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", Latency(0.0)),
        ("50ms", Latency(0.05)),
        ("0.2s", Latency(0.2)),
        (" 100ms:20ms ", Latency(0.1, 0.02)),
        ("1s:0", Latency(1.0)),
        (".5S", Latency(0.5)),
        ("0:10ms", Latency(0.0, 0.01)),
    ],
)
def test_latency_syntax(text: str, expected: Latency) -> None:
    assert parse_latency(text) == expected


@pytest.mark.parametrize(
    "text", ["50", "1h", "-5ms", "100ms:", "fast", "70s", "5ms:x", "nan", "inf", "1e3ms", ":5ms"]
)
def test_bad_latency_is_refused(text: str) -> None:
    with pytest.raises(LatencyError, match="latency|jitter"):
        parse_latency(text)


@pytest.mark.parametrize(
    ("latency", "jitter"),
    [
        ("50", None),
        (-0.1, None),
        (float("nan"), None),
        ("10ms:5ms", 0.01),
        (0.1, -1),
        (0.1, "x"),
        (True, None),
        (61, None),
    ],
)
def test_running_sandbox_refuses_a_bad_latency(latency: object, jitter: object) -> None:
    with pytest.raises(ValueError), running_sandbox(profiles=1, latency=latency, jitter=jitter):
        pass


@pytest.mark.parametrize("value", ["50", "1h", "100ms:", "-1ms", "120s"])
def test_cli_bad_latency_is_a_usage_error(value: str, segrun) -> None:
    done = segrun("sandbox", "--latency", value, timeout=30)
    assert done.returncode == 2
    assert "--latency" in done.stderr and repr(value) in done.stderr
    assert "Traceback" not in done.stderr


# -- latency: applied, and not serialising ------------------------------------------------


def test_every_answer_waits_at_least_the_latency() -> None:
    with running_sandbox(profiles=5, latency=0.3) as sb:
        for _ in range(2):
            started = time.monotonic()
            assert requests.get(_status_url(sb), timeout=30).status_code == 401  # unsigned
            assert time.monotonic() - started >= 0.3
        # The admin endpoints are a back door, not the internet: not delayed, not counted.
        assert _counters(sb)["peak_requests_in_1s"] == 2


def test_jitter_never_makes_a_delay_negative_or_below_its_floor() -> None:
    with running_sandbox(profiles=5, latency="100ms:100ms", seed=3) as sb:
        assert sb.latency == Latency(0.1, 0.1)
        delays = [sb._delay.draw() for _ in range(2000)]
        assert min(delays) >= 0 and max(delays) <= 0.2
        assert len(set(delays)) > 1000  # drawn, not constant
    with running_sandbox(profiles=5, latency="200ms:50ms") as sb:
        started = time.monotonic()
        requests.get(_status_url(sb), timeout=30)
        assert time.monotonic() - started >= 0.15


def test_delays_overlap_instead_of_queueing() -> None:
    """Six requests sent together are all in the sandbox at once: nothing holds a
    lock or a single thread while one of them waits out its latency."""
    with running_sandbox(profiles=5, latency=0.5) as sb:
        url, barrier = _status_url(sb), threading.Barrier(6)

        def one(_: int) -> int:
            barrier.wait(timeout=30)
            return requests.get(url, timeout=30).status_code

        with ThreadPoolExecutor(6) as pool:
            assert list(pool.map(one, range(6))) == [401] * 6
        counters = _counters(sb)
    assert counters["peak_in_flight"] == 6
    assert counters["peak_requests_in_1s"] == 6


def test_cli_latency_is_applied() -> None:
    proc = subprocess.Popen(
        [*SEGRUN, "sandbox", "--profiles", "5", "--latency", "250ms:50ms"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = proc.stdout.readline().split()[-1]  # type: ignore[union-attr]
        url = base_url + endpoints()["status"].render(clientId=DEMO.client_id, accessToken=1)
        started = time.monotonic()
        assert requests.get(url, timeout=30).status_code == 401
        assert time.monotonic() - started >= 0.2
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "delayed by 250ms:50ms" in err


# -- concurrent readers of one export ---------------------------------------------------------


@pytest.mark.parametrize("group", ["All Profiles", "Email Subscribers"])
def test_concurrent_readers_get_the_bytes_of_a_sequential_reader(group: str) -> None:
    with running_sandbox(profiles=3000, seed=11) as sb:
        reader = Client(sb)
        token = reader.start(group)
        total = reader.status(token).json()["RowCount"]
        pages = [(offset, limit) for limit in (97, 250) for offset in range(1, total + 1, limit)]
        pages += [(total, 5), (total + 1, 5), (1, 10_000), (2, 1)]  # the edges
        sequential = {}
        for offset, limit in pages:
            r = reader.retrieve(token, limit=limit, offset=offset, keepAlive="true")
            assert r.status_code == 200, r.text
            sequential[offset, limit] = r.content

        shuffled = pages * 3  # each page several times, some at the same moment
        random.Random(5).shuffle(shuffled)
        local = threading.local()

        def fetch(page: tuple[int, int]) -> tuple[tuple[int, int], bytes]:
            if not hasattr(local, "client"):
                local.client = Client(sb)
            r = local.client.retrieve(token, limit=page[1], offset=page[0], keepAlive="true")
            assert r.status_code == 200, r.text
            return page, r.content

        with ThreadPoolExecutor(16) as pool:
            concurrent = list(pool.map(fetch, shuffled, timeout=120))
    assert len(concurrent) == len(shuffled)
    for page, body in concurrent:
        assert body == sequential[page], page


def test_concurrent_readers_without_keepalive_finish_the_token() -> None:
    """Read once each, in any order, by 8 readers: every record delivered, then the
    token is Retrieved (the delivery bookkeeping does not assume sequential offsets)."""
    with running_sandbox(profiles=2000, seed=2, latency=0.02) as sb:
        reader = Client(sb)
        token = reader.start("All Profiles")
        offsets = list(range(1, 2001, 100))
        random.Random(1).shuffle(offsets)
        local = threading.local()

        def fetch(offset: int) -> list[int]:
            if not hasattr(local, "client"):
                local.client = Client(sb)
            r = local.client.retrieve(token, limit=100, offset=offset)
            assert r.status_code == 200, r.text
            return [rec["ProfileId"] for rec in r.json()["UserProfilePreferences"]]

        with ThreadPoolExecutor(8) as pool:
            ids = [i for page in pool.map(fetch, offsets, timeout=120) for i in page]
        assert sorted(ids) == [10_000_000 + i for i in range(2000)]
        assert reader.status(token).json()["Status"] == "Retrieved"
        assert reader.retrieve(token, limit=100, offset=1).status_code == 404
        assert sb.counters.peaks.peak_in_flight() >= 2


# -- the peak counters -----------------------------------------------------------------------


def test_a_burst_is_counted_overall_and_per_client() -> None:
    with running_sandbox(profiles=5) as sb:
        client = Client(sb)
        for _ in range(5):
            assert client.status(1).status_code == 404  # signed; no such token
        other = sb.base_url + endpoints()["status"].render(clientId="Someone", accessToken=1)
        assert requests.get(other, timeout=10).status_code in (401, 404)
        counters = _counters(sb)
        assert counters["peak_requests_in_1s"] >= 6
        assert counters["peak_requests_in_1s.SanchezAssociates"] >= 5
        assert counters["peak_requests_in_1s.Someone"] == 1
        assert counters["peak_in_flight"] >= 1
        assert counters["requests.status"] == 6  # the older keys are unchanged
        assert all(isinstance(v, int) for v in counters.values())
        snapshot = sb.counters.snapshot()  # the same, but for the admin answer just sent
        assert {k: snapshot[k] for k in counters if k.startswith("peak")} == {
            k: v for k, v in counters.items() if k.startswith("peak")
        }
        assert sb.counters.peaks.peak_requests_in_1s("SanchezAssociates") >= 5
        sb.counters.reset()
        assert sb.counters.snapshot() == {"peak_requests_in_1s": 0, "peak_in_flight": 0}


def test_the_window_is_one_second_long() -> None:
    now = [0.0]
    peaks = Peaks(clock=lambda: now[0])
    for t in (0.0, 0.5, 0.99, 1.0, 1.5, 1.98, 2.49):
        now[0] = t
        peaks.arrive("a")
        peaks.depart()
    # A window holds arrivals less than 1 s apart: 1.0 is not with 0.0, 1.98 is with 0.99.
    assert peaks.peak_requests_in_1s() == 4  # 0.99, 1.0, 1.5, 1.98
    assert peaks.peak_requests_in_1s("a") == 4
    assert peaks.peak_in_flight() == 1
    assert peaks.peak_requests_in_1s("b") == 0
