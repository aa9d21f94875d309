"""docs/architecture.md's module map names every module of the packages, and only modules that exist.

A map that drifts from the tree misleads the next reader more than no map: a new module without its
line, or a line for a module that was moved, fails here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPED = ("engine", "storage", "rules", "simulator", "creditbook_django", "reference", "bench")


def _modules() -> set[str]:
    found = set()
    for package in MAPPED:
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" in relative or "/tests/" in relative:
                continue
            text = path.read_text(encoding="utf-8")
            if path.name == "__init__.py" and not text.strip():
                continue  # an empty package marker holds nothing to describe
            found.add(relative)
    return found


def _mapped() -> set[str]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Module map", 1)[1]
    return set(re.findall(r"^- `([^`]+\.py)`: \S", section, flags=re.MULTILINE))


def test_every_module_has_its_line_in_the_map() -> None:
    missing = sorted(_modules() - _mapped())
    assert not missing, f"add a line to docs/architecture.md's module map for: {missing}"


def test_the_map_names_no_module_that_is_gone() -> None:
    gone = sorted(_mapped() - _modules())
    assert not gone, f"docs/architecture.md's module map names modules that do not exist: {gone}"
