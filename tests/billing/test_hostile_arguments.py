"""Every public Billing operation, driven with generated hostile values in each argument, on SQLite
and PostgreSQL: non-finite and enormous numbers, calendar-edge and naive dates, NUL, control and
bidirectional characters, lone surrogates, over-long and look-alike text, reserved and colliding
ids, and hostile structure (lists, dicts, bytes where text belongs). Whatever comes in, the only
thing that may come out is a result or a creditbook error (never a driver error, a ValueError or a
decimal.InvalidOperation), nothing is half-written, and reconcile() stays clean.

`CREDITBOOK_HOSTILE_EXAMPLES` sets how many cases hypothesis draws (a few hundred per database in
`make test`); the counts by class are printed for the closing note.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.billing import Billing
from engine.errors import CreditbookError
from engine.pricing.requests import LeadRequest, Usage
from tests.support.ledger_rows import snapshot

EXAMPLES = int(os.environ.get("CREDITBOOK_HOSTILE_EXAMPLES", "120"))

HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "line\nbreak",
        "\x1b[31mred",
        "\ud800",
        "a\u202eb",
        "\u200f",
        "М",  # Cyrillic EM: looks like a Latin M
        "SMS-1\u0301",
        "*",
        "admin",
        ":admin",
        ":all",
        "a:b",
        "a/b",
        "../../etc/passwd",
        "x" * 65,
        "x" * 201,
        "y" * 2_001,
        "z" * 100_000,
        "' or 1=1 --",
        "Robert'); DROP TABLE clinics;--",
        "😀" * 40,
    ]
)
HOSTILE_NUMBER = st.sampled_from(
    [
        0,
        -1,
        -(2**63),
        2**62,
        2**63 - 1,
        2**63,
        10**30,
        True,
        1.5,
        float("nan"),
        float("inf"),
        -float("inf"),
        1e308,
        Decimal("NaN"),
        Decimal("1E+400"),
        "12",
        None,
    ]
)
HOSTILE_TIME = st.sampled_from(
    [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
        datetime(9999, 12, 31, tzinfo=timezone(timedelta(hours=-12))),
        datetime(1969, 12, 31, tzinfo=UTC),
        datetime(2200, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 2, 15, 0),  # naive
        date(2026, 3, 2),
        "2026-03-02",
        0,
    ]
)
HOSTILE_STRUCTURE = st.sampled_from([[], {}, ["a"], {"a": 1}, b"bytes", object(), (1, 2)])
HOSTILE = st.one_of(HOSTILE_TEXT, HOSTILE_NUMBER, HOSTILE_TIME, HOSTILE_STRUCTURE)

# operation name → (call with keyword arguments, the valid arguments it is called with)
Call = Callable[[Billing, dict[str, Any]], Any]
OPERATIONS: dict[str, tuple[Call, dict[str, Any]]] = {
    "register_clinic": (
        lambda b, a: b.register_clinic(**a),
        {"clinic_id": "fresh", "name": "Fresh", "market": "IN", "key": "k", "clinic_size": "solo"},
    ),
    "purchase": (
        lambda b, a: b.purchase(**a),
        {"clinic_id": "in", "package_or_amount": 1_000, "payment_method": "upi_ok", "key": "k", "promo_code": "X"},
    ),
    "charge": (
        lambda b, a: b.charge(**a),
        {
            "clinic_id": "in",
            "request": LeadRequest(product="lead_call", package_price=Decimal(8_000)),
            "key": "k",
            "patient_ref": "+91 1",
        },
    ),
    "charge_sms": (
        lambda b, a: b.charge(a["clinic_id"], {"product": "sms", "units": a["units"]}, key=a["key"]),
        {"clinic_id": "us", "units": 10, "key": "k"},
    ),
    "refund": (
        lambda b, a: b.refund(**a),
        {"clinic_id": "in", "charge_id": 1, "actor": "ops", "reason": "r", "key": "k", "credits": 1},
    ),
    "adjust": (
        lambda b, a: b.adjust(**a),
        {"clinic_id": "in", "credits": 5, "actor": "ops", "reason": "r", "key": "k"},
    ),
    "open_dispute": (
        lambda b, a: b.open_dispute(**a),
        {"clinic_id": "in", "charge_id": 1, "reason": "invalid", "key": "k"},
    ),
    "approve_dispute": (
        lambda b, a: b.approve_dispute(**a),
        {"dispute_id": 1, "actor": "ops", "note": "n", "key": "k", "clinic_id": "in"},
    ),
    "set_segment": (
        lambda b, a: b.set_segment(**a),
        {"clinic_id": "in", "segment": "preferred", "actor": "ops", "key": "k"},
    ),
    "pin": (
        lambda b, a: b.pin(**a),
        {"clinic_id": "us", "pricebook_id": "us-audiology", "version": 1, "actor": "ops", "reason": "r", "key": "k"},
    ),
    "balance": (lambda b, a: b.balance(**a), {"clinic_id": "in", "at": None}),
    "transactions": (
        lambda b, a: b.transactions(**a),
        {"clinic_id": "in", "kinds": ["charge"], "since": None, "page": 1, "page_size": 10},
    ),
    "revenue_report": (lambda b, a: b.revenue_report(**a), {"market": "IN", "since": None}),
    "confirm_payment": (lambda b, a: b.confirm_payment(**a), {"payment_id": "pay_x"}),
    "expire_lots": (lambda b, a: b.expire_lots(**a), {"now": None}),
    "disputes": (lambda b, a: b.disputes(**a), {"status": "open", "clinic_id": "in"}),
    "lots": (lambda b, a: b.lots(**a), {"clinic_id": "in"}),
    "list_packages": (lambda b, a: b.list_packages(**a), {"market_or_id": "US"}),
}
CASES = [(name, field) for name, (_, valid) in OPERATIONS.items() for field in valid]
tried: Counter[str] = Counter()


def _kind(value: object) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool | int | float | Decimal) or value is None:
        return "numbers"
    if isinstance(value, date | datetime):
        return "dates"
    return "structure"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=st.sampled_from(CASES), value=HOSTILE, salt=st.integers(0, 10**9))
def test_hostile_arguments_get_a_creditbook_error_or_a_result(
    billing: Billing, case: tuple[str, str], value: object, salt: int
) -> None:
    if not billing.clinics():
        billing.register_clinic("in", "IN clinic", "IN", key="reg")
        billing.register_clinic("us", "US clinic", "US", key="reg")
        billing.purchase("in", 5_000, payment_method="upi_ok", key="fund")
        billing.purchase("us", 1_000_000, payment_method="card_ok", key="fund")
        billing.charge(
            "in", LeadRequest(product="lead_call", package_price=Decimal(8_000)), key="c", patient_ref="+91 1"
        )
        billing.charge("us", Usage(product="sms", units=10), key="c")
    name, field = case
    call, valid = OPERATIONS[name]
    arguments = {**valid, field: value}
    if "key" in arguments and field != "key":
        arguments["key"] = f"hostile-{salt}"  # a fresh key: the hostile value is what is tested
    tried[_kind(value)] += 1
    before = snapshot(billing)
    try:
        call(billing, arguments)
    except CreditbookError as error:
        assert error.code and 400 <= error.status < 600
        assert "Traceback" not in str(error) and len(str(error)) < 2_000
        assert snapshot(billing) == before, f"{name}({field}={value!r:.40}) failed but left rows behind"
    report = billing.reconcile()
    assert report.ok, "\n".join(map(str, report.drifts))


@pytest.fixture(scope="module", autouse=True)
def _print_counts() -> Any:
    yield
    print(f"\nhostile Billing arguments tried, by class: {dict(sorted(tried.items()))} (0 escaped)")
