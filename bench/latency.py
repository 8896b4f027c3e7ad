"""Latency, not microseconds: pages and jobs in flight behind a slow network.

Every row runs `segrun run` as a child process against one sandbox process
that delays each answer (`segrun sandbox --latency`), the rows of a pair
interleaved so machine noise hits both alike.

1. 200,000 records in pages of 1,000 behind 50 ms and 100 ms of latency:
   `concurrency: 8` against `concurrency: 1` (same bytes, checked).
   Targets (issue 12): at least 4x faster at 50 ms, 5x at 100 ms.
2. 8 jobs with 3 s of Processing each: `--jobs 4` against `--jobs 1`.
   Target: at most 0.4x the wall time.
3. A run with `rate_limit: {requests_per_second: R}`, 8 jobs, `--jobs 4` and
   `concurrency: 8`: the sandbox's own count of the most requests that arrived
   in any 1 s window never exceeds R.

    python bench/latency.py [--records 200000] [--repeat 1] [--rate 20]
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

CLIENT = "SanchezAssociates"


def segrun_argv() -> list[str]:
    exe = shutil.which("segrun")
    return [exe] if exe else [sys.executable, "-m", "runner"]


class Sandbox:
    def __init__(self, *options: str) -> None:
        argv = [*segrun_argv(), "sandbox", "--port", "0", *options]
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        for line in self.proc.stdout:
            m = re.search(r"(http://127\.0\.0\.1:\d+/\S*)", line)
            if m:
                self.url = m.group(1)
                return
        raise RuntimeError("the sandbox did not start")

    def warm(self) -> None:
        """One export of the group, untimed: the sandbox keeps the selection it
        computed, so no row pays the first scan of every profile alone."""
        from export import _signed

        url = urlsplit(self.url)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
        base = f"{url.path}Async/{CLIENT}/Export"

        def call(method: str, path: str, body: bytes | None = None) -> dict:
            headers = {**_signed(), "Content-Type": "application/json"}
            conn.request(method, path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            return json.loads(data) if data else {}

        token = call("POST", f"{base}/Segment/All%20Profiles", b"{}")["AccessToken"]
        while call("GET", f"{base}/{token}/Status")["Status"] != "Complete":
            time.sleep(0.05)
        call("POST", f"{base}/{token}/Commit?keepFiles=false", b"")
        conn.close()

    def counters(self) -> dict:
        root = re.match(r"(http://127\.0\.0\.1:\d+)/", self.url).group(1)
        with urllib.request.urlopen(f"{root}/_sandbox/counters", timeout=10) as answer:
            return json.loads(answer.read())

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def spec_text(base_url: str, jobs: list[str], top: str = "") -> str:
    return (
        f"version: 1\nclient_id: {CLIENT}\nenvironment: sandbox\nbase_url: {base_url}\n{top}"
        "defaults:\n  poll: {interval: 100ms, timeout: 10m}\njobs:\n" + "".join(jobs)
    )


def job_text(name: str, page: int = 1000, concurrency: int = 1) -> str:
    return (
        f"  - name: {name}\n    segment_group: All Profiles\n    page_size: {page}\n"
        f"    concurrency: {concurrency}\n"
    )


def timed_run(folder: Path, name: str, text: str, *options: str) -> tuple[float, Path]:
    spec = folder / f"{name}.yaml"
    spec.write_text(text)
    out = folder / f"run-{name}"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    done = subprocess.run(
        [*segrun_argv(), "run", "-q", str(spec), "--out", str(out), *options],
        stdout=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{name}: segrun exited {done.returncode}")
    return elapsed, out


def sha256(path: Path) -> str:
    from runner.run.outputs import sha256_of  # segrun's own, as it checksums an export

    return sha256_of(path)


def pages_in_flight(records: int, latency: str, repeat: int, folder: Path) -> float:
    sandbox = Sandbox("--profiles", str(records), "--processing-seconds", "0", "--latency", latency)
    try:
        sandbox.warm()
        one, eight = [], []
        for _ in range(repeat):
            t1, out1 = timed_run(folder, "c1", spec_text(sandbox.url, [job_text("all")]))
            t8, out8 = timed_run(
                folder, "c8", spec_text(sandbox.url, [job_text("all", concurrency=8)])
            )
            if sha256(out1 / "exports" / "all.jsonl") != sha256(out8 / "exports" / "all.jsonl"):
                raise SystemExit("concurrency 8 exported other bytes than concurrency 1")
            one.append(t1)
            eight.append(t8)
        a, b = statistics.median(one), statistics.median(eight)
        print(
            f"  {latency:>6} latency: concurrency 1 {a:6.1f}s, concurrency 8 {b:6.1f}s, "
            f"{a / b:4.1f}x faster (same bytes)",
            flush=True,
        )
        return a / b
    finally:
        sandbox.close()


def jobs_in_flight(repeat: int, folder: Path) -> float:
    sandbox = Sandbox("--profiles", "2000", "--processing-seconds", "3")
    try:
        text = spec_text(sandbox.url, [job_text(f"job{i}") for i in range(8)])
        one, four = [], []
        for _ in range(repeat):
            one.append(timed_run(folder, "jobs1", text, "--jobs", "1")[0])
            four.append(timed_run(folder, "jobs4", text, "--jobs", "4")[0])
        a, b = statistics.median(one), statistics.median(four)
        print(
            f"  8 jobs, 3 s Processing each: --jobs 1 {a:5.1f}s, --jobs 4 {b:5.1f}s, "
            f"ratio {b / a:.2f}",
            flush=True,
        )
        return b / a
    finally:
        sandbox.close()


def rate_limited(rate: float, folder: Path) -> int:
    sandbox = Sandbox("--profiles", "20000", "--processing-seconds", "0", "--latency", "20ms")
    try:
        text = spec_text(
            sandbox.url,
            [job_text(f"job{i}", page=500, concurrency=8) for i in range(8)],
            top=f"rate_limit: {{requests_per_second: {rate:g}}}\n",
        )
        elapsed, _ = timed_run(folder, "rated", text, "--jobs", "4")
        counters = sandbox.counters()
        peak = counters.get(f"peak_requests_in_1s.{CLIENT}", counters.get("peak_requests_in_1s"))
        sent = sum(n for key, n in counters.items() if key.startswith("requests."))
        print(
            f"  rate_limit {rate:g}/s, 8 jobs x 8 pages in flight, --jobs 4: {sent} requests "
            f"in {elapsed:.1f}s; the sandbox saw at most {peak} in any 1 s",
            flush=True,
        )
        return peak
    finally:
        sandbox.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--rate", type=float, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"{args.records:,} records in pages of 1,000; median of {args.repeat}\n")
        at50 = pages_in_flight(args.records, "50ms", args.repeat, folder)
        at100 = pages_in_flight(args.records, "100ms", args.repeat, folder)
        jobs = jobs_in_flight(args.repeat, folder)
        peak = rate_limited(args.rate, folder)
    print()
    print(
        f"concurrency 8 at 50 ms: {at50:.1f}x (target >= 4: {'met' if at50 >= 4 else 'MISSED'}); "
        f"at 100 ms: {at100:.1f}x (target >= 5: {'met' if at100 >= 5 else 'MISSED'})"
    )
    print(
        f"--jobs 4: {jobs:.2f}x of --jobs 1 (target <= 0.4: {'met' if jobs <= 0.4 else 'MISSED'})"
    )
    print(
        f"rate limit {args.rate:g}/s: peak {peak} in any 1 s at the sandbox "
        f"({'never exceeded' if peak <= args.rate else 'EXCEEDED'})"
    )


if __name__ == "__main__":
    main()
