"""`creditbook simulate` answers every bad argument with one line on stderr and a non-zero exit:
never a traceback, never a hang (the cases that could block run in a subprocess with a timeout)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from simulator import in_default, us_default

ROOT = Path(__file__).resolve().parents[2]
CREDITBOOK = (
    [sys.executable, "-m", "engine.cli"]
    if not (ROOT / ".venv" / "bin" / "creditbook").exists()
    else [str(ROOT / ".venv" / "bin" / "creditbook")]
)


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    return us_default(clinics=300, months=3).save(tmp_path / "us.yaml")


def _one_line(exit_code: int, stderr: str, stdout: str = "") -> str:
    assert exit_code != 0, stdout
    assert "Traceback" not in stderr + stdout
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("creditbook simulate: ")
    return lines[0]


def _invoke(*args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(app, ["simulate", *args], env=env)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return _one_line(result.exit_code, result.stderr, result.stdout)


def test_an_unknown_example_market(tmp_path: Path) -> None:
    assert "--example takes us or in" in _invoke("--example", "xx")


def test_no_scenario_file() -> None:
    assert "give a scenario file" in _invoke()


def test_an_output_path_that_is_a_folder(scenario: Path, tmp_path: Path) -> None:
    folder = tmp_path / "out.csv"
    folder.mkdir()
    assert "is a folder" in _invoke(str(scenario), "--out", str(folder))


def test_an_output_path_in_a_missing_folder_or_of_another_kind(scenario: Path, tmp_path: Path) -> None:
    assert "does not exist" in _invoke(str(scenario), "--out", str(tmp_path / "missing" / "r.xlsx"))
    assert "must end in .xlsx or .csv" in _invoke(str(scenario), "--out", str(tmp_path / "r.pdf"))


def test_an_output_path_that_cannot_be_written(scenario: Path, tmp_path: Path) -> None:
    """Root may write anywhere permissions allow, so a read-only place the kernel owns stands in
    for a file without write permission."""
    line = _invoke(str(scenario), "--out", "/proc/results.csv")
    assert "/proc/results.csv" in line
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.geteuid() != 0:
        assert "cannot be written" in _invoke(str(scenario), "--out", str(locked / "r.csv"))


def test_a_missing_compare_file(scenario: Path, tmp_path: Path) -> None:
    line = _invoke(str(scenario), "--compare", str(tmp_path / "missing.xlsx"))
    assert "missing.xlsx" in line and "No such file" in line


def test_a_compare_file_that_is_not_a_workbook(scenario: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake.xlsx"
    fake.write_text("not a workbook")
    assert "fake.xlsx" in _invoke(str(scenario), "--compare", str(fake))


def test_scenario_files_that_are_missing_folders_or_hostile(tmp_path: Path) -> None:
    assert "No such file" in _invoke(str(tmp_path / "missing.yaml"))
    assert "not a regular file" in _invoke(str(tmp_path))
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"a{i}: &a{i} [{', '.join(['*a' if i == 0 else f'*a{i - 1}'] * 10)}]\n" for i in range(9))
    )
    assert "expands to more than" in _invoke(str(bomb))
    nan = in_default().dump()
    nan["monthly_variation"] = float("nan")
    bad = tmp_path / "nan.json"
    bad.write_text(__import__("json").dumps(nan))
    assert "monthly_variation: Input should be a finite number" in _invoke(str(bad))


def test_bad_overrides(scenario: Path) -> None:
    assert "clinics" in _invoke(str(scenario), "--clinics", "0")
    assert "seed" in _invoke(str(scenario), "--seed", "-1")


def test_a_scenario_over_the_memory_budget(scenario: Path) -> None:
    line = _invoke(str(scenario), "--clinics", "1000000", env={"CREDITBOOK_SIM_MEMORY_MB": "50"})
    assert "reduce clinics or months" in line


def _fifo(tmp_path: Path) -> Path:
    fifo = tmp_path / "fifo.xlsx"
    os.mkfifo(fifo)
    return fifo


BLOCKING: dict[str, Callable[[Path, Path], list[str]]] = {
    "a FIFO as the scenario": lambda s, t: [str(_fifo(t))],
    "/dev/zero as the scenario": lambda s, t: ["/dev/zero"],
    "a FIFO as pricebook B": lambda s, t: [str(s), "--compare", str(_fifo(t))],
    "/dev/zero as pricebook B": lambda s, t: [str(s), "--compare", "/dev/zero"],
    "/dev/urandom as pricebook B": lambda s, t: [str(s), "--compare", "/dev/urandom"],
}


@pytest.mark.parametrize("case", BLOCKING)
def test_what_could_block_is_refused_at_once(case: str, scenario: Path, tmp_path: Path) -> None:
    args = BLOCKING[case](scenario, tmp_path)
    out = subprocess.run(
        [*CREDITBOOK, "simulate", *args], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )
    line = _one_line(out.returncode, out.stderr, out.stdout)
    assert "not a regular file" in line and out.returncode == 2


def test_a_scenario_whose_pricebook_is_a_device(tmp_path: Path) -> None:
    path = us_default(clinics=10, pricebooks=["/dev/zero"]).save(tmp_path / "dev.yaml")
    assert "the pricebook /dev/zero is not a regular file" in _invoke(str(path))


def test_a_good_run_prints_credits_and_money(scenario: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", str(scenario), "--out", str(tmp_path / "r.csv")])
    assert result.exit_code == 0, result.output
    assert "credits ($" in result.stdout and "gross margin" in result.stdout
    assert (tmp_path / "r.csv").read_text().startswith("clinic,size,plan,sms_segments")
    assert not list(tmp_path.glob(".*.partial"))
