"""Export speed and memory: `segrun run` beside a bare requests.Session loop.

Both fetch the same 1,000,000-record export from a sandbox running in its own
process, in pages of 1,000, and write the same JSONL (one record a line). Each
runs as a child process, interleaved, so machine noise hits both alike; peak
memory is the child's maximum resident set size. Targets (issue 4): time ratio
<= 1.15, segrun's peak memory under 150 MB and flat in the record count.

    python bench/export.py [--records 1000000 100000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEGMENT_GROUP = "All Profiles"
PAGE = 1000


def segrun_argv() -> list[str]:
    exe = shutil.which("segrun")
    return [exe] if exe else [sys.executable, "-m", "runner"]


def start_sandbox(profiles: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [*segrun_argv(), "sandbox", "--port", "0", "--profiles", str(profiles)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    for line in proc.stdout:
        m = re.search(r"(http://127\.0\.0\.1:\d+/\S*)", line)
        if m:
            return proc, m.group(1)
    raise RuntimeError("the sandbox did not start")


def measure(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv[:3]} failed with {status}")
    return elapsed, usage.ru_maxrss / 1024


def bare_loop(base_url: str, out: str) -> None:
    """What a hand-written script does: the four calls, pages to JSONL, nothing else."""
    import requests

    from runner import auth
    from runner.sandbox import DEMO

    session = requests.Session()
    base = base_url + f"Async/{DEMO.client_id}/Export"

    def headers() -> dict:
        now = dt.datetime.now(dt.timezone.utc)
        return {
            "Authorization": auth.authorization(
                DEMO.scheme, DEMO.client_id, DEMO.user_id, DEMO.secret, now
            )
        }

    token = session.post(f"{base}/Segment/All%20Profiles", json={}, headers=headers()).json()[
        "AccessToken"
    ]
    while session.get(f"{base}/{token}/Status", headers=headers()).json()["Status"] != "Complete":
        time.sleep(0.2)
    offset = 1
    with open(out, "wb") as f:
        while True:
            page = session.get(
                f"{base}/{token}",
                headers=headers(),
                params={"limit": PAGE, "offset": offset, "keepAlive": "true"},
            ).json()
            records = page["UserProfilePreferences"]
            f.write(
                b"".join(
                    json.dumps(r, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
                    for r in records
                )
            )
            if not page["HasMore"]:
                break
            offset += len(records)
    session.post(f"{base}/{token}/Commit", params={"keepFiles": "false"}, headers=headers())


def sha256(path: Path) -> str:
    """Streamed: this process must stay small, or every child forked after it
    starts with its pages counted in the child's peak RSS."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_spec(folder: Path, base_url: str) -> Path:
    spec = folder / "bench.yaml"
    spec.write_text(
        f"version: 1\nclient_id: SanchezAssociates\nenvironment: sandbox\nbase_url: {base_url}\n"
        f"jobs:\n  - name: everyone\n    segment_group: {SEGMENT_GROUP}\n    page_size: {PAGE}\n"
        "    poll: {interval: 200ms, timeout: 10m}\n"
    )
    return spec


def bench(records: int, repeat: int, folder: Path) -> dict:
    sandbox, base_url = start_sandbox(records)
    try:
        spec = write_spec(folder, base_url)
        bare_out, ours_out = folder / "bare.jsonl", folder / "run"
        bare, ours, bare_mem, ours_mem = [], [], [], []
        for i in range(repeat):
            t, m = measure([sys.executable, __file__, "--bare", base_url, str(bare_out)])
            bare.append(t)
            bare_mem.append(m)
            shutil.rmtree(ours_out, ignore_errors=True)
            t, m = measure([*segrun_argv(), "run", "-q", str(spec), "--out", str(ours_out)])
            ours.append(t)
            ours_mem.append(m)
            if i == 0:  # the same JSONL, byte for byte
                same = sha256(ours_out / "exports" / "everyone.jsonl") == sha256(bare_out)
                assert same, "segrun and the bare loop wrote different exports"
        return {
            "records": records,
            "bare": statistics.median(bare),
            "segrun": statistics.median(ours),
            "bare_mem": max(bare_mem),
            "segrun_mem": max(ours_mem),
        }
    finally:
        sandbox.terminate()
        sandbox.wait()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--bare":
        bare_loop(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[1_000_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"pages of {PAGE}, median of {args.repeat} interleaved runs each; sandbox in its own process\n"
    )
    print(
        f"{'records':>10} {'bare loop':>10} {'segrun':>9} {'ratio':>6} {'bare peak':>10} {'segrun peak':>12}"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for records in args.records:
            r = bench(records, args.repeat, Path(tmp))
            rows.append(r)
            print(
                f"{r['records']:>10,} {r['bare']:>9.1f}s {r['segrun']:>8.1f}s {r['segrun'] / r['bare']:>6.2f} "
                f"{r['bare_mem']:>8.0f}MiB {r['segrun_mem']:>10.0f}MiB",
                flush=True,
            )
    worst = max(r["segrun"] / r["bare"] for r in rows)
    peak = max(r["segrun_mem"] for r in rows)
    print(
        f"\nworst time ratio {worst:.2f} (target <= 1.15: {'met' if worst <= 1.15 else 'MISSED'}); "
        f"segrun peak {peak:.0f} MiB (target < 150 MB: {'met' if peak * 1.048576 < 150 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
