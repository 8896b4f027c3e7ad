"""Where a spec's requests go, and with which credentials.

Credentials are read from the environment variables the spec names, here and
only here; their values go to the signer and to the redactor, nowhere else.
"""

from __future__ import annotations

import base64
import contextlib
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from runner.apifacts import api
from runner.apifacts.timestamps import utc_now
from runner.errors import SegrunError
from runner.http.signing import OAuth2ClientCredentials, PnAuthInfo3, Unsigned
from runner.jobspec.model import Spec
from runner.jobspec.readiness import client_cert_files, missing_client_cert
from runner.jobspec.rules import is_loopback_host
from runner.redaction.redact import SHORT_SECRET, Redactor

# The embedded sandbox picks a free port when it starts; a dry run starts nothing.
SANDBOX_PLACEHOLDER_URL = "http://127.0.0.1/Profiles/v4/"


@dataclass
class Target:
    base_url: str
    auth: requests.auth.AuthBase
    #: the embedded sandbox, when the run started one (tests read its ground truth)
    sandbox: object | None = None


def secret_values(spec: Spec, environ: Mapping[str, str]) -> list[str]:
    """The values of the variables the spec's auth names: what must never be printed."""
    return spec.auth.secret_values(environ) if spec.auth is not None else []


def missing_credentials(spec: Spec, environ: Mapping[str, str]) -> list[str]:
    """Why the run could not sign its requests; checked before anything is sent."""
    if spec.auth is None:
        return []
    a = spec.auth
    names = [a.client_id_env, a.client_secret_env] if a.scheme == "oauth2" else [a.secret_env]
    # (an un-keyed scheme or a client certificate names no secret: None is skipped)
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
    endpoints: Mapping[str, api.Endpoint] | None = None,
    clock=utc_now,
) -> Iterator[Target]:
    """Where the run's requests go. The embedded sandbox serves the run's own
    endpoint map (`endpoints`), so a spec that overrides paths still runs."""
    problems = missing_credentials(spec, environ)
    if problems:
        raise SegrunError(problems[0])
    embedded = embeds_sandbox(spec)
    if embedded and dry_run:
        yield Target(SANDBOX_PLACEHOLDER_URL, _auth(spec, environ, redactor, dry_run=True))
        return
    if not embedded:
        base_url = checked_url(spec.base_url or api.environment_url(spec.environment))
        yield Target(base_url, _auth(spec, environ, redactor, dry_run=dry_run, clock=clock))
        return
    from runner.sandbox.sandbox import running_sandbox  # only runs that use it pay for it

    options = {**({"endpoints": endpoints} if endpoints else {}), **dict(sandbox_options or {})}
    with running_sandbox(**options) as sandbox:
        auth = _auth(spec, environ, redactor, dry_run=False, clock=clock)
        yield Target(sandbox.base_url, auth, sandbox)


def _auth(
    spec: Spec, environ: Mapping[str, str], redactor: Redactor, *, dry_run: bool, clock=utc_now
):
    a = spec.auth
    if a is None:  # environment: sandbox without auth: the demo account
        from runner.sandbox.demo import DEMO

        redactor.add(DEMO.secret)
        return PnAuthInfo3(
            DEMO.scheme, spec.client_id, DEMO.user_id, DEMO.secret, clock, redactor=redactor
        )
    if a.scheme == "oauth2":
        if dry_run:
            return Unsigned()
        if not a.token_url or not a.client_id_env:  # the spec's rules require both
            raise SegrunError("auth: oauth2 needs token_url and client_id_env")
        client_id = environ[a.client_id_env]
        secret_env = a.client_secret_env
        secret = environ[secret_env] if secret_env else None
        redactor.add(client_id, *([secret] if secret else []))
        if secret:  # the Basic header the token request carries, as a server may echo it
            basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
            redactor.add(basic)
        if secret_env and secret:
            _warn_if_short(secret_env, secret)
        scope = api.facts()["auth"]["oauth2"]["scope"].format(
            clientId=spec.client_id, userId=a.user_id
        )
        return OAuth2ClientCredentials(
            a.token_url, client_id, secret, scope, redactor, cert=_client_cert(spec)
        )
    secret_env = a.secret_env
    secret = environ.get(secret_env) if secret_env else None  # un-keyed: none
    if secret_env and secret:
        redactor.add(secret)
        _warn_if_short(secret_env, secret)
    return PnAuthInfo3(a.scheme, spec.client_id, a.user_id, secret, clock, redactor=redactor)


def _client_cert(spec: Spec) -> str | tuple[str, str] | None:
    """OAuth may use a client certificate instead of a secret (the OAuth page):
    requests' `cert=`, from paths relative to the spec; the files are read by
    the TLS layer only, never by segrun."""
    files = client_cert_files(spec)
    if not files:
        return None
    # `run` refused a missing file before it began (runner/jobspec/readiness.py); one
    # that vanished since is refused with the same words
    for refused in missing_client_cert(spec):
        raise refused.as_error()
    paths = [path for _, path in files]
    return (str(paths[0]), str(paths[1])) if len(paths) == 2 else str(paths[0])


def _warn_if_short(name: str, secret: str) -> None:
    """A short secret is still redacted everywhere, but it also matches
    ordinary text, which then turns to <redacted> too: say why."""
    if len(secret.strip()) < SHORT_SECRET:
        print(
            f"segrun: warning: the secret in {name} is shorter than {SHORT_SECRET} characters; "
            "it is redacted wherever it appears, which may garble transcripts and messages",
            file=sys.stderr,
        )


def checked_url(url: str) -> str:
    """The base URL, or a one-line SegrunError (exit 2, nothing sent) when no
    request could be sent to it: `validate` checks the same, this is for a
    spec that reached the run some other way."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - ValueError for a port out of range
    except ValueError as e:
        raise SegrunError(f"base_url {url!r} is not a usable URL ({e})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SegrunError(f"base_url {url!r} is not an http(s) URL")
    return url


def is_loopback_url(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname)
