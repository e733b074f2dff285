"""The folder tree is the architecture: each stage package imports only the packages below it,
nothing outside `cli/` imports `cli/`, and no two packages import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "monitor"

# What each package may import of `monitor` (besides itself). Keep in step with the
# packages' docstrings.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "cachedir": set(),
    "config": {"errors"},
    "net": {"errors", "config"},
    "extract": {"errors", "config", "net"},
    "topics": {"errors", "config"},
    "dedup": {"errors", "config", "cachedir"},
    "store": {"errors", "config", "extract", "dedup", "topics"},
    "feeds": {"errors", "config", "net", "store"},
    "digest": {"errors", "config", "store", "topics"},
    "run": {"errors", "config", "net", "feeds", "extract", "dedup", "topics", "store", "digest"},
    "web": {"errors", "config", "store", "topics", "digest", "__version__"},
    "cli": {
        "errors",
        "config",
        "net",
        "feeds",
        "extract",
        "dedup",
        "topics",
        "store",
        "digest",
        "run",
        "web",
        "__version__",
    },
    "__init__": set(),
    "__main__": {"cli"},
}


def _package_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "monitor":
                continue
            if len(parts) > 1:
                found.add(parts[1])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "monitor" and len(parts) > 1:
                    found.add(parts[1])
    # Lazy module names handed to importlib (the dedup package's table).
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            parts = node.value.split(":")[0].split(".")
            if parts[0] == "monitor" and len(parts) > 2 and parts[1].isidentifier():
                found.add(parts[1])
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def test_no_module_is_left_loose() -> None:
    loose = {p.name for p in PACKAGE.glob("*.py")}
    assert loose == {"__init__.py", "__main__.py", "errors.py", "cachedir.py"}


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_layers(path: Path) -> None:
    package = _package_of(path)
    allowed = ALLOWED[package] | {package}
    wrong = _imported_packages(path) - allowed
    assert not wrong, f"{path.relative_to(PACKAGE)} ({package}) imports {sorted(wrong)}"


def test_no_two_packages_import_each_other() -> None:
    edges: dict[str, set[str]] = {}
    for path in _modules():
        package = _package_of(path)
        edges.setdefault(package, set()).update(_imported_packages(path) - {package})
    cycles = sorted(
        (a, b) for a, outs in edges.items() for b in outs if a < b and a in edges.get(b, set())
    )
    assert not cycles


def test_every_package_says_what_it_may_import() -> None:
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc, f"{init.parent.name}/__init__.py has no docstring"
