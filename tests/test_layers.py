"""The layer rules of docs/architecture.md, enforced on every import in the tree (function-level and
TYPE_CHECKING imports included): a rule that is only written down is broken by the next hurried
change.

- engine/pricebook and engine/pricing are pure: no rules, storage, billing, simulator, web
  framework or database library.
- rules imports the compiled pricebook model (and the leaf modules: money, errors, vocabulary,
  bounds), never storage, billing, pricing or the simulator.
- storage never imports pricing, the pricebook, rules, billing, the simulator or a web layer.
- engine/billing holds no SQL: it imports neither SQLAlchemy nor storage.schema.
- the engine's core never imports the simulator (the CLI, on top, may).
- the simulator's core never imports storage; the app, the CLI and the web layer never import
  storage or SQLAlchemy (they call engine.billing or simulator).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.paths import ROOT

LEAVES = ("engine.money", "engine.errors", "engine.vocabulary", "engine.bounds")
WEB = ("streamlit", "django", "rest_framework", "drf_spectacular", "creditbook_django")


@dataclass(frozen=True)
class Rule:
    name: str
    applies_to: tuple[str, ...]  # module prefixes the rule governs
    forbidden: tuple[str, ...]  # module prefixes they may not import
    except_modules: tuple[str, ...] = ()  # governed modules the rule does not cover
    allowed: tuple[str, ...] = ()  # forbidden prefixes that are allowed after all (a narrower prefix)


RULES = (
    Rule(
        "pricebook and pricing are pure",
        ("engine.pricebook", "engine.pricing"),
        ("rules", "storage", "simulator", "engine.billing", "sqlalchemy", "alembic", *WEB),
    ),
    Rule(
        "rules import the compiled pricebook model only",
        ("rules",),
        ("storage", "simulator", "engine.billing", "engine.pricing", "engine.pricebook", "sqlalchemy", *WEB),
        allowed=("engine.pricebook.model",),
    ),
    Rule(
        "storage never imports pricing, the pricebook, rules, billing, the simulator or a web layer",
        ("storage",),
        ("engine.pricing", "engine.pricebook", "rules", "engine.billing", "simulator", "engine.loader", *WEB),
    ),
    Rule(
        "engine/billing (and the notification worker) hold no SQL",
        ("engine.billing", "engine.notify"),
        ("sqlalchemy", "storage.schema", "storage.statements", "simulator", *WEB),
    ),
    Rule(
        "the engine's core never imports the simulator",
        ("engine",),
        ("simulator", *WEB),
        except_modules=("engine.cli", "engine.ledger_cli"),
    ),
    Rule("the simulator's core never imports storage", ("simulator",), ("storage", "sqlalchemy"), ("simulator.app",)),
    Rule(
        "the app and the CLI call engine.billing or the simulator, never storage",
        ("simulator.app", "engine.cli", "engine.ledger_cli", "creditbook_django"),
        ("storage", "sqlalchemy"),
    ),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str) -> Iterator[tuple[int, str]]:
    """Every module `source` imports, anywhere in it: (line, absolute module name)."""
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            yield node.lineno, base
            for alias in node.names:  # `from storage import schema` imports storage.schema
                yield node.lineno, f"{base}.{alias.name}"


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(source: str, module: str) -> list[str]:
    found = []
    for rule in RULES:
        if not _under(module, rule.applies_to) or _under(module, rule.except_modules):
            continue
        for line, imported in imports(source, module):
            if _under(imported, rule.forbidden) and not _under(imported, rule.allowed):
                found.append(f"{module}:{line} imports {imported} ({rule.name})")
    return found


def python_files() -> list[Path]:
    packages = ("engine", "rules", "storage", "simulator", "creditbook_django")
    return sorted(p for package in packages if (ROOT / package).exists() for p in (ROOT / package).rglob("*.py"))


def test_every_module_keeps_the_layer_rules() -> None:
    files = python_files()
    assert len(files) > 80
    found = [v for path in files for v in violations(path.read_text(encoding="utf-8"), module_name(path))]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("engine.billing.charges", "from sqlalchemy import select"),
        ("engine.billing.charges", "from storage.schema import accounts"),
        ("engine.billing.charges", "from storage import schema"),
        ("engine.pricing.quote", "from storage import transfers"),
        ("engine.pricebook.model", "import rules"),
        ("rules.engine", "from engine.pricing.quote import quote"),
        ("rules.engine", "from storage.accounts import Wallet"),
        ("storage.transfers", "from engine.pricing.quote import quote"),
        ("storage.lots", "from rules import PolicyEngine"),
        ("engine.money", "import simulator"),
        ("simulator.bills", "from storage import clinics"),
        ("simulator.app.services", "from storage.database import Database"),
    ],
)
def test_a_forbidden_import_is_caught(module: str, line: str) -> None:
    """The negative control: each rule fails when its forbidden import is added, even inside a
    function or a TYPE_CHECKING block."""
    for source in (line, f"def later():\n    {line}\n", f"if TYPE_CHECKING:\n    {line}\n"):
        assert violations(source, module), f"{line!r} in {module} went unnoticed"


def test_allowed_imports_are_not_flagged() -> None:
    assert not violations("from engine.pricebook.model import CompiledPricebook", "rules.engine")
    assert not violations("from storage.database import Connection", "engine.billing.charges")
    assert not violations("from engine.bounds import BALANCE_MAX", "storage.accounts")
    assert not violations("import simulator", "engine.cli")
