"""Benchmark the sandbox: a whole export in pages of 1,000 to a bare
requests.Session loop, and the sandbox process's peak memory.

    python bench/sandbox.py                 # 100,000 and 1,000,000 profiles
    python bench/sandbox.py --profiles 50000 --groups "All Profiles"

The sandbox runs as `segrun sandbox` in its own process, so its peak resident
memory (VmHWM) is its own and the client's JSON parsing competes with it for
the machine's cores as it would for a real user.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import requests

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


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def export_once(base_url: str, group: str, page_size: int) -> dict:
    e = endpoints()
    session = requests.Session()
    started = time.perf_counter()
    url = base_url + e["initiate"].render(clientId=DEMO.client_id, segmentGroupName=group)
    token = session.post(url, json={}, headers=_headers()).json()["AccessToken"]
    status_url = base_url + e["status"].render(clientId=DEMO.client_id, accessToken=token)
    while (status := session.get(status_url, headers=_headers()).json())["Status"] == "Processing":
        time.sleep(0.05)
    processed = time.perf_counter()
    assert status["Status"] == "Complete", status
    page_url = base_url + e["retrieve"].render(clientId=DEMO.client_id, accessToken=token)
    records, offset, pages = 0, 1, 0
    while True:
        page = session.get(
            page_url, params={"limit": page_size, "offset": offset}, headers=_headers()
        ).json()
        records += page["Count"]
        offset += page["Count"]
        pages += 1
        if not page["HasMore"]:
            break
    done = time.perf_counter()
    assert records == status["RowCount"], (records, status)
    return {
        "records": records,
        "bytes": status["ByteCount"],
        "processing_s": processed - started,
        "retrieve_s": done - processed,
        "records_per_s": records / (done - processed),
    }


def bench(profiles: int, groups: list[str], page_size: int) -> list[dict]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner",
            "sandbox",
            "--profiles",
            str(profiles),
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
        idle = _peak_rss_mib(proc.pid)
        rows = []
        for group in groups:
            result = export_once(base_url, group, page_size)
            result.update(
                profiles=profiles, group=group, idle_mib=idle, peak_mib=_peak_rss_mib(proc.pid)
            )
            rows.append(result)
            print(
                f"{profiles:>9,} profiles  {group:<18} {result['records']:>9,} records "
                f"{result['bytes'] / 1e6:>7.1f} MB  processing {result['processing_s']:5.2f} s  "
                f"retrieve {result['retrieve_s']:6.2f} s  {result['records_per_s']:>8,.0f} rec/s  "
                f"peak RSS {result['peak_mib']:.1f} MiB (idle {idle:.1f})",
                flush=True,
            )
        return rows
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--profiles", type=int, action="append", help="profile counts (default: 100000 and 1000000)"
    )
    parser.add_argument(
        "--groups",
        action="append",
        help='segment groups (default: "All Profiles", "Email Subscribers")',
    )
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()
    groups = args.groups or ["All Profiles", "Email Subscribers"]
    for count in args.profiles or [100_000, 1_000_000]:
        bench(count, [quote(g, safe=" ") and g for g in groups], args.page_size)


if __name__ == "__main__":
    main()
