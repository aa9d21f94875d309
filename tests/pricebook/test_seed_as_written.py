"""The US tiers and packages typed exactly as the design note writes them ('42.5K credits',
'2.7K credits', '1.250M credits'...) yield exactly the two arithmetic slips of the note."""

from engine import validate_pricebook
from tests.support.paths import FIXTURES


def test_the_notes_two_slips_and_nothing_else() -> None:
    report = validate_pricebook(FIXTURES / "us-seed-tiers-as-written.xlsx")
    stated = [f for f in report.findings if f.code == "T11"]
    assert [(f.location, f.rule_id, f.value) for f in stated] == [
        ("UsageTiers!I5", "SMS-4", "2.7K credits"),
        ("UsageTiers!I12", "VOICE-5", "1.250M credits"),
    ]
    assert "237,000" in stated[0].message and "237,000" in stated[0].hint
    assert "1,520,000" in stated[1].message and "1,520,000" in stated[1].hint
    assert [f.code for f in report.errors] == ["T11", "T11"]
    assert report.exit_code == 1
