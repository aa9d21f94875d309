"""SMS segments and voice minutes: the counting rules of DOMAIN §2 on the cases carriers and
Twilio's public segment calculator are known to get right (and that naive counters get wrong)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import billed_minutes, count_segments
from engine.pricing.sms import GSM7, SegmentLimits, smart_encode


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("", "GSM-7", 0),
        ("Hello", "GSM-7", 1),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("a" * 1530, "GSM-7", 10),
        ("a" * 1531, "GSM-7", 11),
        ("]" * 80, "GSM-7", 1),  # 160 septets: extension characters count twice
        ("]" * 81, "GSM-7", 2),
        ("]" * 153, "GSM-7", 3),  # 306 septets, yet 3: an escape pair never straddles two segments
        ("a" * 152 + "€" + "a" * 10, "GSM-7", 2),
        ("€" * 80, "GSM-7", 1),
        ("€" * 81, "GSM-7", 2),
        ("line one\r\nline two", "GSM-7", 1),  # CR and LF are ordinary 1-septet characters
        ("Ça va? Ñoño, Øresund, Ålesund, ¿Qué? ¡Sì! ü ß", "GSM-7", 1),  # accented letters that are in GSM-7
        ("ça va", "UCS-2", 1),  # lower-case ç is not GSM-7: the whole message turns UCS-2
        ("á" * 70, "UCS-2", 1),
        ("á" * 71, "UCS-2", 2),
        ("中文短信" * 17, "UCS-2", 1),  # 68 characters
        ("中文短信" * 18, "UCS-2", 2),
        ("e\u0301" * 35, "UCS-2", 1),  # decomposed é: 2 code units per letter
        ("😀" * 35, "UCS-2", 1),  # 70 code units
        ("😀" * 36, "UCS-2", 2),
        ("😀" * 67, "UCS-2", 3),  # 134 units, yet 3: a surrogate pair never straddles two segments
        ("a" * 65 + "🇮🇹" + "a" * 64, "UCS-2", 3),  # a flag is one grapheme: kept whole
        ("a" * 65 + "👍🏽" + "a" * 64, "UCS-2", 3),  # an emoji with skin tone: kept whole
        ("Hi, it’s us", "UCS-2", 1),  # one curly quote switches the whole message
    ],
)
def test_segment_counts(text: str, encoding: str, segments: int) -> None:
    counted = count_segments(text)
    assert (counted.encoding, counted.segments) == (encoding, segments)


def test_reminder_with_one_curly_quote_is_three_segments_raw_and_one_with_smart_encoding() -> None:
    body = (
        "Hi Maria, it’s Riverside Hearing. Your hearing aid check is Tue, Mar 3 at 10:30 AM with Dr. Lee. "
        "Reply C to confirm."
    )
    raw, smart = count_segments(body), count_segments(body, smart_encoding=True)
    assert (raw.encoding, raw.segments) == ("UCS-2", 2)
    assert (smart.encoding, smart.segments) == ("GSM-7", 1)
    assert raw.unicode_characters == ((12, "’"),)  # 0-based position in the body
    assert smart_encode("“Quote” — test… á") == '"Quote" - test... a'


def test_limits_come_from_the_pricebook() -> None:
    narrow = SegmentLimits(160, 152, 70, 66)
    assert count_segments("a" * 305, limits=narrow).segments == 3
    assert count_segments("a" * 305).segments == 2


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([*sorted(GSM7), "😀", "é", "’", "🇮🇹", "\u0301", "中", "\u200d"]), max_size=400).map(
        "".join
    ),
    st.lists(st.sampled_from([*sorted(GSM7), "😀", "’", "\u0301"]), max_size=40).map("".join),
)
def test_appending_never_reduces_segments(text: str, more: str) -> None:
    assert count_segments(text + more).segments >= count_segments(text).segments


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=500))
def test_never_fewer_segments_than_the_surrogate_rule(text: str) -> None:
    """Keeping graphemes whole can only add segments, so we never undercharge against a carrier."""
    counted = count_segments(text)
    if not text:
        assert counted.segments == 0
        return
    if counted.encoding == "UCS-2":
        units = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        if sum(units) <= 70:
            expected = 1
        else:
            expected, used = 1, 0
            for unit in units:
                if used + unit > 67:
                    expected, used = expected + 1, 0
                used += unit
        assert counted.segments >= expected


@pytest.mark.parametrize(
    ("seconds", "outcome", "minutes"),
    [
        (0, "completed", 0),  # nothing connected (telecom.md §6)
        (0.4, "completed", 1),
        (1, "completed", 1),
        (60, "completed", 1),
        (61, "completed", 2),
        (20, "completed", 1),
        (120, "completed", 2),
        (121, "completed", 3),
        (45, "voicemail", 1),
        (300, "busy", 0),
        (300, "no-answer", 0),
        (30, "failed", 0),
        (0, "canceled", 0),
    ],
)
def test_billed_minutes_per_call(seconds: float, outcome: str, minutes: int) -> None:
    assert billed_minutes(seconds, outcome) == minutes


def test_rounding_is_per_call_never_on_the_total() -> None:
    assert sum(billed_minutes(20) for _ in range(1000)) == 1000  # not 334
    assert billed_minutes(70, increment_s=30) == 2  # 90 s billed: 2 whole minutes
    with pytest.raises(ValueError, match="outcome"):
        billed_minutes(10, "ringing")
    with pytest.raises(ValueError):
        billed_minutes(-1)
