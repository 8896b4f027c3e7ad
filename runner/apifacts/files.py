"""Where the declarative files of `specs/` are, installed or in a checkout.

A wheel carries them as `runner/specs/`; an editable install or a bare checkout
has them beside the package. Everything that reads `specs/` goes through here.
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # runner/


@functools.cache
def specs_dir() -> Path:
    for candidate in (_PACKAGE_DIR / "specs", _PACKAGE_DIR.parent / "specs"):
        if (candidate / "api.yaml").is_file():
            return candidate
    raise FileNotFoundError("segrun's specs/ directory is missing from this installation")


def spec_path(name: str) -> Path:
    return specs_dir() / name


@functools.cache
def load_spec_yaml(name: str) -> dict:
    """Read one of segrun's own (trusted) declarative files, once per process."""
    with open(spec_path(name), encoding="utf-8") as f:
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
