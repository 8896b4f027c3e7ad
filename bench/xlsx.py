"""Memory of a 1,000,000-record xlsx export (issue 11): `segrun run` with
`format: xlsx` from a sandbox in its own process, peak RSS of the segrun child.
Target: under the export benchmark's 150 MB. Not part of the test suite.

    python bench/xlsx.py [--records 1000000] [--columns]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from export import SEGMENT_GROUP, measure, segrun_argv, start_sandbox

PAGE = 1000

COLUMNS = (
    "      id: ProfileId\n      name: CustomerName\n"
    '      email: "Emails[0].EmailAddress"\n'
    "      opted_in: \"Consents[?Status=='OptIn'].ConsentType\"\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--columns", action="store_true", help="with output.columns")
    args = parser.parse_args()
    sandbox, base_url = start_sandbox(args.records)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            spec = folder / "bench.yaml"
            output = "    output:\n      format: xlsx\n"
            if args.columns:
                output += "      columns:\n" + COLUMNS.replace("      ", "        ")
            spec.write_text(
                f"version: 1\nclient_id: SanchezAssociates\nenvironment: sandbox\n"
                f"base_url: {base_url}\njobs:\n  - name: everyone\n"
                f"    segment_group: {SEGMENT_GROUP}\n    page_size: {PAGE}\n"
                "    poll: {interval: 200ms, timeout: 10m}\n" + output
            )
            seconds, peak = measure(
                [*segrun_argv(), "run", "-q", str(spec), "--out", str(folder / "run")]
            )
            size = (folder / "run" / "exports" / "everyone.xlsx").stat().st_size
            print(
                f"{args.records:,} records, xlsx{' with columns' if args.columns else ''}: "
                f"{seconds:.1f} s, peak RSS {peak:.0f} MiB, file {size / 2**20:.0f} MiB"
            )
    finally:
        sandbox.terminate()
        sandbox.wait()


if __name__ == "__main__":
    main()
