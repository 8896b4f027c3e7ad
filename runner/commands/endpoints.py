"""`segrun endpoints`: print the inferred endpoint map, to confirm and keep.

`segrun endpoints > endpoints.yaml`, correct each path from your account's API
reference, then `endpoints: endpoints.yaml` in a spec (or `run --endpoints`):
production and staging runs need a confirmed map (runner/jobspec/endpoint_map.py).
"""

from __future__ import annotations

import click

from runner.jobspec.endpoint_map import inferred_text


@click.command("endpoints")
def command() -> None:
    """Print the inferred endpoint map, with what is known about each line.

    PossibleNOW does not publish the v4 segment-group paths; segrun's defaults
    are inferred from legacy pages, and the Initiate one is the legacy segment
    export's. A production or staging run needs a map you have confirmed:

        segrun endpoints > endpoints.yaml   # then correct each path

    and `endpoints: endpoints.yaml` in the spec (relative to it), or
    `segrun run --endpoints endpoints.yaml`.
    """
    click.echo(inferred_text(), nl=False)
