"""The command line: parses arguments and dispatches, nothing more.

Each command's logic lives in `runner/commands/<name>.py`, imported only when
that command runs (or when help lists them all): `segrun validate` in a
pre-commit hook must not pay for requests, the sandbox or the report writers.
"""

from __future__ import annotations

import importlib

import click

from runner import __version__, exitcodes
from runner.errors import error_handler
from runner.redaction.sink import current, keep_private

#: each command NAME is `runner.commands.NAME.command`
COMMANDS = (
    "validate",
    "plan",
    "run",
    "accept",
    "report",
    "state",
    "sandbox",
    "schema",
    "endpoints",
)


class _Group(click.Group):
    """Loads a command's module on first use (the LazyGroup of click's docs)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module = importlib.import_module(f"runner.commands.{cmd_name}")
            self.add_command(module.command, cmd_name)
        return super().get_command(ctx, cmd_name)

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


def main() -> None:
    # Everything printed from here on, by segrun, click or a traceback, passes
    # the run's redactor.
    with current().terminal():
        cli(prog_name="segrun")
