"""`segrun schema`: the spec format as JSON Schema, for editors."""

from __future__ import annotations

import click

from runner import exitcodes
from runner.jobspec.jsonschema import json_schema
from runner.system import strict_json


def render() -> str:
    return strict_json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


@click.command("schema", epilog=exitcodes.HELP)
def command() -> None:
    """Print the job-spec format as JSON Schema (draft 2020-12).

    For the YAML language server: put
    `# yaml-language-server: $schema=<path>/jobspec.schema.json` at the top of a
    spec. `specs/jobspec.schema.json` is a committed copy of this output.
    """
    click.echo(render(), nl=False)
