"""Cost of one `Transcript.record()` against parsing the same page.

    python -m tests.records.bench_record

Not a test (pytest does not collect it): the figures go in the hand-over, the
test suite only checks that recording costs less than `response.json()`.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import timeit
from pathlib import Path

import requests

from runner.records.transcript import Transcript
from runner.redaction.redact import Redactor
from tests.support.fake_server import serving
from tests.support.recording import SECRET


def main() -> None:
    with serving() as server:
        measure(server.url("by-path") + "page?n=1000")


def measure(url: str) -> None:
    with requests.Session() as session:
        response = session.get(url)
    size = len(response.content)
    started = dt.datetime.now(dt.timezone.utc)
    redactor = Redactor([SECRET, "c" * 64, "tok_" + "a" * 40])
    n = 200
    json_s = min(timeit.repeat(response.json, number=n, repeat=5)) / n
    with requests.Session() as session:

        def bare() -> None:
            session.get(url).json()

        bare_s = min(timeit.repeat(bare, number=20, repeat=5)) / 20
    print(f"page: {size:,} bytes, 1000 records")
    print(f"bare get()+json() loop:    {bare_s * 1e6:8.0f} us per page (127.0.0.1)")
    print(f"response.json():           {json_s * 1e6:8.0f} us")
    for cap, fsync in ((65536, False), (65536, True), (1 << 20, False)):
        with (
            tempfile.TemporaryDirectory() as tmp,
            Transcript(Path(tmp), redactor, body_cap=cap, fsync=fsync, bodies="full") as t,
        ):

            def record(t: Transcript = t) -> None:
                t.record(
                    response.request,
                    response,
                    started=started,
                    elapsed_s=0.05,
                    job="weekly",
                    call="retrieve",
                    attempt=1,
                )

            per = min(timeit.repeat(record, number=n, repeat=5)) / n
        label = f"record() cap={cap // 1024}KiB{' fsync' if fsync else ''}:"
        print(
            f"{label:26} {per * 1e6:8.0f} us  ({per / json_s:.0%} of json(), "
            f"{per / bare_s:.0%} of a bare page)"
        )


if __name__ == "__main__":
    main()
