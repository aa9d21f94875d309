"""How the app is served: on 127.0.0.1 unless told otherwise, uploads capped, no error details for
visitors, the first page without the ledger's imports, and the simulator's hooks (progress, inputs
with no effect) used when present."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from simulator.app.services import MAX_UPLOAD_MB
from tests.support.paths import ROOT


def _make_app(**env: str) -> str:
    return subprocess.run(
        ["make", "-n", "app"], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=True
    ).stdout


def test_the_app_listens_on_this_machine_unless_told_otherwise() -> None:
    assert "--server.address 127.0.0.1" in _make_app()
    assert "--server.address 0.0.0.0" in _make_app(HOST="0.0.0.0")
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"


def test_the_server_caps_uploads_and_hides_error_details() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == MAX_UPLOAD_MB
    assert config["client"]["showErrorDetails"] == "none"


def test_no_pages_folder_beside_the_main_script() -> None:
    """Streamlit lists a pages/ folder as an app of its own on any route opened before `/`."""
    assert not (ROOT / "simulator" / "app" / "pages").exists()


FIRST_PAGE = """
import sys
from streamlit.testing.v1 import AppTest
app = AppTest.from_file(sys.argv[1], default_timeout=120)
app.run()
assert not app.exception, app.exception
print(" ".join(m for m in ("engine.billing", "sqlalchemy", "alembic", "storage") if m in sys.modules))
"""


def test_the_first_page_does_not_load_the_ledger() -> None:
    out = subprocess.run(
        [sys.executable, "-c", FIRST_PAGE, str(ROOT / "simulator" / "app" / "main.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1:] in ([], [""]), out.stdout


def test_a_simulation_reports_its_progress() -> None:
    from simulator import us_default
    from simulator.app.services import SIMULATIONS, simulated

    SIMULATIONS.clear()
    steps: list[tuple[str, float]] = []
    simulated(us_default(clinics=1_000, seed=11), lambda step, done: steps.append((step, done)))
    assert steps and steps[-1][1] <= 1.0 and all(isinstance(s, str) for s, _ in steps)
    SIMULATIONS.clear()


def test_a_note_says_when_an_input_has_no_effect(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter asks the simulator once it can answer (here: an answer put in its place)."""
    import simulator

    def inputs_without_effect(scenario: Any, pricebooks: Any) -> list[str]:
        return [f"The share of call leads has no effect under {pricebooks[-1].label}: chats and calls cost the same."]

    monkeypatch.setattr(simulator, "inputs_without_effect", inputs_without_effect, raising=False)
    monkeypatch.setattr(simulator, "__all__", [*simulator.__all__, "inputs_without_effect"])
    app.run()
    app.sidebar.radio(key="market").set_value("IN").run()
    assert any("has no effect" in i.value for i in app.info)
