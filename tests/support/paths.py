"""Where the repository, its shipped pricebooks and the tests' workbook fixtures are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRICEBOOKS = ROOT / "pricebooks"
US_V1 = PRICEBOOKS / "us" / "us-audiology-v1.xlsx"
IN_V1 = PRICEBOOKS / "in" / "in-clinic-leads-v1.xlsx"
IN_V2 = PRICEBOOKS / "in" / "in-clinic-leads-v2.xlsx"
FIXTURES = ROOT / "tests" / "fixtures"
