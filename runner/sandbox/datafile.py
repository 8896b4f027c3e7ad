"""The sandbox's data file: its client, extra users and segment groups.

The schema is data (cerberus), so an unknown key or a wrong type is reported
with its path instead of being silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import cerberus

from runner.jobspec.diagnostics import ERROR, Diagnostic
from runner.jobspec.loader import MAX_BYTES, LoadProblem, SpecMap, load_file
from runner.sandbox.demo import DEMO
from runner.sandbox.profiles import ALTERNATE_ID_TYPES, CUSTOMER_TYPES

EVERYONE = "*"

_USER_LIST = {"type": "list", "schema": {"type": "string", "empty": False}}
SCHEMA = {
    "client_id": {"type": "string", "empty": False},
    "users": {
        "type": "list",
        "schema": {
            "type": "dict",
            "schema": {
                "user_id": {"type": "string", "required": True, "empty": False},
                "secret": {"type": "string", "required": True, "empty": False},
            },
        },
    },
    "segment_groups": {
        "type": "list",
        "required": True,
        "schema": {
            "type": "dict",
            "schema": {
                "name": {"type": "string", "required": True, "empty": False},
                "description": {"type": "string"},
                "criteria": {
                    "type": "dict",
                    "nullable": True,
                    "schema": {
                        "customer_types": {
                            "type": "list",
                            "schema": {"type": "string", "allowed": list(CUSTOMER_TYPES)},
                        },
                        "active_only": {"type": "boolean"},
                        "has_email": {"type": "boolean"},
                        "has_phone": {"type": "boolean"},
                        "alternate_id_types": {
                            "type": "list",
                            "schema": {"type": "string", "allowed": list(ALTERNATE_ID_TYPES)},
                        },
                    },
                },
                "users": _USER_LIST,
                "fail_for_users": _USER_LIST,
            },
        },
    },
}


class SandboxDataError(ValueError):
    """A data file the sandbox cannot serve; the message names the file and the key."""


@dataclass(frozen=True)
class Criteria:
    """A segment group's own criteria; empty means every profile."""

    customer_types: frozenset[str] | None = None
    active_only: bool = False
    has_email: bool = False
    has_phone: bool = False
    alternate_id_types: frozenset[str] | None = None


@dataclass(frozen=True)
class SegmentGroup:
    name: str
    criteria: Criteria = Criteria()
    users: tuple[str, ...] = (EVERYONE,)  # who may export it
    fail_for_users: tuple[str, ...] = ()  # whose exports end `Failed`
    description: str = ""

    def permits(self, user_id: str) -> bool:
        return EVERYONE in self.users or user_id in self.users

    def fails_for(self, user_id: str) -> bool:
        return EVERYONE in self.fail_for_users or user_id in self.fail_for_users


@dataclass(frozen=True)
class SandboxData:
    client_id: str
    secrets: dict[str, str]  # user id -> secret, the demo user included
    segment_groups: dict[str, SegmentGroup] = field(default_factory=dict)


def default_data_path() -> Path:
    return Path(str(resources.files("runner.sandbox") / "default.yaml"))


def load_data(path: str | Path | None = None, max_bytes: int = MAX_BYTES) -> SandboxData:
    """Read a data file through the same guards as a spec: a regular file of at
    most `max_bytes` (not a FIFO, not /dev/zero), and YAML without alias bombs,
    deep nesting or custom tags."""
    path = Path(path) if path is not None else default_data_path()
    try:
        document = load_file(str(path), max_bytes).root
    except LoadProblem as e:
        where = f"{path}:{e.line}:{e.column}" if e.line else str(path)
        what = "not valid YAML" if e.rule == "syntax" else "not a usable sandbox data file"
        detail = e.message.removeprefix("invalid YAML: ")
        raise SandboxDataError(f"{where}: {what}: {detail}") from None
    return parse_data(document, str(path))


def parse_data(document: object, source: str = "<data>") -> SandboxData:
    if not isinstance(document, dict):
        raise SandboxDataError(f"{source}: the data file must be a mapping with segment_groups")
    validator = cerberus.Validator(SCHEMA)
    if not validator.validate(document):
        raise SandboxDataError(f"{source}: {_first_error(validator.errors)}")
    secrets = {DEMO.user_id: DEMO.secret}
    for user in document.get("users") or []:
        secrets[user["user_id"]] = user["secret"]
    groups: dict[str, SegmentGroup] = {}
    for entry in document["segment_groups"]:
        if entry["name"] in groups:
            raise SandboxDataError(f"{source}: segment group {entry['name']!r} is defined twice")
        crit = entry.get("criteria") or {}
        groups[entry["name"]] = SegmentGroup(
            name=entry["name"],
            criteria=Criteria(
                customer_types=_optional_set(crit.get("customer_types")),
                active_only=crit.get("active_only", False),
                has_email=crit.get("has_email", False),
                has_phone=crit.get("has_phone", False),
                alternate_id_types=_optional_set(crit.get("alternate_id_types")),
            ),
            users=tuple(entry.get("users", [EVERYONE])),
            fail_for_users=tuple(entry.get("fail_for_users", [])),
            description=entry.get("description", ""),
        )
    return SandboxData(document.get("client_id", DEMO.client_id), secrets, groups)


def _optional_set(values: list[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


def _first_error(errors: object, path: str = "") -> str:
    """Cerberus nests errors by key and list position; one line for the first."""
    if isinstance(errors, dict):
        key, value = next(iter(sorted(errors.items(), key=lambda kv: str(kv[0]))))
        sub = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else str(key)
        return _first_error(value, sub)
    if isinstance(errors, list) and errors:
        return _first_error(errors[0], path)
    return f"{path}: {errors}"


def data_file_diagnostics(name: str, root: SpecMap) -> list[Diagnostic]:
    """`segrun validate` of a sandbox data file: its problem as a diagnostic at the file."""
    try:
        parse_data(root, name)
    except SandboxDataError as e:
        message = str(e).removeprefix(f"{name}: ")
        mark = root.mark
        return [Diagnostic(name, mark.line, mark.column, "", message, ERROR, "sandbox-data")]
    return []
