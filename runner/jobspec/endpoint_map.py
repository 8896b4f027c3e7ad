"""Which endpoint map a run uses, and whether a person has confirmed it.

The v4 segment-group paths are not published; the inferred defaults in
`specs/endpoints.yaml` are modelled on the legacy *segment* export, a different
API. Sent unconfirmed to a real account, the Initiate could export a segment
that shares the group's name and segrun would label that data as the group
(API-NOTES, "Two export APIs"). So a run against `production` or `staging` needs
a map a person has confirmed: an `endpoints:` block in the spec, `endpoints:
FILE` (relative to the spec), or `--endpoints FILE`.

Confirming is an act written into the map, not the absence of comments: every
call has a path, the map says `confirmed: true`, it says where from
(`confirmed_by:`, or a `source:` on each call), and no call's source still
begins with INFERRED. `segrun endpoints` writes `confirmed: false` and an
INFERRED source on every call, so its output is refused as it stands. This
module is the one place that decides it (`why_unconfirmed`, `refusal`);
runner/jobspec/readiness.py asks it for `run`, `validate` and `plan` alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from runner.apifacts import api
from runner.apifacts.files import load_spec_yaml
from runner.errors import SegrunError
from runner.jobspec.model import Spec

#: environments that talk to a real MyPreferences account
NEEDS_CONFIRMATION = ("production", "staging")
INFERRED = "the inferred map (specs/endpoints.yaml)"
#: a map's own keys, beside its calls
MAP_KEYS = ("confirmed", "confirmed_by")
#: how a call's `source:` says its path is not confirmed (what `segrun endpoints` writes)
INFERRED_MARK = "INFERRED"
#: the largest endpoint map file read
MAX_MAP_BYTES = 1_000_000
HOW_TO_CONFIRM = (
    "correct each path from your account's API reference (or PossibleNOW support), "
    "replace each call's `source:` with where that path comes from, and set "
    '`confirmed: true` with `confirmed_by: "<who>, from <where>, <when>"`'
)
#: why the inferred paths must not reach a real account unconfirmed
_WHY = (
    "PossibleNOW does not publish the v4 segment-group paths, and the inferred Initiate "
    "path is the legacy *segment* export's, which could export a segment of the same name"
)


class EndpointMapError(SegrunError):
    """An endpoint map that cannot be used; nothing was sent (exit 2)."""


@dataclass(frozen=True)
class MapDocument:
    """An endpoint map as a person wrote it (a file or a spec's block), already
    checked against the format: its calls, and what it says of its confirmation."""

    #: call -> {"method": ..., "path": ...}, as given (a call may give either or both)
    calls: dict[str, dict[str, str]] = field(default_factory=dict)
    #: `confirmed:` as written: True, False, or None when the key is absent
    confirmed: bool | None = None
    confirmed_by: str | None = None
    #: call -> its `source:` as written
    sources: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def of(cls, document: Mapping) -> MapDocument:
        calls: dict[str, dict[str, str]] = {}
        sources: dict[str, str | None] = {}
        for call in api.CALLS:
            entry = document.get(call)
            if not isinstance(entry, Mapping):
                continue
            calls[call] = {k: entry[k] for k in ("method", "path") if entry.get(k) is not None}
            sources[call] = entry.get("source")
        confirmed = document.get("confirmed")
        by = document.get("confirmed_by")
        return cls(
            calls,
            confirmed if isinstance(confirmed, bool) else None,
            by if isinstance(by, str) else None,
            sources,
        )


@dataclass(frozen=True)
class Unconfirmed:
    """Why a map lacks a person's confirmation, and which of its keys to edit."""

    reason: str
    #: the key in the map to change: ("confirmed",), (call, "source"), or () for the map
    at: tuple[str, ...] = ()


#: letters that print as nothing (Hangul fillers, the blank Braille pattern)
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _said(text: str | None) -> bool:
    """Whether a `confirmed_by:` or `source:` says something a person can read: a
    character that shows (a zero-width space, a soft hyphen or a byte-order mark alone is
    a bare confirmation in disguise)."""
    return isinstance(text, str) and any(
        ch.isprintable() and not ch.isspace() and ch not in _BLANK_LETTERS for ch in text
    )


def is_inferred_source(text: str | None) -> bool:
    """A source that says its path is only inferred (`segrun endpoints` writes them)."""
    return isinstance(text, str) and text.strip().upper().startswith(INFERRED_MARK)


def why_unconfirmed(document: MapDocument) -> Unconfirmed | None:
    """None when a person has confirmed the map and said where from; else why not.

    The one rule: `confirmed: true`, no call's source still INFERRED, and a
    source for every path given (`confirmed_by:` for all of them, or each
    call's own `source:`). A bare `confirmed: true` confirms nothing: it is
    refused like the unedited output of `segrun endpoints`.
    """
    if document.confirmed is not True:
        if document.confirmed is False:
            return Unconfirmed("says `confirmed: false`", ("confirmed",))
        return Unconfirmed("does not say `confirmed: true`")
    for call in api.CALLS:
        if is_inferred_source(document.sources.get(call)):
            return Unconfirmed(
                f"says `confirmed: true`, but {call}.source still says INFERRED", (call, "source")
            )
    if not _said(document.confirmed_by):
        given = [c for c in api.CALLS if c in document.calls]
        if not given or any(not _said(document.sources.get(c)) for c in given):
            return Unconfirmed(
                "says `confirmed: true` but not where from: give `confirmed_by:` (who, from "
                "where, when) or a `source:` on each call",
                ("confirmed",),
            )
    return None


@dataclass(frozen=True)
class EndpointMap:
    endpoints: dict[str, api.Endpoint]
    #: where the paths come from, in the user's words (named in errors)
    source: str
    #: every call's path was given by the user, and a person confirmed the map (why_unconfirmed)
    confirmed: bool
    #: calls whose path still comes from the inferred map
    inferred_calls: tuple[str, ...] = ()
    #: why the user's map is not confirmed ("" when it is, or when there is none)
    unconfirmed: str = ""
    #: the map as the user names it: a file, or the spec's block (None: the inferred map)
    written_in: str | None = None
    #: who confirmed it, from where (the map's `confirmed_by:`)
    confirmed_by: str | None = None


def load_file(path: str | Path) -> MapDocument:
    """An endpoint map file (the form `segrun endpoints` prints), checked with the
    same rules as `segrun validate` checks one (runner/jobspec/check.py); its first
    error is an EndpointMapError naming the file, line and key."""
    from runner.jobspec.check import check_endpoint_map_file

    name = str(path)
    diagnostics, document = check_endpoint_map_file(name)
    errors = [d for d in diagnostics if d.is_error]
    if errors or document is None:
        first = errors[0]
        where = f"{name}:{first.line}:{first.column}" if first.line > 0 else name
        subject = f"{first.path}: " if first.path else ""
        raise EndpointMapError(f"endpoint map {where}: {subject}{first.message}")
    return MapDocument.of(document)


def resolve(
    spec_file: Path,
    block: Mapping | None,
    file: str | None,
    option: Path | None = None,
) -> EndpointMap:
    """The map a spec's run uses: `--endpoints FILE` over the spec's own
    (`endpoints: FILE` relative to the spec, or an `endpoints:` block) over the
    inferred defaults. A call's method may be left to the map (the methods are
    documented, the paths not); it is confirmed when the user gave its path in a
    map a person confirmed (why_unconfirmed)."""
    document: MapDocument | None
    if option is not None:
        document, written_in = load_file(option), str(option)
        source = f"{option} (--endpoints)"
    elif file is not None:
        located = spec_file.parent / file
        document, written_in = load_file(located), str(located)
        source = f"{located} (endpoints: in {spec_file})"
    elif block:
        document, written_in = MapDocument.of(block), f"the endpoints: block of {spec_file}"
        source = f"endpoints: in {spec_file}"
    else:
        document, written_in, source = None, None, INFERRED
    overrides = document.calls if document is not None else {}
    inferred = tuple(c for c in api.CALLS if not (overrides.get(c) or {}).get("path"))
    if inferred and overrides:
        source += f"; {', '.join(inferred)} from {INFERRED}"
    why = why_unconfirmed(document) if document is not None else None
    return EndpointMap(
        api.endpoints(overrides),
        source,
        not inferred and why is None,
        inferred,
        why.reason if why else "",
        written_in,
        document.confirmed_by if document is not None and why is None else None,
    )


def for_spec(spec: Spec, option: Path | None = None) -> EndpointMap:
    return resolve(spec.path, spec.endpoints, spec.endpoints_file, option)


def real_account(environment: str, base_url: str | None = None) -> str | None:
    """How a run reaches a real MyPreferences account, in words for a message, or
    None: `environment: production` or `staging`, or a `base_url` on the domain of
    their URLs (specs/api.yaml), whatever the environment says."""
    if environment in NEEDS_CONFIRMATION:
        return f"environment {environment}"
    try:
        host = (urlsplit(base_url).hostname or "").rstrip(".") if base_url else ""
    except ValueError:
        return None
    for name in NEEDS_CONFIRMATION:
        real = urlsplit(api.environment_url(name)).hostname or ""
        domain = ".".join(real.split(".")[-2:])
        if host and (host == domain or host.endswith("." + domain)):
            return f"base_url {host} (a MyPreferences host, as {name}'s)"
    return None


def refusal(
    environment: str, endpoint_map: EndpointMap, base_url: str | None = None
) -> tuple[str, str] | None:
    """Why a run in `environment` (at `base_url`) refuses this map, and what to do;
    None when it does not. The one decision `run` raises on and `validate` and
    `plan` warn with."""
    reaches = real_account(environment, base_url)
    if reaches is None or endpoint_map.confirmed:
        return None
    reasons = []
    if endpoint_map.inferred_calls:
        missing = ", ".join(endpoint_map.inferred_calls)
        reasons.append(f"the paths of {missing} are only inferred")
    if endpoint_map.unconfirmed:
        reasons.append(f"{endpoint_map.written_in} {endpoint_map.unconfirmed}")
    problem = (
        f"{reaches} needs an endpoint map you have confirmed, and {' and '.join(reasons)}: {_WHY}"
    )
    if endpoint_map.written_in is None:
        advice = (
            f"Run `segrun endpoints > endpoints.yaml`; in it, {HOW_TO_CONFIRM}; then give it "
            "as `endpoints: endpoints.yaml` in the spec or `--endpoints endpoints.yaml`"
        )
    else:
        give = "give every call its path, " if endpoint_map.inferred_calls else ""
        advice = f"In {endpoint_map.written_in}: {give}{HOW_TO_CONFIRM}"
    return problem, advice


def is_endpoint_map(root: Mapping) -> bool:
    """An endpoint map file rather than a job spec: kept beside the specs (where
    `endpoints: endpoints.yaml` finds it), it is handed to `validate` with them."""
    if "jobs" in root or "version" in root or "segment_groups" in root:
        return False
    return any(key in api.CALLS or key in MAP_KEYS for key in root)


def inferred_text() -> str:
    """What `segrun endpoints` prints: the inferred map, marked unconfirmed in its
    own keys (`confirmed: false`, an INFERRED `source:` per call, both read from
    specs/endpoints.yaml), for a person to correct and confirm. A run refuses it
    for production and staging as it stands."""
    table = api.endpoints()
    sources = load_spec_yaml("endpoints.yaml")
    lines = [
        "# segrun endpoint map. Every PATH below is INFERRED: PossibleNOW publishes only the",
        "# v4 methods, and the Initiate path is the legacy SEGMENT export's. Paths are relative",
        "# to the environment's base URL (production: https://pm.mypreferences.com/Profiles/v4/);",
        "# placeholders: {clientId}, {segmentGroupName}, {accessToken}.",
        "#",
        "# As it stands, `segrun run` refuses this map for production and staging. To confirm it:",
        "#   1. correct each path from your account's API reference (or PossibleNOW support);",
        "#   2. replace each `source:` with where that path comes from;",
        "#   3. set `confirmed: true` and say who confirmed it, from where and when, in",
        "#      `confirmed_by:` (or leave it null when every call has its own source).",
        "# Then name this file as `endpoints: FILE` in a spec (relative to the spec), or give",
        "# it as `segrun run --endpoints FILE`. `segrun validate FILE` checks it.",
        "confirmed: false",
        'confirmed_by: null  # e.g. "Jane Doe, from PossibleNOW support ticket #1234, 2026-12-01"',
    ]
    for call in api.CALLS:
        endpoint, known = table[call], sources[call]
        lines += [
            f"{call}:",
            f"  method: {endpoint.method}  # {_one_line(known.get('method_source'))}",
            f"  path: {json.dumps(endpoint.path)}",
            f"  source: {json.dumps(_one_line(known.get('path_source')))}",
        ]
    return "\n".join(lines) + "\n"


def _one_line(text: object) -> str:
    return " ".join(str(text or "no source recorded").split())
