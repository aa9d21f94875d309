"""From a campaign to billable units: SMS segments per rendered message, voice minutes per call."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

from engine.money import decimal_text
from engine.pricing.indexes import PricingTables
from engine.pricing.requests import QuoteError, SmsCampaign, VoiceCampaign
from engine.pricing.sms import SegmentCount, count_segments
from engine.pricing.voice import billed_minutes

LONG_BODY, MANY_SEGMENTS = 320, 10
_FIELD = re.compile(r"\{(\w+)\}")


def _check_body(field: str, body: str, limit: int) -> None:
    if not body:
        raise QuoteError(field, "an empty SMS cannot be sent")
    if len(body) > limit:
        raise QuoteError(field, f"{len(body):,} characters; the longest SMS body is {limit:,}")


def render(template: str, fields: Mapping[str, str], index: int) -> str:
    """A template's {field}s filled from one recipient's fields ({{ and }} are literal braces)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in fields:
            raise QuoteError(f"recipient_fields[{index}].{name}", "is used by the template but missing")
        return str(fields[name])

    escaped = template.replace("{{", "\0").replace("}}", "\1")
    return _FIELD.sub(value, escaped).replace("\0", "{").replace("\1", "}")


def sms_units(request: SmsCampaign, tables: PricingTables, warnings: list[str]) -> tuple[int, str]:
    """Segments of a campaign and a one-line description of how they were counted."""
    limit = tables.pricebook.meta.sms_max_body_chars
    smart = request.smart_encoding
    if request.body is not None:
        _check_body("body", request.body, limit)
        counted = count_segments(request.body, smart, tables.limits)
        recipients = request.recipients or 0
        if recipients == 0:
            warnings.append("0 recipients: nothing would be sent")
        body_warnings(request.body, counted, smart, tables, warnings)
        detail = (
            f"{recipients:,} recipient{'s' * (recipients != 1)} × {counted.segments} segment"
            f"{'s' * (counted.segments != 1)} ({counted.encoding}, {counted.characters} characters)"
        )
        return recipients * counted.segments, detail
    if request.bodies is not None:
        bodies, field = request.bodies, "bodies"
    else:
        assert request.template is not None and request.recipient_fields is not None
        bodies = tuple(render(request.template, fields, i) for i, fields in enumerate(request.recipient_fields))
        field = "template"
    if not bodies:
        warnings.append("0 recipients: nothing would be sent")
    total, longest, unicode_bodies = 0, 0, 0
    worst: tuple[str, SegmentCount] | None = None
    for i, body in enumerate(bodies):
        _check_body(f"bodies[{i}]" if field == "bodies" else f"template (recipient {i})", body, limit)
        counted = count_segments(body, smart, tables.limits)
        total += counted.segments
        unicode_bodies += counted.encoding == "UCS-2"
        if worst is None or counted.segments > longest:
            worst, longest = (body, counted), counted.segments
    if worst is not None:
        body_warnings(*worst, smart, tables, warnings)
    detail = f"{len(bodies):,} messages, {total:,} segments (longest {longest})"
    if unicode_bodies:
        detail += f", {unicode_bodies:,} in Unicode"
    return total, detail


def body_warnings(body: str, counted: SegmentCount, smart: bool, tables: PricingTables, warnings: list[str]) -> None:
    if len(body) > LONG_BODY:
        warnings.append(f"long message: {len(body):,} characters; carriers advise at most {LONG_BODY}")
    if counted.segments > MANY_SEGMENTS:
        warnings.append(f"{counted.segments} segments per message (more than {MANY_SEGMENTS})")
    if counted.encoding == "UCS-2" and not smart:
        shown = ", ".join(f"{ch!r} at {pos + 1}" for pos, ch in counted.unicode_characters[:3])
        smart_count = count_segments(body, True, tables.limits)
        better = (
            f"; with smart encoding it would be {smart_count.segments} segment"
            f"{'s' * (smart_count.segments != 1)} instead of {counted.segments}"
            if smart_count.segments < counted.segments
            else ""
        )
        warnings.append(f"sent as Unicode (UCS-2, 70/67 characters per segment) because of {shown}{better}")


def voice_units(request: VoiceCampaign, tables: PricingTables, warnings: list[str]) -> tuple[int, str]:
    """Billed minutes of a campaign: recipients × one call's minutes, or each call record's."""
    spec = tables.products["voice"]
    increment = spec.billing_increment_s or 60
    minimum = spec.min_billable_s
    if request.calls is None:
        recipients = request.recipients or 0
        # no expected duration: each call is estimated at the shortest billed call
        expected = request.expected_seconds if request.expected_seconds is not None else Decimal(minimum or increment)
        per_call = billed_minutes(expected, "completed", increment, minimum)
        if recipients == 0:
            warnings.append("0 recipients: nothing would be called")
        detail = (
            f"{recipients:,} call{'s' * (recipients != 1)} × {per_call} minute{'s' * (per_call != 1)} "
            f"({decimal_text(expected)} s each, rounded up per call)"
        )
        return recipients * per_call, detail
    minutes = billed_calls = 0
    for call in request.calls:
        billed = billed_minutes(call.duration_s, call.outcome, increment, minimum)
        minutes += billed
        billed_calls += billed > 0
    if not request.calls:
        warnings.append("0 calls: nothing to charge")
    free = len(request.calls) - billed_calls
    detail = f"{len(request.calls):,} calls, {minutes:,} minutes" + (f" ({free:,} not answered: free)" if free else "")
    return minutes, detail
