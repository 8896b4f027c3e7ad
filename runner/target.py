"""Where a spec's requests go, and with which credentials.

Credentials are read from the environment variables the spec names, here and
only here; their values go to the signer and to the redactor, nowhere else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import requests

from runner import api
from runner.errors import SegrunError
from runner.records.redact import Redactor
from runner.signing import OAuth2ClientCredentials, PnAuthInfo3, Unsigned
from runner.spec.model import Spec
from runner.spec.rules import is_loopback_host

# The embedded sandbox picks a free port when it starts; a dry run starts nothing.
SANDBOX_PLACEHOLDER_URL = "http://127.0.0.1/Profiles/v4/"


@dataclass
class Target:
    base_url: str
    auth: requests.auth.AuthBase
    #: the embedded sandbox, when the run started one (tests read its ground truth)
    sandbox: object | None = None


def missing_credentials(spec: Spec, environ: Mapping[str, str]) -> list[str]:
    """Why the run could not sign its requests; checked before anything is sent."""
    if spec.auth is None:
        return []
    a = spec.auth
    names = [a.client_id_env, a.client_secret_env] if a.scheme == "oauth2" else [a.secret_env]
    return [
        f"environment variable {name} (named by auth in the spec) is not set"
        for name in names
        if name and not environ.get(name)
    ]


def embeds_sandbox(spec: Spec) -> bool:
    """A run of this spec starts the embedded sandbox (and only then do the
    --sandbox-* options of `segrun run` mean anything)."""
    return spec.environment == "sandbox" and not spec.base_url


def refuse_idle_sandbox_options(spec: Spec, options: Mapping[str, object]) -> None:
    """--sandbox-profiles/-seed/-faults with a spec that starts no sandbox do
    nothing, which is an error rather than a rehearsal that silently is not one."""
    if options and not embeds_sandbox(spec):
        given = ", ".join(f"--sandbox-{name}" for name in options)
        where = f"base_url {spec.base_url}" if spec.base_url else f"environment: {spec.environment}"
        raise SegrunError(
            f"{given} only applies to the embedded sandbox (environment: sandbox without "
            f"base_url); this spec runs against {where}"
        )


@contextlib.contextmanager
def open_target(
    spec: Spec,
    environ: Mapping[str, str],
    redactor: Redactor,
    *,
    dry_run: bool = False,
    sandbox_options: Mapping[str, object] | None = None,
) -> Iterator[Target]:
    problems = missing_credentials(spec, environ)
    if problems:
        raise SegrunError(problems[0])
    embedded = embeds_sandbox(spec)
    if embedded and dry_run:
        yield Target(SANDBOX_PLACEHOLDER_URL, _auth(spec, environ, redactor, dry_run=True))
        return
    if not embedded:
        base_url = spec.base_url or api.environment_url(spec.environment)
        yield Target(base_url, _auth(spec, environ, redactor, dry_run=dry_run))
        return
    from runner.sandbox import running_sandbox  # only runs that use it pay for it

    with running_sandbox(**dict(sandbox_options or {})) as sandbox:
        yield Target(sandbox.base_url, _auth(spec, environ, redactor, dry_run=False), sandbox)


def _auth(spec: Spec, environ: Mapping[str, str], redactor: Redactor, *, dry_run: bool):
    a = spec.auth
    if a is None:  # environment: sandbox without auth: the demo account
        from runner.sandbox import DEMO

        redactor.add(DEMO.secret)
        return PnAuthInfo3(DEMO.scheme, spec.client_id, DEMO.user_id, DEMO.secret)
    if a.scheme == "oauth2":
        if dry_run:
            return Unsigned()
        client_id, secret = environ[a.client_id_env], environ[a.client_secret_env]
        redactor.add(client_id, secret)
        scope = api.facts()["auth"]["oauth2"]["scope"].format(
            clientId=spec.client_id, userId=a.user_id
        )
        session = requests.Session()
        session.trust_env = False
        return OAuth2ClientCredentials(
            a.token_url,
            client_id,
            secret,
            scope,
            lambda url, **kw: session.post(url, timeout=30, **kw),
            redactor,
        )
    secret = environ[a.secret_env]
    redactor.add(secret)
    return PnAuthInfo3(a.scheme, spec.client_id, a.user_id, secret)


def is_loopback_url(url: str) -> bool:
    from urllib.parse import urlsplit

    return is_loopback_host(urlsplit(url).hostname)
