"""Loading a spec for `plan` and `run`: strictly, and failing before any send."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from runner import exitcodes
from runner.diagnostics import SHOWN_PER_RULE, render_text
from runner.diagnostics_human import render_human, wants_color
from runner.errors import SegrunError
from runner.spec.check import check_file
from runner.spec.model import Job, Spec


class SpecInvalid(SegrunError):
    exit_code = exitcodes.INVALID


def load_for_run(path: str, environ: Mapping[str, str] | None = None) -> Spec:
    """The valid spec, or its diagnostics on stderr and SpecInvalid (exit 2).
    Unset ${VARS} are errors here: a run must not send half-substituted values."""
    environ = os.environ if environ is None else environ
    result = check_file(path, environ=environ, unset_is_error=True)
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
    if result.spec is None:
        raise SpecInvalid(f"{path} is a sandbox data file (segrun sandbox --data), not a job spec")
    return result.spec


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
