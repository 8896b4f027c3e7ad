"""segrun's exit codes: one table, read by `--help`, the README and the commands."""

OK = 0
JOB_FAILED = 1
INVALID = 2  # the spec or the command line is invalid; nothing was sent
INTERRUPTED = 130

HELP = (
    "Exit codes: 0 every job succeeded (or the spec is valid); 1 a job failed; "
    "2 the spec or the command line is invalid, nothing sent; 130 interrupted; "
    "70 a bug in segrun."
)
BUG = 70
