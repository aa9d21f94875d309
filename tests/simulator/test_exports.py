"""Exports escape every text cell: whatever the column's dtype, in CSV and XLSX, from the functions
the app calls and from `creditbook simulate --out`. Read back, no cell is a formula and no text cell
starts with a character a spreadsheet evaluates."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from engine.cli import app
from simulator import Scenario, compare, in_default, simulate, us_default
from simulator.export import DANGEROUS, safe_frame, to_csv, to_xlsx
from simulator.montecarlo import Results, load_pricebooks
from tests.support.paths import IN_V1

PREFIXES = ("=", "+", "-", "@")  # what a scenario's names may start with (tab, CR: refused as names)
EVERY_PREFIX = ("=", "+", "-", "@", "\t", "\r")


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_cells(data: bytes) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(data.decode("utf-8"), newline="")) for cell in row]


def _assert_csv_safe(data: bytes, injected: list[str]) -> None:
    cells = _csv_cells(data)
    live = [c for c in cells if c.startswith(DANGEROUS) and not _number(c)]
    assert not live, live[:5]
    for text in injected:  # every injected name is there, escaped
        assert "'" + text in cells, text


def _assert_xlsx_safe(data: bytes, injected: list[str]) -> set[str]:
    workbook = load_workbook(io.BytesIO(data))
    texts = set()
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} = {cell.value!r}"
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(DANGEROUS), f"{sheet.title}!{cell.coordinate}"
                    texts.add(cell.value)
    for text in injected:
        assert "'" + text in texts, text
    return texts


def _us_named() -> tuple[Scenario, list[str]]:
    data = us_default(clinics=400).dump()
    names = [f"{prefix}SUM(1+1)*cmd|' /C calc'!A{i}" for i, prefix in enumerate(PREFIXES)]
    data["sizes"] = dict(zip(names, data["sizes"].values(), strict=True))
    data["name"] = '=HYPERLINK("http://evil","x")'
    return Scenario.validated(data), [*names, data["name"]]


def _india_named() -> tuple[Scenario, list[str]]:
    data = in_default(clinics=400, months=3).dump()
    specialties = [f"{prefix}dental{i}" for i, prefix in enumerate(PREFIXES)]
    cities = [f"{prefix}Mumbai{i}" for i, prefix in enumerate(PREFIXES)]
    data["india"]["specialties"] = dict(zip(specialties, list(data["india"]["specialties"].values())[:4], strict=True))
    data["india"]["cities"] = dict(zip(cities, [0.25] * 4, strict=True))
    data["topups"]["promo_code"] = "@PROMO"
    data["name"] = "+cmd"
    return Scenario.validated(data), [*specialties, *cities, "@PROMO", "+cmd"]


@pytest.mark.parametrize("named", [_us_named, _india_named], ids=["US sizes", "India specialties and cities"])
def test_every_text_column_is_escaped_in_csv_and_xlsx(named) -> None:  # type: ignore[no-untyped-def]
    scenario, injected = named()
    results = simulate(scenario)
    groups = [text for text in injected if text in results.population.groups]
    _assert_csv_safe(to_csv(results), groups)
    texts = _assert_xlsx_safe(to_xlsx(results), injected)
    assert any((text.startswith("'") and "calc" in text) or "Mumbai" in text for text in texts)


def test_a_comparison_workbook_is_escaped_too() -> None:
    scenario, injected = _india_named()
    comparison = compare(scenario, load_pricebooks([IN_V1]), load_pricebooks(scenario.pricebook_paths()))
    _assert_xlsx_safe(to_xlsx(comparison.a, comparison), injected)


def _frame(prefix: str) -> pd.DataFrame:
    """A frame with text in every dtype pandas has for it, and in its labels."""
    frame = pd.DataFrame(
        {
            "object": pd.Series([f"{prefix}a", "plain"], dtype=object),
            "string": pd.Series([f"{prefix}b", "plain"], dtype="string"),
            "str": pd.Series([f"{prefix}c", "plain"], dtype="str"),
            "category": pd.Categorical([f"{prefix}d", "plain"]),
            f"{prefix}label": [1.5, -2.0],
            "mixed": pd.Series([f"{prefix}e", 3], dtype=object),
            "embedded": [f"x\r{prefix}y\n{prefix}z", "plain"],  # a line break must not start a new row
        }
    )
    frame.index = pd.Index([f"{prefix}row", "other"])
    return frame


@pytest.mark.parametrize("prefix", EVERY_PREFIX, ids=repr)
def test_text_of_every_dtype_and_every_label_is_escaped(prefix: str) -> None:
    escaped = safe_frame(_frame(prefix))
    cells = [*escaped.columns, *escaped.index, *escaped.to_numpy().ravel().tolist()]
    assert not [c for c in cells if isinstance(c, str) and c.startswith(DANGEROUS)]
    assert escaped.loc["'" + prefix + "row", "str"] == "'" + prefix + "c"
    assert escaped["'" + prefix + "label"].tolist() == [1.5, -2.0]  # numbers stay numbers
    assert escaped["mixed"].tolist() == ["'" + prefix + "e", 3]


@pytest.mark.parametrize("prefix", EVERY_PREFIX, ids=repr)
def test_the_workbook_writer_escapes_whatever_frame_it_is_given(prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every table of the workbook comes from a frame; whatever text its columns hold (here: every
    dtype, tab and carriage return included), the cells written are text, never formulas."""
    results = simulate(us_default(clinics=50))
    for table in ("clinics", "by_group_and_plan", "cheapest_by_group", "by_month"):
        monkeypatch.setattr(Results, table, lambda self, prefix=prefix: _frame(prefix))
    data = to_xlsx(results)
    texts = _assert_xlsx_safe(data, [])
    read = prefix.replace("\r", "\n")  # XML reads a carriage return in text back as a line feed
    assert {"'" + read + "a", "'" + read + "c", "'" + read + "d", "'" + read + "label"} <= texts
    csv_cells = _csv_cells(to_csv(results))
    assert "'" + prefix + "c" in csv_cells and not [c for c in csv_cells if c.startswith(DANGEROUS) and not _number(c)]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_the_command_line_export_is_escaped(tmp_path: Path, suffix: str) -> None:
    scenario, injected = _us_named()
    path = scenario.save(tmp_path / "named.yaml")
    out = tmp_path / f"results{suffix}"
    result = CliRunner().invoke(app, ["simulate", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    groups = [text for text in injected if text in scenario.sizes]
    if suffix == ".csv":
        _assert_csv_safe(out.read_bytes(), groups)
    else:
        _assert_xlsx_safe(out.read_bytes(), injected)


def test_the_assumptions_sheet_says_where_an_assumed_figure_comes_from() -> None:
    results = simulate(in_default(clinics=200, months=2))
    workbook = load_workbook(io.BytesIO(to_xlsx(results)))
    rows = {row[0]: row[1:] for row in workbook["Assumptions"].iter_rows(min_row=2, values_only=True)}
    value, source = rows["costs.lead"]
    assert value == "200" and source.startswith("assumption, not from the notes")
    assert any(str(key) == "note" and "no effect" in str(values[0]) for key, values in rows.items())
