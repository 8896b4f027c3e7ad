"""What to do next about a job's failure: one sentence for each kind of failure
(runner/errors.py FailureKind) segrun has advice for.

The HTML report and the terminal summary both read this table, so the advice
for a 401 is written once. Advice is keyed by the failure's kind, which segrun
chooses where it raises the failure, never by its message: a message may quote
a server, and a reworded message keeps its advice.
"""

from __future__ import annotations

import shlex

#: the advice for each kind of failure; a kind not here has none to add to its message
ADVICE: dict[str, str] = {
    "auth": (
        "check auth.user_id and that the variable named by auth.secret_env holds that "
        "user's secret; the machine's clock must also be right (a signature is valid for "
        "15 minutes)"
    ),
    # A resume asks the same of the same user: it cannot be the advice here.
    "permission": (
        "the user lacks permission for this segment group: ask your MyPreferences "
        "administrator to grant it, or check segment_group"
    ),
    "not_found": (
        "check client_id and segment_group (spelling and case); if both are right, the "
        "endpoint path may be wrong: see specs/endpoints.yaml or the spec's endpoints:"
    ),
    "rejected": (
        "the API refused the request: check match_criteria, match_type, values and "
        "last_datetime against the API's rules (transcript.har shows what was sent)"
    ),
    "retries_exhausted": (
        "the server kept refusing or dropping the call: resume later; more patience is "
        "retry.attempts and retry.max_backoff"
    ),
    "poll_timeout": (
        "the export was still being prepared: raise poll.timeout, or resume later (the "
        "token is kept)"
    ),
    "export_gone": (
        "the export's token is no longer usable: resume (it re-initiates the same export)"
    ),
    "server_failed": (
        "the server failed to prepare the export: resume to try again; tell PossibleNOW "
        "if it keeps failing"
    ),
    "interrupted": "resume the run: it continues from the last page written",
    "expectation": (
        "look at the export kept aside (named in the error); if it is right after all, "
        "`segrun accept RUN_DIR JOB` places it and moves the watermark as a success would; "
        "else fix the cause and run again"
    ),
    "state": (
        "the job's watermark is missing from the state: check --state or the spec's state "
        "location (a fresh worker has none); `on_missing_watermark: full` exports everything"
    ),
    "disk": "free disk space or fix the folder's permissions, then resume",
    "resume": "follow the message, then resume again",
    "invalid_answer": (
        "the server's answer contradicts the API's documentation; the records up to the "
        "proof are kept, and transcript.har holds the exchange to show PossibleNOW"
    ),
    "server_lied": (
        "the server's answer contradicts the API's documentation; the records up to the "
        "proof are kept, and transcript.har holds the exchange to show PossibleNOW"
    ),
}


def advice_for(kind: str | None) -> str | None:
    """The advice for a kind of failure, or None when segrun has none to give
    (no kind: a job that did not fail, or a report written before kinds)."""
    return ADVICE.get(kind) if kind else None


def resume_command(spec: str, run_dir: str) -> str:
    """The exact command that continues a failed or interrupted run, quoted for a shell."""
    return f"segrun run {shlex.quote(spec)} --resume {shlex.quote(run_dir)}"
