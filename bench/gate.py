"""The redaction gate's cost on big texts, beside parsing the same text.

Every transcript write, report, log line and terminal line passes the gate
(`runner/redaction/redact.py`), which decodes what a text can hide a secret in
before it compares. This times `Redactor.scan` on Retrieve-shaped pages that
hold no secret (the common case: the whole text is read, nothing is masked),
beside `json.loads` of the same text, interleaved, medians of `--repeat` runs:

- a 10 MB page, ASCII; and with every name's non-ASCII letters as `\\uXXXX`
  escapes (what .NET's System.Text.Json writes), so the decoding runs;
- a 64 KiB page (a transcript body at the default cap), and the same page as a
  JSON string inside JSON (every quote escaped: the worst case for decoding);

each with three known secrets, and again with 1,000 PNAUTHINFO3 signatures
registered (a run of 1,000 requests). Each text is fresh per run (the gate
remembers big texts it found clean).

    python bench/gate.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runner.redaction.redact import Redactor  # noqa: E402
from tests.support.fake_server import records_page  # noqa: E402

SECRETS = ["s3cr3t-HMAC-key/with+odd=chars", "c" * 64, "tok_" + "a" * 40]


def page(size: int, escaped: bool = False) -> str:
    data = json.loads(records_page(size // 545))
    if escaped:
        for i, record in enumerate(data["UserProfilePreferences"]):
            record["CustomerName"] = f"Müller Ærøskøbing {i}"
    return json.dumps(data, ensure_ascii=escaped)


def redactor(signatures: int) -> Redactor:
    r = Redactor(SECRETS)
    for i in range(signatures):
        r.add_signature(f"QkFTRTY0c2lnbmF0dXJlMTIzNDU2Nzg5MGFi{i:06d}Zmc=")
    return r


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    texts = {
        "10 MB page": page(10_000_000),
        "10 MB page, \\u escapes": page(10_000_000, escaped=True),
        "64 KiB page": page(65536),
        "64 KiB page as a JSON string": json.dumps(page(65536)),
    }
    fresh = 0
    print(f"{'text':32} {'signatures':>10} {'scan ms':>9} {'json.loads ms':>14} {'ratio':>6}")
    for signatures in (0, 1000):
        gate = redactor(signatures)
        for label, text in texts.items():
            scans, parses = [], []
            for _ in range(repeat):
                fresh += 1
                candidate = f"{text} {fresh}"  # a new string: nothing remembered
                t0 = time.perf_counter()
                gate.scan(candidate)
                scans.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                json.loads(text)
                parses.append(time.perf_counter() - t0)
            scan, parse = statistics.median(scans), statistics.median(parses)
            print(
                f"{label:32} {signatures:>10} {scan * 1e3:9.1f} {parse * 1e3:14.1f} "
                f"{scan / parse:6.2f}"
            )


if __name__ == "__main__":
    main()
