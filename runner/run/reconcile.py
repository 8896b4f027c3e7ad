"""Whether a finished export holds what the server said it would.

Records written = Retrieve's `TotalResults` is the hard check: both count the
same items of the same pages. Status's `RowCount` is documented only as the
"total amount of rows" of the export (docs.possiblenow.com, export Status);
nothing public says a row is a profile, so a RowCount that differs is a
warning, unless the job asks for `reconcile: strict`.
"""

from __future__ import annotations

from runner.errors import JobFailure

STRICT = "strict"
WARN = "warn"


def reconcile(written: int, row_count: int | None, total: int, mode: str = WARN) -> list[str]:
    """Report notes for the job; raises JobFailure when the export must fail."""
    if written != total:
        raise JobFailure(
            "server_lied",
            f"reconcile: {written} records written, but Retrieve said TotalResults {total}"
            + (f" (and Status said RowCount {row_count})" if row_count != total else ""),
        )
    if row_count == written:
        return []
    message = f"{written} records written (= TotalResults), but Status said RowCount {row_count}"
    if mode == STRICT:
        raise JobFailure("server_lied", f"reconcile: {message} (reconcile: strict)")
    return [
        f"warning: reconcile: {message}; RowCount is documented as rows, not profiles, so "
        "this is a warning (reconcile: strict makes it a failure)"
    ]


def describe(mode: str) -> str:
    """The plan's line for this step."""
    if mode == STRICT:
        return "reconcile: records written = TotalResults = RowCount (reconcile: strict)"
    return "reconcile: records written = TotalResults; a RowCount that differs is a warning"
