"""CHANGELOG.md's newest version is the package's version, so the tag `vX.Y.Z` that
a pre-commit `rev:` or a `pip install git+...@vX.Y.Z` names matches `segrun --version`."""

from __future__ import annotations

import re
from pathlib import Path

import runner

CHANGELOG = Path(__file__).resolve().parents[2] / "CHANGELOG.md"


def test_the_newest_changelog_heading_is_the_package_version():
    headings = re.findall(r"^## v?(\d+\.\d+\.\d+)\b", CHANGELOG.read_text(encoding="utf-8"), re.M)
    assert headings, "CHANGELOG.md has no '## X.Y.Z' heading"
    assert headings[0] == runner.__version__, (
        f"CHANGELOG.md's newest heading is {headings[0]}, but runner/__init__.py says "
        f"__version__ = {runner.__version__!r}: bump them together"
    )
