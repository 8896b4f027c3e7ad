"""Which options of `segrun run` mean something together: an option that would
do nothing in the given combination is an error (exit 2), never silently ignored."""

from __future__ import annotations

import click
from click.core import ParameterSource

#: with --dry-run, only these shape what is printed
_DRY_RUN = {"spec", "dry_run", "fmt", "only", "state"}
_FLAGS = {
    "out": "--out", "fmt": "--format", "resume": "--resume", "state": "--state",
    "only": "--only", "fail_fast": "--fail-fast", "insecure": "--insecure-skip-tls-verify",
    "quiet": "--quiet", "verbose": "--verbose", "body_cap": "--transcript-body-cap",
    "sandbox_profiles": "--sandbox-profiles", "sandbox_seed": "--sandbox-seed",
    "sandbox_faults": "--sandbox-faults",
}


def refuse_idle_options(ctx: click.Context) -> None:
    """Raise a usage error naming the first option that would do nothing."""
    given = {
        name for name in ctx.params
        if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)
    }
    if "dry_run" in given and ctx.params.get("dry_run"):
        idle = sorted(given - _DRY_RUN)
        if idle:
            raise click.UsageError(f"{_FLAGS.get(idle[0], idle[0])} does nothing with --dry-run")
        return
    if "fmt" in given:
        raise click.UsageError("--format applies to --dry-run (the plan's format)")
    if ctx.params.get("quiet") and ctx.params.get("verbose"):
        raise click.UsageError("--quiet and --verbose contradict each other; choose one")
