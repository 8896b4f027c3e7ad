"""What `segrun run` refuses in a valid spec before it sends anything, decided once.

`validate` and `plan` used to pass specs that `run` then refused. Every such
refusal that depends on the spec and the files beside it is decided here:
`run` raises the first (exit 2, nothing sent), and `check.py` turns each into a
warning at the spec's line for `validate` and `plan` to show. They are:

- an endpoint map file that cannot be used (`endpoints: FILE`, `--endpoints`);
- for production and staging (or a `base_url` on their domain), a map a person
  has not confirmed (runner/jobspec/endpoint_map.py says what confirmed means);
- an OAuth client certificate or key file that is not there.

An invalid spec and an unset variable are check.py's own diagnostics; what the
command line or the machine refuses (`--only`, `--out`, a locked state file) is
the command's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runner.errors import SegrunError
from runner.jobspec import endpoint_map
from runner.jobspec.model import Spec

#: diagnostic rules of the refusals
MAP_FILE, UNCONFIRMED, CLIENT_CERT = "endpoint-map", "unconfirmed-endpoints", "client-cert"
REFUSAL_RULES = (MAP_FILE, UNCONFIRMED, CLIENT_CERT)


@dataclass(frozen=True)
class Refusal:
    """One thing `run` refuses: what, where in the spec, and what to do."""

    message: str
    #: the spec key the diagnostic points at
    at: tuple[str, ...]
    rule: str
    help: str = ""

    def as_error(self) -> SegrunError:
        """The one line `run` exits 2 with."""
        if self.rule == UNCONFIRMED:
            return endpoint_map.EndpointMapError(f"{self.message}. {self.help}; nothing was sent")
        if self.rule == MAP_FILE:
            return endpoint_map.EndpointMapError(self.message)
        return SegrunError(self.message)


@dataclass(frozen=True)
class Readiness:
    #: the map a run of the spec uses; None when its file cannot be used
    endpoints: endpoint_map.EndpointMap | None
    refusals: tuple[Refusal, ...] = ()

    def require(self) -> endpoint_map.EndpointMap:
        """For `run`: the map, or the first refusal raised (exit 2)."""
        if self.refusals:
            raise self.refusals[0].as_error()
        assert self.endpoints is not None  # no map is a refusal
        return self.endpoints


def check(spec: Spec, endpoints_option: Path | None = None) -> Readiness:
    """Everything `run` would refuse in this valid spec, with the endpoint map it uses
    (`endpoints_option`: the map given as `--endpoints`, over the spec's own)."""
    refusals: list[Refusal] = []
    endpoints: endpoint_map.EndpointMap | None
    try:
        endpoints = endpoint_map.for_spec(spec, endpoints_option)
    except endpoint_map.EndpointMapError as e:
        endpoints = None
        at = ("endpoints",) if endpoints_option is None else ("environment",)
        refusals.append(Refusal(str(e), at, MAP_FILE))
    if endpoints is not None:
        refused = endpoint_map.refusal(spec.environment, endpoints, spec.base_url)
        if refused is not None:
            # at the line that makes the account a real one
            named = spec.environment in endpoint_map.NEEDS_CONFIRMATION
            key = "environment" if named else "base_url"
            refusals.append(Refusal(refused[0], (key,), UNCONFIRMED, refused[1]))
    refusals.extend(missing_client_cert(spec))
    return Readiness(endpoints, tuple(refusals))


def client_cert_files(spec: Spec) -> list[tuple[str, Path]]:
    """The OAuth client certificate and key files, as (spec key, path beside the spec)."""
    a = spec.auth
    if a is None or a.scheme != "oauth2" or not a.client_cert_file:
        return []
    base = spec.path.resolve().parent
    named = (("client_cert_file", a.client_cert_file), ("client_key_file", a.client_key_file))
    return [(key, base / written) for key, written in named if written]


def missing_client_cert(spec: Spec) -> list[Refusal]:
    """The client certificate files the spec names that are not there."""
    return [
        Refusal(f"auth: client certificate file {path} does not exist", ("auth", key), CLIENT_CERT)
        for key, path in client_cert_files(spec)
        if not path.is_file()
    ]
