"""Benchmark the sandbox's page serving alone: one export read by 1, 8 and 32
concurrent readers, each a raw `http.client` connection that keeps the bytes and
parses nothing, so the sandbox (not the client's JSON) is what is measured.

    python bench/sandbox_readers.py                      # 1,000,000 profiles, pages of 1,000
    python bench/sandbox_readers.py --profiles 100000 --readers 1 --readers 8 --repeat 3

The sandbox runs as `segrun sandbox` in its own process; its CPU seconds (from
/proc) are printed beside the wall time, since wall time on a shared machine
moves with everyone else's load. Every page is asked for once, with
keepAlive=true, and readers take the next offset from a shared counter, as a
client with that many pages in flight does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runner.apifacts import auth  # noqa: E402
from runner.apifacts.api import endpoints  # noqa: E402
from runner.sandbox import DEMO  # noqa: E402


def _headers() -> dict[str, str]:
    now = dt.datetime.now(dt.timezone.utc)
    return {
        "Authorization": auth.authorization(
            DEMO.scheme, DEMO.client_id, DEMO.user_id, DEMO.secret, now
        )
    }


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _ready_export(base_url: str, group: str) -> tuple[str, int]:
    """(the Retrieve path, RowCount) of a new export, once it is Complete."""
    url, e = urlsplit(base_url), endpoints()
    conn = http.client.HTTPConnection(url.hostname, url.port)
    path = url.path + e["initiate"].render(clientId=DEMO.client_id, segmentGroupName=group)
    conn.request(
        "POST", path, body=b"{}", headers={**_headers(), "Content-Type": "application/json"}
    )
    token = json.loads(conn.getresponse().read())["AccessToken"]
    status_path = url.path + e["status"].render(clientId=DEMO.client_id, accessToken=token)
    while True:
        conn.request("GET", status_path, headers=_headers())
        status = json.loads(conn.getresponse().read())
        if status["Status"] != "Processing":
            break
        time.sleep(0.05)
    assert status["Status"] == "Complete", status
    conn.close()
    return url.path + e["retrieve"].render(clientId=DEMO.client_id, accessToken=token), status[
        "RowCount"
    ]


def read_export(base_url: str, path: str, total: int, page_size: int, readers: int) -> int:
    """Every page once, `readers` at a time; the bytes received."""
    url = urlsplit(base_url)
    offsets = iter(range(1, total + 1, page_size))
    lock, received = threading.Lock(), [0]

    def reader() -> None:
        conn, headers = http.client.HTTPConnection(url.hostname, url.port), _headers()
        while True:
            with lock:
                offset = next(offsets, None)
            if offset is None:
                return
            conn.request(
                "GET", f"{path}?limit={page_size}&offset={offset}&keepAlive=true", headers=headers
            )
            answer = conn.getresponse()
            body = answer.read()
            assert answer.status == 200, (answer.status, body[:200])
            with lock:
                received[0] += len(body)

    threads = [threading.Thread(target=reader) for _ in range(readers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return received[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--group", default="All Profiles")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument(
        "--readers", type=int, action="append", help="concurrent readers (default: 1, 8 and 32)"
    )
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner",
            "sandbox",
            "--profiles",
            str(args.profiles),
            "--processing-seconds",
            "0",
            "--seed",
            "7",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        base_url = proc.stdout.readline().split()[-1]  # type: ignore[union-attr]
        for _ in range(args.repeat):
            for readers in args.readers or [1, 8, 32]:
                path, total = _ready_export(base_url, args.group)
                cpu, started = _cpu_seconds(proc.pid), time.perf_counter()
                received = read_export(base_url, path, total, args.page_size, readers)
                wall, cpu = time.perf_counter() - started, _cpu_seconds(proc.pid) - cpu
                print(
                    f"{readers:>3} readers  {total:>9,} records  {received / 1e6:6.0f} MB  "
                    f"{wall:6.2f} s  {total / wall:>9,.0f} rec/s  sandbox CPU {cpu:5.2f} s  "
                    f"peak RSS {_peak_rss_mib(proc.pid):.1f} MiB",
                    flush=True,
                )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
