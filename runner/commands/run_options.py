"""Which options of `segrun run` mean something together: an option that would
do nothing in the given combination is an error (exit 2), never silently ignored."""

from __future__ import annotations

import click
from click.core import ParameterSource

#: with --dry-run, only these shape what is printed
_DRY_RUN = {"spec", "dry_run", "fmt", "only", "state", "endpoints_file"}
_FLAGS = {
    "out": "--out",
    "fmt": "--format",
    "resume": "--resume",
    "state": "--state",
    "only": "--only",
    "fail_fast": "--fail-fast",
    "insecure": "--insecure-skip-tls-verify",
    "quiet": "--quiet",
    "verbose": "--verbose",
    "body_cap": "--transcript-body-cap",
    "sandbox_profiles": "--sandbox-profiles",
    "sandbox_seed": "--sandbox-seed",
    "sandbox_faults": "--sandbox-faults",
    "endpoints_file": "--endpoints",
    "transcript_bodies": "--transcript-bodies",
    "request_timeout": "--request-timeout",
    "max_page_bytes": "--max-page-bytes",
    "share_with_group": "--share-with-group",
    "jobs": "--jobs",
}


def refuse_idle_options(ctx: click.Context) -> None:
    """Raise a usage error naming the first option that would do nothing."""
    given = {
        name
        for name in ctx.params
        if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)
    }
    if "dry_run" in given and ctx.params.get("dry_run"):
        idle = [_FLAGS.get(name, name) for name in sorted(given - _DRY_RUN)]
        if idle:
            one = len(idle) == 1
            raise click.UsageError(
                f"{', '.join(idle)} {'does' if one else 'do'} nothing with --dry-run, which "
                f"sends nothing: drop {'it' if one else 'them'} or --dry-run"
            )
        return
    if "fmt" in given:
        raise click.UsageError("--format applies to --dry-run (the plan's format)")
    if ctx.params.get("quiet") and ctx.params.get("verbose"):
        raise click.UsageError("--quiet and --verbose contradict each other; choose one")
