"""Which endpoint map a run uses, and whether the user has confirmed it.

The v4 segment-group paths are not published; the inferred defaults in
`specs/endpoints.yaml` are modelled on the legacy *segment* export, a different
API. Sent unconfirmed to a real account, the Initiate could export a segment
that shares the group's name and segrun would label that data as the group
(API-NOTES, "Two export APIs"). So a run against `production` or `staging` needs
a map the user has confirmed: an `endpoints:` block in the spec, `endpoints:
FILE` (relative to the spec), or `--endpoints FILE`. This module is the one
place that decides it; `segrun endpoints` prints the starting point.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runner.apifacts import api
from runner.apifacts.files import load_spec_yaml
from runner.errors import SegrunError
from runner.jobspec.model import Spec

#: environments that talk to a real MyPreferences account
NEEDS_CONFIRMATION = ("production", "staging")
INFERRED = "the inferred map (specs/endpoints.yaml)"


class EndpointMapError(SegrunError):
    """An endpoint map that cannot be used; nothing was sent (exit 2)."""


@dataclass(frozen=True)
class EndpointMap:
    endpoints: dict[str, api.Endpoint]
    #: where the paths come from, in the user's words (named in errors)
    source: str
    #: every call's path was given by the user (spec block, spec file or --endpoints)
    confirmed: bool
    #: calls whose path still comes from the inferred map
    inferred_calls: tuple[str, ...] = ()


def load_file(path: str | Path) -> dict[str, dict[str, str]]:
    """An endpoint map file (the form `segrun endpoints` prints), checked with the
    same rules as a spec's `endpoints:` block."""
    from runner.jobspec.diagnostics import ERROR
    from runner.jobspec.loader import LoadProblem
    from runner.jobspec.loader import load_file as load_yaml
    from runner.jobspec.rules import SpecValidator
    from runner.jobspec.schema import spec_schema

    name = str(path)
    try:
        root = load_yaml(name, 1_000_000)
    except LoadProblem as e:
        message = e.message
        if e.rule in ("root", "empty") or "a spec" in message:  # the loader words it for a spec
            message = f"must be a mapping of calls ({', '.join(api.CALLS)}), as `segrun endpoints`"
            message += " prints"
        where = f"{name}:{e.line}:{e.column}" if e.line > 0 else name
        raise EndpointMapError(f"endpoint map {where}: {message}") from None
    document = root.root
    if not isinstance(document, dict):
        raise EndpointMapError(
            f"endpoint map {name}: must be a mapping of calls ({', '.join(api.CALLS)}), "
            "as `segrun endpoints` prints"
        )
    validator = SpecValidator(
        {"endpoints": {**spec_schema()["endpoints"], "type": "dict"}}, findings=[]
    )
    valid = validator.validate({"endpoints": dict(document)})
    # segrun's own rules report apart from cerberus' errors (runner/jobspec/rules.py)
    own = [f for f in validator.findings if f.severity == ERROR]
    if own:
        where = ".".join(str(step) for step in own[0].path[1:])
        raise EndpointMapError(f"endpoint map {name}: {where}: {own[0].message}")
    if not valid:
        raise EndpointMapError(f"endpoint map {name}: {_first_error(validator)}")
    return {call: dict(entry) for call, entry in validator.document["endpoints"].items()}


def _first_error(validator) -> str:
    """The first problem cerberus found, as `call.key: message`."""
    from cerberus import errors as ce

    from runner.jobspec.rules import SPEC_ERROR

    leaves, pending = [], list(validator._errors)
    while pending:
        error = pending.pop(0)
        if error.is_group_error:
            pending[:0] = list(error.child_errors)
        else:
            leaves.append(error)
    if not leaves:
        return "invalid"
    error = leaves[0]
    where = ".".join(str(step) for step in error.document_path[1:])
    if error.code == SPEC_ERROR.code:
        message = error.info[1]
    elif error.code == ce.UNKNOWN_FIELD.code:
        message = f"unknown key (the calls are {', '.join(api.CALLS)}; each takes method, path)"
    else:
        template = ce.BasicErrorHandler.messages.get(error.code, "invalid ({rule})")
        message = template.format(
            *error.info,
            constraint=error.constraint,
            field=error.field,
            value=error.value,
            rule=error.rule,
        )
    return f"{where}: {message}" if where else message


def resolve(
    spec_file: Path,
    block: Mapping[str, Mapping[str, str]] | None,
    file: str | None,
    option: Path | None = None,
) -> EndpointMap:
    """The map a spec's run uses: `--endpoints FILE` over the spec's own
    (`endpoints: FILE` relative to the spec, or an `endpoints:` block) over the
    inferred defaults. A call is confirmed when the user gave its path; its
    method may be left to the map (the methods are documented, the paths not)."""
    if option is not None:
        overrides, source = load_file(option), f"{option} (--endpoints)"
    elif file is not None:
        located = spec_file.parent / file
        overrides, source = load_file(located), f"{located} (endpoints: in {spec_file})"
    elif block:
        overrides, source = {k: dict(v) for k, v in block.items()}, f"endpoints: in {spec_file}"
    else:
        overrides, source = {}, INFERRED
    inferred = tuple(c for c in api.CALLS if not (overrides.get(c) or {}).get("path"))
    if inferred and overrides:
        source += f"; {', '.join(inferred)} from {INFERRED}"
    return EndpointMap(api.endpoints(overrides), source, not inferred, inferred)


def for_spec(spec: Spec, option: Path | None = None) -> EndpointMap:
    return resolve(spec.path, spec.endpoints, spec.endpoints_file, option)


def require_confirmed(environment: str, endpoint_map: EndpointMap) -> None:
    """Refuse, before anything is sent, a real account with an unconfirmed map."""
    if environment not in NEEDS_CONFIRMATION or endpoint_map.confirmed:
        return
    missing = ", ".join(endpoint_map.inferred_calls)
    raise EndpointMapError(
        f"environment {environment} needs an endpoint map you have confirmed, and the paths "
        f"of {missing} are only inferred: PossibleNOW does not publish the v4 segment-group "
        "paths, and the inferred Initiate path is the legacy *segment* export's, which could "
        "export a segment of the same name. Run `segrun endpoints > endpoints.yaml`, correct "
        "each path from your account's API reference, and give it as `endpoints: "
        "endpoints.yaml` in the spec or `--endpoints endpoints.yaml`; nothing was sent"
    )


def inferred_text() -> str:
    """What `segrun endpoints` prints: the inferred map, each line with a comment
    saying what is known about it and from where (both read from
    specs/endpoints.yaml), for the user to correct and confirm."""
    table = api.endpoints()
    sources = load_spec_yaml("endpoints.yaml")
    lines = [
        "# segrun endpoint map. Confirm every path against your account's API reference,",
        "# then name this file as `endpoints: FILE` in a spec (relative to the spec) or",
        "# give it as `segrun run --endpoints FILE`. Paths are relative to the environment's",
        "# base URL (production: https://pm.mypreferences.com/Profiles/v4/); placeholders:",
        "# {clientId}, {segmentGroupName}, {accessToken}. Every PATH below is INFERRED:",
        "# PossibleNOW publishes only the v4 methods.",
    ]
    for call in api.CALLS:
        endpoint, known = table[call], sources[call]
        lines += [
            f"{call}:",
            f"  method: {endpoint.method}  # {_one_line(known.get('method_source'))}",
            f'  path: "{endpoint.path}"  # {_one_line(known.get("path_source"))}',
        ]
    return "\n".join(lines) + "\n"


def _one_line(text: object) -> str:
    return " ".join(str(text or "no source recorded").split())
