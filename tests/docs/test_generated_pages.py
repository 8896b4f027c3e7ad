"""The generated reference pages (spec format, command line, endpoint map) say what
specs/ and click's help say today: each is rendered again in memory and compared
with the committed page."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_generator():
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = load_generator()


@pytest.mark.parametrize("name", sorted(GENERATOR.PAGES))
def test_a_generated_page_matches_its_source(name):
    path = ROOT / "docs" / name
    fresh = GENERATOR.PAGES[name]()
    committed = path.read_text(encoding="utf-8") if path.exists() else ""
    assert committed == fresh, (
        f"docs/{name} is stale (or was edited by hand): run `python docs/generate.py` "
        "and commit the result"
    )


def test_every_generated_page_is_in_the_site_nav():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for name in GENERATOR.PAGES:
        assert f": {name}\n" in nav, f"{name} is generated but not listed in mkdocs.yml's nav"
