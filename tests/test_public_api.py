"""The public surface: `import engine` is cheap, names what it exports, and every error it can raise
derives from one root with a stable code and an HTTP status."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys

import engine
import engine.billing.errors
import engine.errors
from tests.support.paths import ROOT


def test_every_exported_name_resolves_and_is_visible_to_type_checkers() -> None:
    tree = ast.parse((ROOT / "engine" / "__init__.py").read_text(encoding="utf-8"))
    typed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom)
                typed.update(alias.asname or alias.name for alias in statement.names)
    assert typed == set(engine.__all__)
    assert engine.__all__ == sorted(engine.__all__)
    for name in engine.__all__:
        assert getattr(engine, name) is not None
    assert (ROOT / "engine" / "py.typed").exists()


def test_import_engine_loads_nothing_heavy() -> None:
    code = (
        "import sys, engine; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        + repr(("sqlalchemy", "pandas", "numpy", "openpyxl", "pydantic", "durable", "engine"))
        + "))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert loaded.stdout.strip() == "['engine']"


def _error_classes() -> list[type[engine.CreditbookError]]:
    found = {
        value
        for module in (engine.errors, engine.billing.errors)
        for value in vars(module).values()
        if inspect.isclass(value) and issubclass(value, BaseException)
    }
    found |= {getattr(engine, name) for name in engine.__all__ if inspect.isclass(getattr(engine, name))}
    return sorted((cls for cls in found if issubclass(cls, BaseException)), key=lambda cls: cls.__name__)


def test_every_public_error_derives_from_the_root_with_its_own_code_and_status() -> None:
    errors = _error_classes()
    assert len(errors) >= 20
    codes: dict[str, str] = {}
    for cls in errors:
        assert issubclass(cls, engine.CreditbookError), cls
        assert 400 <= cls.status <= 599, cls
        assert cls.code.isidentifier() and cls.code == cls.code.lower(), cls
        assert codes.setdefault(cls.code, cls.__name__) == cls.__name__, f"{cls.code} is used twice"


def test_an_error_becomes_problem_details_with_its_code() -> None:
    try:
        engine.SmsCampaign(body="hi", recipients=-1)
    except engine.CreditbookError as error:
        problem = error.problem()
    assert problem["code"] == "quote_invalid" and problem["status"] == 422
    assert problem["field"] == "recipients" and "negative" in problem["detail"]
    assert problem["type"] == "urn:creditbook:error:quote_invalid"
