"""The API's facts, read once from `specs/api.yaml` and `specs/endpoints.yaml`.

The validator, the client, the sandbox and the docs all ask here, so a fact that
turns out wrong is corrected in one YAML file and nowhere else.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from runner.apifacts.files import load_spec_yaml

CALLS = ("initiate", "status", "retrieve", "commit")


def facts() -> dict:
    return load_spec_yaml("api.yaml")


def match_criteria() -> list[str]:
    return list(facts()["match_criteria"])


def statuses() -> dict[str, dict]:
    return facts()["statuses"]


def auth_schemes() -> dict[str, dict]:
    return facts()["auth"]["schemes"]


def environment_url(name: str) -> str:
    return facts()["environments"][name]


def placeholders(template: str) -> list[str]:
    """The `{name}` fields of a template, in order.

    The one parser of segrun's templates (endpoint paths, output paths). Only a
    bare `{name}` is a placeholder: str.format's conversions (`{job!r}`), format
    specs (`{job:>2000000000}`), positions (`{0}`), attributes and indexes
    (`{job.x}`, `{job[0]}`) are ValueErrors, so a template checked here can
    never do more at run time than put a value in its place.
    """
    names = []
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        written = (
            "{"
            + name
            + (f"!{conversion}" if conversion else "")
            + (f":{spec}" if spec else "")
            + "}"
        )
        if conversion or spec:
            raise ValueError(f"{written}: write a placeholder as {{name}}, without ! or :")
        if not name.isidentifier():
            raise ValueError(f"{written}: a placeholder is a {{name}}")
        names.append(name)
    return names


def fill(template: str, **values: object) -> str:
    """A template with each `{name}` replaced (`{{` and `}}` are literal braces)."""
    placeholders(template)
    return template.format(**values)


@dataclass(frozen=True)
class Endpoint:
    call: str
    method: str
    path: str

    def placeholders(self) -> list[str]:
        return placeholders(self.path)

    def render(self, **params: object) -> str:
        """The path with every parameter percent-encoded, `/` included, so a
        segment group called `a/../b` stays one path segment."""
        return fill(self.path, **{k: quote(str(v), safe="") for k, v in params.items()})


def endpoints(overrides: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, Endpoint]:
    """The endpoint map, with a job spec's `endpoints:` overrides laid over it."""
    table = load_spec_yaml("endpoints.yaml")
    result = {}
    for call in CALLS:
        entry = dict(table[call])
        entry.update((overrides or {}).get(call) or {})
        result[call] = Endpoint(call, entry["method"].upper(), entry["path"].lstrip("/"))
    return result
