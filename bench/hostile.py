"""Hostile-workbook benchmark: how long validation takes, and how much memory, on files made to
hurt it, beside the clean shipped workbook validated in the same run.

Each attack that scales is measured at two sizes eight times apart: linear work takes about eight
times as long at the larger size, the backtracking patterns this replaced took 64 times (or did
not finish). The files are written once by XML surgery (tests/pricebook/hostile.py) into
.bench-cache/hostile/.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

from bench.common import CACHE, ROOT, measure, table
from tests.pricebook.hostile import Surgery

US_V1 = ROOT / "pricebooks" / "us" / "us-audiology-v1.xlsx"


Attack = Callable[[Surgery], object]


def _comment_tags(count: int) -> Attack:
    """Unclosed row tags inside a comment (random attributes, so the zip guard does not stop it
    first), and a hidden row, so that the scan for hidden rows runs over all of them."""
    noise = b"<!--" + b"".join(b'<row x="%s" ' % secrets.token_hex(8).encode() for _ in range(count)) + b"-->"
    return lambda s: s.sheet(
        "UsageTiers",
        lambda d: d.replace(b"<sheetData>", noise + b"<sheetData>").replace(b'<row r="3"', b'<row r="3" hidden="1"'),
    )


def _digits(count: int) -> Attack:
    return lambda s: s.set_text("UsageTiers", "SMS-2", "unit_price_credits", "9" * count + "x")


def _far_cell(s: Surgery) -> object:
    return s.sheet(
        "UsageTiers",
        lambda d: d.replace(b"</sheetData>", b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>'),
    )


def _claim(s: Surgery) -> object:
    return s.table("UsageTiers", lambda d: d.replace(b'ref="A1:J13"', b'ref="A1:XFD1048576"', 1))


def _no_address(count: int) -> Attack:
    cells = b"<c><v>1</v></c>" * count
    return lambda s: s.sheet(
        "UsageTiers", lambda d: d.replace(b"</sheetData>", b"<row>" + cells + b"</row></sheetData>")
    )


CASES: list[tuple[str, str, Attack | None]] = [
    ("clean (baseline)", "", None),
    ("unclosed tags in a comment", "40,000 tags", _comment_tags(40_000)),
    ("unclosed tags in a comment", "320,000 tags", _comment_tags(320_000)),
    ("number typed as text", "20,000 digits", _digits(20_000)),
    ("number typed as text", "160,000 digits", _digits(160_000)),
    ("cells without an address", "1,000 cells", _no_address(1_000)),
    ("cells without an address", "8,000 cells", _no_address(8_000)),
    ("one cell at XFD1048576", "", _far_cell),
    ("table claiming the whole grid", "A1:XFD1048576", _claim),
]


def _file(index: int, make: Attack | None) -> Path:
    folder = CACHE / "hostile"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"case-{index:02d}.xlsx"
    surgery = Surgery(US_V1)
    if make is not None:
        make(surgery)
    return surgery.save(path)


def run() -> None:
    print("== hostile: validation of workbooks made to hurt it, beside the clean shipped workbook ==")
    results = [(name, size, measure("validate_any", _file(i, make))) for i, (name, size, make) in enumerate(CASES)]
    baseline = results[0][2]["seconds"]
    print(
        table(
            ["workbook", "size", "validate", "peak RSS", "× clean", "exit", "first finding"],
            [
                [
                    name,
                    size,
                    f"{r['seconds']:.3f} s",
                    f"{r['peak_mb']:.0f} MB",
                    f"{r['seconds'] / baseline:.1f}",
                    r["info"]["exit_code"],
                    r["info"]["first"],
                ]
                for name, size, r in results
            ],
        )
    )
    print("(medians of 3 fresh processes; the pairs of sizes are 8x apart: linear work takes about 8x as long)")
