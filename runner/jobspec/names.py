"""Job names: the user's, or a slug of the segment group."""

from __future__ import annotations

import posixpath
import re
import unicodedata

from runner.apifacts import api

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9._-]+")


def slug(text: str) -> str:
    """A file-safe name: `VIP Customers` -> `vip-customers`.

    The result always fits the job-name pattern, so a segment group called
    `../etc` or `a/b` can never name a file outside the run directory.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = _NOT_ALLOWED.sub("-", ascii_text.lower()).strip("-._")
    cleaned = re.sub(r"-{2,}", "-", cleaned)
    return cleaned[:64].rstrip("-._") or "job"


def job_name(job: dict) -> str | None:
    name = job.get("name")
    if isinstance(name, str):
        return name
    group = job.get("segment_group")
    return slug(group) if isinstance(group, str) and group else None


PART_SUFFIX = ".part"
#: names of files in progress beside an export: no export may be called so (the spec's
#: rule and the export writers read this one tuple)
RESERVED_SUFFIXES = (PART_SUFFIX, ".csv-tmp", ".xlsx-tmp")


def output_path(job: dict) -> str:
    """Where a job's export goes under `exports/`: its `output.path` with `{job}`
    filled in, or `<job>.<format>`. Normalised (`a/../b` is `b`), so two jobs
    naming one file in two spellings are seen to collide."""
    output = job.get("output") or {}
    template = output.get("path") or "{job}." + output.get("format", "jsonl")
    return posixpath.normpath(api.fill(template, job=job_name(job)).replace("\\", "/"))
