"""Pricebook workbooks as the pricing team would edit them, for tests that need another version."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tests.pricebook.book import Book
from tests.support.paths import US_V1


def us_version_2(
    folder: Path,
    voice_1: int = 165,
    effective_from: datetime = datetime(2026, 4, 1),
    existing_customers_from: datetime | None = None,
    preferred_limit: int | None = None,
) -> Path:
    """US v2 as the pricing team would make it: VOICE-1 repriced, its examples updated, a later date."""
    book = Book(US_V1)
    book.set_meta("version", 2)
    book.set_meta("supersedes_version", 1)
    book.set_meta("effective_from", effective_from)
    book.set_meta("existing_customers_effective_from", existing_customers_from)
    book.set_meta("change_summary", f"VOICE-1 from 160 to {voice_1} credits a minute.")
    book.set("UsageTiers", "VOICE-1", "unit_price_credits", voice_1)
    book.set("UsageTiers", "VOICE-1", "stated_tier_credits", 500 * voice_1)
    book.set("Tests", "T-VOICE-01", "expected_credits", 200 * voice_1)
    book.set("Tests", "T-VOICE-02", "expected_credits", 200 * voice_1)
    if preferred_limit is not None:
        book.set("Overdraft", "OD-PREFERRED", "max_negative_credits", preferred_limit)
    return book.save(folder / "us-audiology-v2.xlsx")
