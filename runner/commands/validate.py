"""`segrun validate`: check specs like a compiler, every problem at once."""

from __future__ import annotations

import os
import sys

import click

from runner import exitcodes
from runner.commands.numbers import number
from runner.jobspec.diagnostics import ERROR, SHOWN_PER_RULE, render_json, render_text
from runner.jobspec.diagnostics_human import render_human, wants_color
from runner.jobspec.loader import MAX_BYTES
from runner.jobspec.loading import check_spec


def _sandbox_data_diagnostics(name: str, root) -> list:
    """Loads the sandbox's data-file format only for a file that is one."""
    from runner.sandbox.datafile import data_file_diagnostics

    return data_file_diagnostics(name, root)


def validate_files(paths: list[str], *, max_bytes: int = MAX_BYTES) -> list:
    """Every diagnostic of every file; unset variables are only warnings here,
    because pre-commit hooks run where the secrets are not."""
    diagnostics = []
    for path in paths:
        result = check_spec(
            path, os.environ, max_bytes=max_bytes, data_file_check=_sandbox_data_diagnostics
        )
        diagnostics.extend(result.diagnostics)
    return diagnostics


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@click.command("validate", epilog=exitcodes.HELP)
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["human", "text", "json"]),
    default=None,
    help="human: each problem with its source line, a caret and help (the default on a "
    "terminal). text: one line each, file:line:col: severity: path: message (the default "
    "otherwise). json: a list of objects.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print errors only, no warnings or summary.")
@click.option(
    "--max-bytes",
    type=number(int, 1),
    default=MAX_BYTES,
    show_default=True,
    help="Refuse spec files larger than this.",
)
def command(specs: tuple[str, ...], fmt: str, quiet: bool, max_bytes: int) -> None:
    """Check job specs against the API's documented rules.

    Prints every problem, sorted by file and line (in text, the first 20 of
    each rule per file, then how many more; --format json lists all), and exits
    0 when every file is valid (warnings allowed) or 2 when any is not. Unset
    ${VARS}, unset variables named by auth and a missing values_file are
    warnings here; `plan` and `run` treat them as errors. What `run` would
    refuse in a valid spec (for production and staging, an endpoint map no
    person has confirmed) is a warning at the spec's line. Endpoint map files
    and sandbox data files beside the specs are checked as what they are.
    Fast enough for a pre-commit hook.
    """
    diagnostics = validate_files(list(specs), max_bytes=max_bytes)
    if quiet:
        diagnostics = [d for d in diagnostics if d.severity == ERROR]
    fmt = fmt or ("human" if sys.stdout.isatty() else "text")
    if fmt == "json":
        out = render_json(diagnostics)
    elif fmt == "human":
        out = render_human(diagnostics, color=wants_color(sys.stdout), per_rule=SHOWN_PER_RULE)
    else:
        out = render_text(diagnostics, per_rule=SHOWN_PER_RULE)
    sys.stdout.write(out)
    errors = sum(d.is_error for d in diagnostics)
    if fmt != "json" and not quiet:
        warnings = len(diagnostics) - errors
        bad = len({d.file for d in diagnostics if d.is_error})
        state = f"{bad} invalid" if bad else "all valid"
        click.echo(
            f"{_count(len(specs), 'spec')} checked: {state} "
            f"({_count(errors, 'error')}, {_count(warnings, 'warning')})",
            err=True,
        )
    raise SystemExit(exitcodes.INVALID if errors else exitcodes.OK)
