"""The command line: parses arguments and dispatches, nothing more.

Each command's logic lives in `runner/commands/<name>.py`.
"""

from __future__ import annotations

import click

from runner import __version__, exitcodes
from runner.errors import error_handler
from runner.records.sink import current, keep_private


class _Group(click.Group):
    def invoke(self, ctx: click.Context):  # every command's failures pass here
        keep_private()  # `run --share-with-group` loosens it for its run
        with error_handler():
            return super().invoke(ctx)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=exitcodes.HELP,
)
@click.version_option(__version__, prog_name="segrun")
def cli() -> None:
    """Run MyPreferences segment-group exports from YAML job specs.

    Write exports down as job specs, check them with `segrun validate`, see the
    exact requests with `segrun plan`, and run them with `segrun run`.
    `segrun sandbox` serves a local simulator of the API to rehearse against.
    """


def _register() -> None:
    from runner.commands import endpoints, plan, report, run, sandbox, schema, state, validate

    for module in (validate, plan, run, report, state, sandbox, schema, endpoints):
        cli.add_command(module.command)


_register()


def main() -> None:
    # Everything printed from here on, by segrun, click or a traceback, passes
    # the run's redactor.
    with current().terminal():
        cli(prog_name="segrun")
