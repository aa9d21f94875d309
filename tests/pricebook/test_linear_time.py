"""Reading cell text and raw XML takes time linear in its length, whatever it holds.

Each adversarial input is timed at two sizes, eight times apart, and the larger may take at most
24 times as long: a linear scan takes about 8 times, a backtracking (quadratic) one 64 times. The
best of three runs is taken and a failing pair is measured again, so a busy machine does not fail
the test; the last test shows that the same check does catch a backtracking pattern.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from engine.pricebook import cells, sheet_xml
from engine.pricebook.cells import CellReader, Loc
from engine.pricebook.findings import Collector
from engine.pricebook.meta_lists import fixed_domains
from engine.pricebook.schema import SHEET_BY_NAME

FACTOR, ALLOWED = 8, 24


def best_of_three(run: Callable[[Any], object], argument: Any) -> float:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        run(argument)
        times.append(time.perf_counter() - started)
    return min(times)


def assert_linear(make: Callable[[int], Any], run: Callable[[Any], object], size: int) -> None:
    small, large = make(size), make(size * FACTOR)
    ratios = []
    for _ in range(3):
        ratio = best_of_three(run, large) / max(best_of_three(run, small), 1e-5)
        if ratio < ALLOWED:
            return
        ratios.append(ratio)
    pytest.fail(f"{FACTOR}x the input took {min(ratios):.0f}x the time: not linear")


PRICE = SHEET_BY_NAME["UsageTiers"].column("unit_price_credits")
STATED = SHEET_BY_NAME["UsageTiers"].column("stated_tier_credits")


def _read(column: Any) -> Callable[[str], object]:
    reader = CellReader(Collector(), fixed_domains())
    return lambda text: reader.read(column, text, Loc("UsageTiers", 2, 7, column.name))


PATTERN_CASES: list[tuple[str, Callable[[int], Any], Callable[[Any], object], int]] = [
    ("digits then a letter, as a number with a unit", lambda n: "1" * n + " x", cells._WITH_UNIT.fullmatch, 20_000),
    ("digits then a letter, as money", lambda n: "$" + "1" * n + "x", cells._MONEY_TEXT.fullmatch, 20_000),
    ("spaces inside a stated total", lambda n: "1" + " " * n + "x", cells._STATED.fullmatch, 20_000),
    ("digits and commas, as a plain number", lambda n: "1," * n + "x", cells._PLAIN_NUMBER.fullmatch, 20_000),
    ("digits and dots, as a European number", lambda n: "1.000" * n + "x", cells._EUROPEAN_NUMBER.fullmatch, 20_000),
    ("digits then a letter, as a percentage", lambda n: "1" * n + " x", cells._PCT_TEXT.fullmatch, 20_000),
    ("a price cell of digits and a letter", lambda n: "9" * n + "x", _read(PRICE), 20_000),
    ("a stated cell of digits, spaces and a letter", lambda n: "9" * n + " " * n + "x", _read(STATED), 20_000),
    ("a cell address of many letters", lambda n: "A" * n + "1x", sheet_xml.parse_ref, 20_000),
]

XML_CASES: list[tuple[str, Callable[[int], bytes], Callable[[bytes], object], int]] = [
    ("unclosed cell tags inside a comment", lambda n: b"<!--" + b'<c r="A1" ' * n + b"-->", sheet_xml.extent, 5_000),
    (
        "unclosed cell tags and a formula",
        lambda n: b"<f>1</f>" + b'<c r="A1" ' * n,
        sheet_xml.marks,
        5_000,
    ),
    ("unclosed hidden rows", lambda n: b'<row hidden="1" ' * n, sheet_xml.marks, 5_000),
    ("cells without an address", lambda n: b"<row><c><v>1</v></c>" * n, sheet_xml.extent, 5_000),
    ("many comments", lambda n: b"<!--x-->" * n + b"<c/>", sheet_xml.without_noise, 5_000),
    ("a tag of one long name", lambda n: b"<f>" + b"<" + b"a" * n, sheet_xml.marks, 20_000),
    ("an attribute text of many r's", lambda n: b" r" * n, lambda attrs: sheet_xml.attribute(attrs, b"r"), 20_000),
]


@pytest.mark.parametrize(("name", "make", "run", "size"), PATTERN_CASES, ids=[c[0] for c in PATTERN_CASES])
def test_cell_text_is_read_in_linear_time(
    name: str, make: Callable[[int], str], run: Callable[[str], object], size: int
) -> None:
    assert_linear(make, run, size)


@pytest.mark.parametrize(("name", "make", "run", "size"), XML_CASES, ids=[c[0] for c in XML_CASES])
def test_sheet_xml_is_scanned_in_linear_time(
    name: str, make: Callable[[int], bytes], run: Callable[[bytes], object], size: int
) -> None:
    assert_linear(make, run, size)


def test_numbers_read_from_text_are_exact() -> None:
    """What the rewritten patterns accept is what they accepted before (possessive, not looser)."""
    read = _read(PRICE)
    assert read("1,234.5") == Decimal("1234.5")
    assert read(" 83 ") == Decimal(83)
    stated = _read(STATED)
    assert stated("2.7K credits") == Decimal(2700)
    assert stated("1.25M") == Decimal(1_250_000)
    for text in ("83 credits", "$0.0083", "83,50", "12%", "eighty"):
        assert read(text) is cells.INVALID


def test_the_check_catches_a_backtracking_pattern() -> None:
    """The pattern the validator used before: nested quantifiers that backtrack quadratically."""
    backtracking = re.compile(r"^([+-]?[\d,]*\.?\d+)\s*(credits?)$")
    with pytest.raises(pytest.fail.Exception, match="not linear"):
        assert_linear(lambda n: "1" * n + " x", backtracking.match, 300)
