"""What to do next about a job's error: one sentence for each failure segrun knows.

The report, the HTML report and the terminal summary all read these, so the
advice for a 401 is written once. Errors are matched on the words segrun's
own messages use (runner/http/client.py, runner/run/execute.py), never on server text
alone, so a server cannot choose the advice.
"""

from __future__ import annotations

import re
import shlex

# (pattern over segrun's error text, the advice); the first match wins.
_RUNTIME: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), advice)
    for pattern, advice in (
        (
            r"^\w+ answered HTTP 401\b",
            "check auth.user_id and that the variable named by auth.secret_env holds that "
            "user's secret; the machine's clock must also be right (a signature is valid for "
            "15 minutes)",
        ),
        (
            r"^\w+ answered HTTP 403\b|ended with status Failed\b",
            "the user lacks permission for this segment group: ask your MyPreferences "
            "administrator to grant it, or check segment_group",
        ),
        (
            r"^\w+ answered HTTP 404\b",
            "check client_id and segment_group (spelling and case); if both are right, the "
            "endpoint path may be wrong: see specs/endpoints.yaml or the spec's endpoints:",
        ),
        (
            r"^\w+ answered HTTP 400\b",
            "the API refused the request: check match_criteria, match_type, values and "
            "last_datetime against the API's rules (transcript.har shows what was sent)",
        ),
        (
            r"failed after \d+ attempts?|the server asks to wait",
            "the server kept refusing or dropping the call: resume later; more patience is "
            "retry.attempts and retry.max_backoff",
        ),
        (
            r"after the poll timeout",
            "the export was still being prepared: raise poll.timeout, or resume later (the "
            "token is kept)",
        ),
        (
            r"ended with status (Expired|Retrieved)\b",
            "the export's token is no longer usable: resume (it re-initiates the same export)",
        ),
        (
            r"ended with status Error\b",
            "the server failed to prepare the export: resume to try again; tell PossibleNOW "
            "if it keeps failing",
        ),
        (
            r"^interrupted\b|^not started: interrupted",
            "resume the run: it continues from the last page written",
        ),
        (
            r"^writing the export failed",
            "free disk space or fix the folder's permissions, then resume",
        ),
        (
            r"^resume: ",
            "follow the message, then resume again",
        ),
        (
            r"^(Initiate|Status|Retrieve|reconcile)\b",
            "the server's answer contradicts the API's documentation; the records up to the "
            "proof are kept, and transcript.har holds the exchange to show PossibleNOW",
        ),
    )
)


def runtime_hint(error: str | None) -> str | None:
    """The advice for a job's error, or None when segrun has none to give."""
    if not error:
        return None
    for pattern, advice in _RUNTIME:
        if pattern.search(error):
            return advice
    return None


def resume_command(spec: str, run_dir: str) -> str:
    """The exact command that continues a failed or interrupted run, quoted for a shell."""
    return f"segrun run {shlex.quote(spec)} --resume {shlex.quote(run_dir)}"
