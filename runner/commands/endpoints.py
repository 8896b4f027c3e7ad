"""`segrun endpoints`: print the inferred endpoint map, to correct, confirm and keep.

`segrun endpoints > endpoints.yaml`, correct each path from your account's API
reference, mark it `confirmed: true` with `confirmed_by:`, then `endpoints:
endpoints.yaml` in a spec (or `run --endpoints`): production and staging runs
refuse a map no person has confirmed (runner/jobspec/endpoint_map.py), this one
included as it is printed.
"""

from __future__ import annotations

import click

from runner.jobspec.endpoint_map import inferred_text


@click.command("endpoints")
def command() -> None:
    """Print the inferred endpoint map, marked unconfirmed, to correct and confirm.

    PossibleNOW does not publish the v4 segment-group paths; segrun's defaults
    are inferred from legacy pages, and the Initiate one is the legacy segment
    export's. The map printed says `confirmed: false`, and each call's `source:`
    says INFERRED: a production or staging run refuses it as it stands.

        segrun endpoints > endpoints.yaml   # then correct each path

    Replace each `source:` with where that path comes from, set `confirmed:
    true` and say who confirmed it, from where and when, in `confirmed_by:`.
    Then give `endpoints: endpoints.yaml` in the spec (relative to it), or
    `segrun run --endpoints endpoints.yaml`. `segrun validate endpoints.yaml`
    checks it.
    """
    click.echo(inferred_text(), nl=False)
