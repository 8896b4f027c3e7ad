"""The README and docs/ link only inside the repository (a reader offline, or on a
fork, never follows a dead or outside link), and every exit code segrun has is
documented in both exit-code tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runner import exitcodes

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md"] + sorted(
    (ROOT / "docs").rglob("*.md")
)
LINK = re.compile(r"\]\(([^)\s]+)\)|<(https?://[^>]+)>")
LOOPBACK = re.compile(r"^https?://(127\.0\.0\.1|localhost)[:/]")


def _links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return [a or b for a, b in LINK.findall(text)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_page_links_only_inside_the_repository(page):
    for target in _links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            assert LOOPBACK.match(target), f"{page.name} links outside the repository: {target}"
            continue
        path = target.split("#", 1)[0]
        if not path:
            continue
        resolved = (page.parent / path).resolve()
        assert resolved.is_relative_to(ROOT), f"{page.name} links out of the repository: {target}"
        assert resolved.exists(), f"{page.name} links to a missing file: {target}"


@pytest.mark.parametrize("page", ["README.md", "docs/reference/exit-codes.md"])
def test_every_exit_code_is_in_the_table(page):
    text = (ROOT / page).read_text(encoding="utf-8")
    codes = {v for k, v in vars(exitcodes).items() if k.isupper() and isinstance(v, int)}
    for code in sorted(codes):
        assert re.search(rf"^\| {code} \|", text, re.M), f"{page}: exit code {code} is missing"
