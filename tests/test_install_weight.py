"""The core (engine, rules, storage: pricebooks, quotes and the ledger on SQLite) needs none of the
extras: in a fresh interpreter that cannot import Streamlit, pandas, pyarrow, Altair, PyYAML,
psycopg or Django, it imports, prices a quote and keeps a ledger. pyproject.toml's dependencies and
its extras (postgres, simulator, app, django) must keep it so."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from tests.support.paths import ROOT

BLOCKED = ("streamlit", "pandas", "pyarrow", "altair", "yaml", "psycopg", "django", "rest_framework")
SCRIPT = f"""
import importlib.abc, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: not part of the core)")
        return None

sys.meta_path.insert(0, Block())
import engine, engine.billing, rules, storage
from datetime import datetime, timezone
march, june = datetime(2026, 3, 2, tzinfo=timezone.utc), datetime(2025, 6, 1, tzinfo=timezone.utc)
book = engine.load_pricebook("pricebooks/us/us-audiology-v1.xlsx")
quoted = engine.quote(book, engine.Usage(product="sms", units=10), engine.QuoteContext(at=march))
billing = engine.Billing("sqlite://", clock=lambda: march)
billing.publish_pricebook("pricebooks/us/us-audiology-v1.xlsx", actor="t", key="p", at=june)
billing.register_clinic("c-1", "Riverside", "US", key="r")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {BLOCKED!r})
print(quoted.credits, billing.balance("c-1").balance, loaded)
"""


def run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_core_imports_and_works_without_the_extras() -> None:
    done = run(SCRIPT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["850", "0", "[]"]


def test_the_blocker_blocks() -> None:
    """The negative control: the same interpreter set-up refuses an extra when asked for it."""
    done = run(SCRIPT.replace("import engine, engine.billing, rules, storage", "import pandas"))
    assert done.returncode != 0 and "blocked: not part of the core" in done.stderr


def test_the_heavy_packages_are_extras_not_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"]).lower()
    for heavy in ("streamlit", "pandas", "pyarrow", "altair", "psycopg", "django"):
        assert heavy not in core, heavy
    extras = project["optional-dependencies"]
    assert {"postgres", "simulator", "app", "django"} <= set(extras)
    assert any("djangorestframework" in d for d in extras["django"])
