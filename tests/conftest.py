"""Shared test wiring: an output folder per test, PostgreSQL, the ledger's database, a replayable seed.

PostgreSQL tests skip when the server is unreachable, unless CREDITBOOK_REQUIRE_POSTGRES=1 (set by
.ci/run), in which case they fail: CI must never pass because the database was missing. What tests
share that is not a fixture lives in tests/support/.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import ROOT
from tests.support.postgres import admin_url, throwaway_database

PLACEHOLDER = re.compile(r"\{[A-Za-z_][\w.]*(?:![rsa])?(?::[^{}]*)?\}")


@pytest.fixture(autouse=True)
def findings_have_no_placeholders(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every finding any test produces is scanned for an unfilled template field ('in credits
    ({credit})'); a brace pair that quotes the cell's own value is the editor's text, not ours."""
    from engine.pricebook.findings import Collector

    original = Collector.add
    leftovers: list[str] = []

    def add(self: Collector, *args: Any, **kwargs: Any) -> Any:
        finding = original(self, *args, **kwargs)
        typed = "" if finding.value is None else str(finding.value)
        for text in (finding.message, finding.hint):
            for match in PLACEHOLDER.finditer(text):
                if match.group() not in typed:
                    leftovers.append(f"{finding.code} {finding.location}: {text!r}")
        return finding

    monkeypatch.setattr(Collector, "add", add)
    yield
    assert not leftovers, "findings with an unfilled placeholder:\n" + "\n".join(leftovers)


@pytest.fixture
def output_dir(request: pytest.FixtureRequest) -> Path:
    """A folder for what a test writes and a person may want to look at afterwards."""
    folder = ROOT / "test-output" / request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """URL of a reachable PostgreSQL server, or skip (fail under CREDITBOOK_REQUIRE_POSTGRES=1)."""
    from sqlalchemy import create_engine, text

    url = admin_url()
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means the same thing here
        message = f"PostgreSQL not reachable at {url}: {exc}"
        if os.environ.get("CREDITBOOK_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def postgres_database(postgres_admin_url: str) -> Iterator[str]:
    """A throw-away database of its own for one test, dropped afterwards."""
    with throwaway_database(postgres_admin_url) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("postgres_database")


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    """A random seed, printed and kept with the test's report; CREDITBOOK_SEED=<n> replays one."""
    value = int(os.environ.get("CREDITBOOK_SEED") or random.SystemRandom().randrange(2**31))
    print(f"\n{request.node.nodeid}: seed {value} (replay with CREDITBOOK_SEED={value})")
    request.node.user_properties.append(("seed", value))
    return value


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long files first: `make test` hands whole files to its workers in collection order, so a long
    file collected last (the README's examples, the served API, the browsers) would run alone at the
    end while the other worker idles. Marked `slow`, or the README's, they are moved to the front;
    the order inside each group is kept."""
    items.sort(key=lambda item: 0 if item.get_closest_marker("slow") or item.path.name == "test_readme.py" else 1)
