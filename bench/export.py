"""Export speed and memory: `segrun run` beside the physical limit, a raw client.

Every row fetches the same export from one sandbox running in its own process
(`--processing-seconds 0`), as a child process of its own, the rows
interleaved so machine noise hits them alike. Peak memory is the child's
maximum resident set size.

- raw client: `http.client`, the four calls, each Retrieve page's bytes
  appended to a file as they came (no JSON at all): the limit.
- segrun: `segrun run -q`, pages of 1,000 and of 10,000.
- (`--bare`) a requests loop decoding each page and encoding each record:
  what a hand-written script does, and what segrun did before issue 12.
- (`--expect`) segrun with `expect: {required_fields, record_schema}` on, pages
  of 1,000: the cost of checking every record before the export is placed.

After timing, segrun's JSONL is compared byte for byte with the records in
the raw client's pages: each JSONL line must be the server's own text.

Targets (issue 12): segrun at most 1.5x the raw client's wall time at 1M
records; peak under 64 MB at page sizes 1,000 and 10,000, flat from 100k to 1M.

    python bench/export.py [--records 1000000 100000] [--pages 1000 10000] [--repeat 3] [--bare]
                           [--expect]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
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
from urllib.parse import urlsplit

SEGMENT_GROUP = "All Profiles"
RECORDS_KEY = b'"UserProfilePreferences":['


def segrun_argv() -> list[str]:
    exe = shutil.which("segrun")
    return [exe] if exe else [sys.executable, "-m", "runner"]


def start_sandbox(profiles: int, latency: str | None = None) -> tuple[subprocess.Popen, str]:
    argv = [
        *segrun_argv(),
        "sandbox",
        "--port",
        "0",
        "--profiles",
        str(profiles),
        "--processing-seconds",
        "0",
    ]
    if latency:
        argv += ["--latency", latency]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
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
        raise RuntimeError(f"{argv[:4]} failed with {status}")
    return elapsed, usage.ru_maxrss / 1024


def _signed() -> dict:
    from runner.apifacts import auth
    from runner.sandbox import DEMO

    now = dt.datetime.now(dt.timezone.utc)
    return {
        "Authorization": auth.authorization(
            DEMO.scheme, DEMO.client_id, DEMO.user_id, DEMO.secret, now
        )
    }


def raw_client(base_url: str, out: str, page: int) -> None:
    """The physical limit: one connection, the four calls, page bytes to disk."""
    from runner.sandbox import DEMO

    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port)
    base = f"{url.path}Async/{DEMO.client_id}/Export"

    def call(method: str, path: str, body: bytes | None = None) -> bytes:
        headers = _signed()
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status}")
        return data

    token = json.loads(call("POST", f"{base}/Segment/All%20Profiles", b"{}"))["AccessToken"]
    while json.loads(call("GET", f"{base}/{token}/Status"))["Status"] != "Complete":
        time.sleep(0.05)
    offset = 1
    with open(out, "wb") as f:
        while True:
            data = call("GET", f"{base}/{token}?limit={page}&offset={offset}&keepAlive=true")
            f.write(data)
            f.write(b"\n")
            # The two fields a loop needs, found without decoding the page.
            more = re.search(rb'"HasMore":(true|false)', data).group(1) == b"true"
            if not more:
                break
            offset += int(re.search(rb'"Count":(\d+)', data).group(1))
    call("POST", f"{base}/{token}/Commit?keepFiles=false", b"")


def bare_loop(base_url: str, out: str, page: int) -> None:
    """What a hand-written script does: decode each page, encode each record."""
    import requests

    from runner.sandbox import DEMO

    session = requests.Session()
    base = base_url + f"Async/{DEMO.client_id}/Export"
    token = session.post(f"{base}/Segment/All%20Profiles", json={}, headers=_signed()).json()[
        "AccessToken"
    ]
    while session.get(f"{base}/{token}/Status", headers=_signed()).json()["Status"] != "Complete":
        time.sleep(0.05)
    offset = 1
    with open(out, "wb") as f:
        while True:
            body = session.get(
                f"{base}/{token}",
                headers=_signed(),
                params={"limit": page, "offset": offset, "keepAlive": "true"},
            ).json()
            records = body["UserProfilePreferences"]
            f.write(
                b"".join(
                    json.dumps(r, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
                    for r in records
                )
            )
            if not body["HasMore"]:
                break
            offset += len(records)
    session.post(f"{base}/{token}/Commit", params={"keepFiles": "false"}, headers=_signed())


def same_records(raw_pages: Path, jsonl: Path) -> bool:
    """Each page's record array, as the server wrote it, is the JSONL lines of
    that page joined by commas: byte for byte, without decoding anything."""
    with open(raw_pages, "rb") as pages, open(jsonl, "rb") as lines:
        for page in pages:
            page = page.rstrip(b"\n")
            start = page.find(RECORDS_KEY)
            if start < 0 or not page.endswith(b"]}"):
                return False
            region = page[start + len(RECORDS_KEY) : -2]
            count = int(re.search(rb'"Count":(\d+)', page).group(1))
            mine = b",".join(lines.readline().rstrip(b"\n") for _ in range(count))
            if mine != region:
                return False
        return lines.read(1) == b""


def sha256(path: Path) -> str:
    from runner.run.outputs import sha256_of  # segrun's own, as it checksums an export

    return sha256_of(path)


#: a record schema of the kind a data team writes: the fields it loads, typed
RECORD_SCHEMA = {
    "type": "object",
    "required": ["ProfileId", "IsActive", "Emails"],
    "properties": {
        "ProfileId": {"type": "integer"},
        "IsActive": {"type": "boolean"},
        "CustomerName": {"type": "object"},
        "Emails": {
            "type": "array",
            "items": {"type": "object", "required": ["EmailAddress"]},
        },
    },
}
EXPECT = (
    '    expect: {required_fields: [ProfileId, "CustomerName.LastName"], '
    "record_schema: profile.schema.json}\n"
)


def write_spec(
    folder: Path, base_url: str, page: int, concurrency: int = 1, expect: bool = False
) -> Path:
    spec = folder / f"bench-{page}{'-expect' if expect else ''}.yaml"
    if expect:
        (folder / "profile.schema.json").write_text(json.dumps(RECORD_SCHEMA))
    spec.write_text(
        f"version: 1\nclient_id: SanchezAssociates\nenvironment: sandbox\nbase_url: {base_url}\n"
        f"jobs:\n  - name: everyone\n    segment_group: {SEGMENT_GROUP}\n    page_size: {page}\n"
        f"    concurrency: {concurrency}\n    poll: {{interval: 50ms, timeout: 10m}}\n"
        + (EXPECT if expect else "")
    )
    return spec


def bench(
    records: int, pages: list[int], repeat: int, folder: Path, bare: bool, expect: bool = False
) -> dict:
    sandbox, base_url = start_sandbox(records)
    me = [sys.executable, __file__]
    try:
        rows: dict[str, list[tuple[float, float]]] = {}
        raw_out = folder / "raw.pages"
        for i in range(repeat):
            rows.setdefault("raw client", []).append(
                measure([*me, "--raw", base_url, str(raw_out), "1000"])
            )
            if bare:
                rows.setdefault("requests loop", []).append(
                    measure([*me, "--bare-loop", base_url, str(folder / "bare.jsonl"), "1000"])
                )
            for page in pages:
                out = folder / f"run-{page}"
                shutil.rmtree(out, ignore_errors=True)
                spec = write_spec(folder, base_url, page)
                rows.setdefault(f"segrun, pages of {page:,}", []).append(
                    measure([*segrun_argv(), "run", "-q", str(spec), "--out", str(out)])
                )
                if i == 0:
                    exported = out / "exports" / "everyone.jsonl"
                    if page == 1000 and not same_records(raw_out, exported):
                        raise SystemExit(
                            "segrun's JSONL is not the server's records, byte for byte"
                        )
                    if page != 1000 and sha256(exported) != sha256(
                        folder / "run-1000" / "exports" / "everyone.jsonl"
                    ):
                        raise SystemExit(f"pages of {page} exported other bytes")
            if expect:
                out = folder / "run-expect"
                shutil.rmtree(out, ignore_errors=True)
                spec = write_spec(folder, base_url, 1000, expect=True)
                rows.setdefault("segrun, pages of 1,000, expect on", []).append(
                    measure([*segrun_argv(), "run", "-q", str(spec), "--out", str(out)])
                )
                if i == 0 and sha256(out / "exports" / "everyone.jsonl") != sha256(
                    folder / "run-1000" / "exports" / "everyone.jsonl"
                ):
                    raise SystemExit("with expect on, segrun exported other bytes")
        return {
            name: (statistics.median(t for t, _ in runs), max(m for _, m in runs))
            for name, runs in rows.items()
        }
    finally:
        sandbox.terminate()
        sandbox.wait()


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] in ("--raw", "--bare-loop"):
        (raw_client if sys.argv[1] == "--raw" else bare_loop)(
            sys.argv[2], sys.argv[3], int(sys.argv[4])
        )
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[1_000_000, 100_000])
    parser.add_argument("--pages", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bare", action="store_true", help="add the requests-loop row")
    parser.add_argument(
        "--expect", action="store_true", help="add segrun with required_fields and record_schema"
    )
    args = parser.parse_args()
    print(
        f"median of {args.repeat} interleaved runs each; sandbox in its own process, "
        "--processing-seconds 0\n"
    )
    print(f"{'records':>10}  {'client':<34} {'wall':>7} {'x raw':>6} {'peak':>9}")
    worst, peaks = 0.0, {}
    with tempfile.TemporaryDirectory() as tmp:
        for records in args.records:
            result = bench(records, args.pages, args.repeat, Path(tmp), args.bare, args.expect)
            raw_wall = result["raw client"][0]
            for name, (wall, peak) in result.items():
                ratio = wall / raw_wall
                print(
                    f"{records:>10,}  {name:<34} {wall:>6.1f}s {ratio:>6.2f} {peak:>6.0f}MiB",
                    flush=True,
                )
                if name.startswith("segrun") and not name.endswith("expect on"):
                    peaks.setdefault(name, []).append(peak)
                    if records == max(args.records):
                        worst = max(worst, ratio)
            print()
    peak = max(max(p) for p in peaks.values())
    flat = max(max(p) - min(p) for p in peaks.values())
    print(
        f"segrun wall at {max(args.records):,} records: at most {worst:.2f}x the raw client "
        f"(target <= 1.5: {'met' if worst <= 1.5 else 'MISSED'})"
    )
    print(
        f"segrun peak {peak * 1.048576:.0f} MB (target < 64 MB: "
        f"{'met' if peak * 1.048576 < 64 else 'MISSED'}); growth from the fewest to the most "
        f"records {flat:.0f} MiB"
    )
    print("JSONL: the server's records byte for byte (checked)")
    if args.expect:
        print("expect on: the same bytes exported; its row is not part of the targets above")


if __name__ == "__main__":
    main()
