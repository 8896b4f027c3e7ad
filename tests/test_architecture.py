"""Imports point one way, down the layers: a module never imports from a layer above
its own, not even lazily inside a function. A backward arrow is how a protocol ends up
spread over several rooms (the spec checker reaching into the export writers)."""

from __future__ import annotations

import ast
from pathlib import Path

RUNNER = Path(__file__).resolve().parents[1] / "runner"

#: bottom to top; a module may import from its own layer and every layer below it
LAYERS: list[tuple[str, ...]] = [
    ("runner", "runner.errors", "runner.exitcodes"),
    ("runner.apifacts", "runner.system", "runner.specs"),
    ("runner.redaction",),
    ("runner.jobspec",),
    ("runner.records",),
    ("runner.sandbox",),
    ("runner.http",),
    ("runner.run",),
    ("runner.ui",),
    ("runner.commands",),
    ("runner.cli", "runner.__main__"),
]


def layer_of(module: str) -> int:
    best, depth = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and prefix.count(".") > depth:
                best, depth = index, prefix.count(".")
    assert best >= 0, f"{module} is in no layer: add its package to LAYERS"
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(RUNNER.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every runner module a file imports, at any depth (functions included)."""
    me = module_name(path).split(".")
    package = me if path.name == "__init__.py" else me[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:  # `from runner import x` may name a module
                candidate = f"{source}.{alias.name}"
                is_module = (
                    (RUNNER.parent / candidate.replace(".", "/")).with_suffix(".py").exists()
                )
                is_package = (RUNNER.parent / candidate.replace(".", "/")).is_dir()
                found.append((node.lineno, candidate if is_module or is_package else source))
    return [(line, name) for line, name in found if name == "runner" or name.startswith("runner.")]


def backward_imports() -> list[str]:
    problems = []
    for path in sorted(RUNNER.rglob("*.py")):
        mine = layer_of(module_name(path))
        for line, target in imports_of(path):
            if layer_of(target) > mine:
                rel = path.relative_to(RUNNER.parent)
                problems.append(f"{rel}:{line}: imports {target} from a layer above its own")
    return problems


def test_no_module_imports_from_a_layer_above_its_own():
    assert backward_imports() == []


def test_runner_holds_few_modules_directly():
    direct = sorted(p.name for p in RUNNER.glob("*.py"))
    assert len(direct) <= 8, direct


def test_every_package_is_in_a_layer():
    for path in RUNNER.rglob("*.py"):
        layer_of(module_name(path))


if __name__ == "__main__":
    print("\n".join(backward_imports()) or "no backward imports")
