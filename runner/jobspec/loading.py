"""Loading a spec for `plan` and `run`: strictly, and failing before any send."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from runner import exitcodes
from runner.errors import SegrunError
from runner.jobspec.check import ENDPOINT_MAP, CheckResult, check_file
from runner.jobspec.diagnostics import SHOWN_PER_RULE, render_text
from runner.jobspec.diagnostics_human import render_human, wants_color
from runner.jobspec.loader import MAX_BYTES
from runner.jobspec.model import Job, Spec
from runner.jobspec.readiness import REFUSAL_RULES
from runner.redaction.sink import current
from runner.system.durable import read_back


class SpecInvalid(SegrunError):
    exit_code = exitcodes.INVALID


#: `auth` keys that name the variable holding a secret (specs/jobspec.yaml)
_SECRET_NAMES = re.compile(
    r"""(?m)\b(?:secret_env|client_id_env|client_secret_env)\s*:\s*["']?([A-Za-z_][A-Za-z0-9_]*)"""
)


def register_named_secrets(path: str, environ: Mapping[str, str]) -> None:
    """Tell the redaction gate the secrets a spec names, read from its text, so
    even a spec too broken to load cannot print one in a diagnostic (a value
    quoting `${MYPREF_SECRET}`, say). Best effort: an unreadable file names none."""
    try:
        text = read_back(Path(path), follow=True, cap=MAX_BYTES)
    except (OSError, ValueError):
        return
    if "_env" not in text:  # every name ends so; skips the slow scan of a long file
        return
    values = [environ.get(name) for name in _SECRET_NAMES.findall(text)]
    current().redactor.add(*(v for v in values if v))


def check_spec(path: str, environ: Mapping[str, str], **options) -> CheckResult:
    """`check_file`, with every secret the spec names or holds known to the
    redaction gate before any diagnostic is printed: the values of the
    variables it names (read from its text, so even a spec too broken to load
    has them), and any secret pasted into it. Every command checks a spec so."""
    register_named_secrets(path, environ)
    result = check_file(path, environ=environ, **options)
    secrets = list(result.pasted)
    if result.spec is not None and result.spec.auth is not None:
        secrets += result.spec.auth.secret_values(environ)
    current().redactor.add(*secrets)
    return result


def load_for_run(path: str, environ: Mapping[str, str] | None = None) -> Spec:
    """The valid spec, or its diagnostics on stderr and SpecInvalid (exit 2).
    Unset ${VARS} are errors here: a run must not send half-substituted values."""
    spec = load_checked(path, environ).spec
    assert spec is not None  # load_checked raises otherwise
    return spec


def load_checked(
    path: str, environ: Mapping[str, str] | None = None, endpoints_option: Path | None = None
) -> CheckResult:
    """load_for_run's check, whole: the spec with what `run` would refuse in it
    (`result.readiness`, runner/jobspec/readiness.py), for `run` to raise on and
    `plan` to warn about; `endpoints_option` is `--endpoints FILE`."""
    environ = os.environ if environ is None else environ
    result = check_spec(path, environ, unset_is_error=True, endpoints_option=endpoints_option)
    if not result.ok:
        errors_only = [d for d in result.diagnostics if d.is_error]
        if sys.stderr.isatty():  # the picture for a person, one line each for a log
            sys.stderr.write(render_human(errors_only, color=wants_color(sys.stderr)))
        else:
            sys.stderr.write(render_text(errors_only, per_rule=SHOWN_PER_RULE))
        errors = sum(d.is_error for d in result.diagnostics)
        raise SpecInvalid(
            f"{path} is invalid ({errors} error{'s' * (errors != 1)}); nothing was sent"
        )
    if result.kind == ENDPOINT_MAP:
        raise SpecInvalid(
            f"{path} is an endpoint map (`endpoints: FILE` in a spec, or --endpoints FILE), "
            "not a job spec"
        )
    if result.spec is None:
        raise SpecInvalid(f"{path} is a sandbox data file (segrun sandbox --data), not a job spec")
    return result


def show_refusals(result: CheckResult) -> None:
    """What `run` would refuse in a spec, as warnings on stderr: the picture for a
    person, one line each for a log (`plan` prints them; `run` raises the first)."""
    refused = [d for d in result.diagnostics if d.rule in REFUSAL_RULES]
    if not refused:
        return
    if sys.stderr.isatty():
        sys.stderr.write(render_human(refused, color=wants_color(sys.stderr)))
    else:
        sys.stderr.write(render_text(refused))


def select_jobs(spec: Spec, only: tuple[str, ...], given_as: str = "--only") -> list[Job]:
    """The jobs named, in spec order; `given_as` is how the user gave the names
    (`--only`, or the JOB argument of `state`), so the message speaks their words."""
    if not only:
        return list(spec.jobs)
    names = {job.name for job in spec.jobs}
    unknown = [name for name in only if name not in names]
    if unknown:
        raise SegrunError(
            f"{given_as} {unknown[0]!r}: no such job in {spec.path} "
            f"(jobs: {', '.join(sorted(names))})"
        )
    return [job for job in spec.jobs if job.name in only]
