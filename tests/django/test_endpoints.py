"""Every endpoint through Django's test client, on a ledger on SQLite and on PostgreSQL: what a clinic
user, a server-to-server client and staff see, with amounts as credits and decimal strings."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from tests.django.conftest import World, as_client, as_user, post

API = "/api/credits"


def body(response: Any) -> Any:
    """The JSON body, refusing floats anywhere in it (money is a decimal string, credits an int)."""

    def no_float(text: str) -> Any:
        raise AssertionError(f"a float in the response: {text}")

    return json.loads(response.content, parse_float=no_float)


def amount(credits: int, money: str, currency: str) -> dict[str, Any]:
    return {"credits": credits, "money": money, "currency": currency}


def shown(value: dict[str, Any]) -> dict[str, Any]:
    return {key: value[key] for key in ("credits", "money", "currency")}


def test_balance_of_the_callers_clinic(world: World, api: Any) -> None:
    got = as_user(api, "alice").get(f"{API}/balance/")
    data = body(got)
    assert got.status_code == 200 and got["Content-Type"] == "application/json"
    assert data["practice_id"] == "riverside"
    assert data["balance"] == {**amount(1_000_000, "100.0000", "USD"), "display": "1,000,000 credits ($100.00)"}
    assert set(data) >= {"used_this_month", "expiring_soon", "remaining", "alerts", "month_starts"}


def test_balance_with_practice_id_of_ones_own_clinic(world: World, api: Any) -> None:
    got = as_user(api, "bob").get(f"{API}/balance/?practice_id=smile")
    data = body(got)
    # 10,000 credits bought and the 20 % bonus; rupees with Indian digit grouping
    assert shown(data["balance"]) == amount(12_000, "12000", "INR")
    assert data["balance"]["display"] == "12,000 credits (₹12,000)"


def test_packages_of_the_clinics_pricebook(world: World, api: Any) -> None:
    data = body(as_user(api, "alice").get(f"{API}/packages/"))
    solo = next(p for p in data["packages"] if p["code"] == "SOLO-SMS")
    assert solo == {
        "code": "SOLO-SMS",
        "product": "sms",
        "clinic_size": "solo",
        "included_units": 1000,
        "unit_price_credits": "83.0000",
        "price": {**amount(83_000, "8.3000", "USD"), "display": "83,000 credits ($8.30)"},
        "period_days": 30,
    }
    assert shown(data["min_topup"]) == amount(100_000, "10.0000", "USD")
    assert "rule_id" not in json.dumps(data)


def test_purchase_of_a_package_credits_it(world: World, api: Any) -> None:
    got = post(as_user(api, "alice"), f"{API}/purchase/", {"package": "SOLO-SMS", "payment_method": "card_ok"})
    data = body(got)
    assert got.status_code == 201, data
    assert data["status"] == "credited" and data["package_code"] == "SOLO-SMS"
    assert shown(data["paid"]) == amount(83_000, "8.3000", "USD")
    assert data["remaining"]["sms_segments"] is not None
    assert "bonus_rule_ids" not in data


def test_purchase_of_credits_with_a_promo_code(world: World, api: Any) -> None:
    got = post(
        as_user(api, "bob"), f"{API}/purchase/", {"credits": 5000, "payment_method": "upi_ok", "promo_code": "extra2k"}
    )
    data = body(got)
    assert got.status_code == 201, data
    assert shown(data["bonus"]) == amount(2000, "2000", "INR")


def test_a_failed_payment_is_402_and_recorded(world: World, api: Any) -> None:
    got = post(as_user(api, "alice"), f"{API}/purchase/", {"credits": 100_000, "payment_method": "card_declined"})
    data = body(got)
    assert got.status_code == 402 and got["Content-Type"] == "application/problem+json"
    assert data["code"] == "payment_failed" and data["transaction_id"] > 0


def test_a_pending_payment_is_202(world: World, api: Any) -> None:
    got = post(as_user(api, "alice"), f"{API}/purchase/", {"credits": 100_000, "payment_method": "card_pending"})
    assert got.status_code == 202 and body(got)["status"] == "pending"


def test_transactions_page_by_cursor_and_show_nothing_internal(world: World, api: Any) -> None:
    client = as_user(api, "alice")
    first = body(client.get(f"{API}/transactions/?limit=1"))
    assert first["count"] >= 1 and len(first["results"]) == 1 and first["next_cursor"]
    assert first["next"].startswith("http://testserver/api/credits/transactions/?limit=1&cursor=")
    second = body(client.get(first["next"]))
    assert second["count"] is None and second["results"][0]["id"] < first["results"][0]["id"]
    row = first["results"][0]
    assert set(row) == {
        "id", "at", "kind", "status", "amount", "product", "units", "declined_because", "related_id", "dispute",
        "disputable", "refunded",
    }  # fmt: skip
    for internal in ("rule_ids", "actor", "pricebook", "semantic_hash", "SMS-1", "LP-0"):
        assert internal not in json.dumps(first)


def test_transactions_filtered_by_kind(world: World, api: Any) -> None:
    data = body(as_user(api, "alice").get(f"{API}/transactions/?kind=topup"))
    assert data["results"] and {row["kind"] for row in data["results"]} == {"topup"}


def test_a_cursor_stays_stable_while_new_rows_arrive(world: World, api: Any) -> None:
    client = as_user(api, "bob")
    for n in range(3):
        world.billing.charge("smile", {"product": "lead_chat", "package_price": "2500"}, key=f"stable-{world.kind}-{n}")
    first = body(client.get(f"{API}/transactions/?limit=2"))
    world.billing.charge("smile", {"product": "lead_chat", "package_price": "2500"}, key=f"stable-{world.kind}-late")
    second = body(client.get(f"{API}/transactions/?limit=2&cursor={first['next_cursor']}"))
    assert second["results"][0]["id"] < first["results"][-1]["id"]


def test_quote_prices_without_charging(world: World, api: Any) -> None:
    client = as_user(api, "bob")
    before = body(client.get(f"{API}/balance/"))["balance"]["credits"]
    request = {"request": {"product": "lead_call", "package_price": "15000"}}
    got = post(client, f"{API}/quote/", request)
    data = body(got)
    assert got.status_code == 200, data
    assert shown(data["cost"]) == amount(250, "250", "INR") and data["approved"] is True
    assert data["balance_after"]["credits"] == before - 250
    assert body(client.get(f"{API}/balance/"))["balance"]["credits"] == before


def test_promotions_available_now(world: World, api: Any) -> None:
    data = body(as_user(api, "bob").get(f"{API}/promotions/"))
    codes = {p["code"]: p for p in data["promotions"]}
    assert {"DOUBLE5K", "EXTRA2K", None} <= set(codes)
    assert codes["DOUBLE5K"]["used_up"] is False and codes["DOUBLE5K"]["uses_left"] == 1
    percent = next(p for p in data["promotions"] if p["kind"] == "pct_bonus")
    assert percent["bonus_percent"] == "20" and shown(percent["bonus_cap"]) == amount(20_000, "20000", "INR")
    assert "rule_id" not in json.dumps(data) and "IN-" not in json.dumps(data)


def test_lead_charge_by_a_server_to_server_client(world: World, api: Any) -> None:
    client = as_client(api, world.keys["marketplace"])
    lead = {"practice_id": "smile", "product": "lead_call", "package_price": "15000", "patient_ref": "p-1"}
    got = post(client, f"{API}/charges/leads/", lead)
    data = body(got)
    assert got.status_code == 201, data
    assert data["approved"] is True and shown(data["cost"]) == amount(250, "250", "INR")
    assert "rule_ids" not in data and "pricebook" not in data


def test_a_declined_charge_is_402_and_recorded(world: World, api: Any) -> None:
    client = as_client(api, world.keys["marketplace"])
    got = post(
        client,
        f"{API}/charges/leads/",
        {"practice_id": "smile", "product": "lead_call", "package_price": "150000", "quantity": 1000},
    )
    data = body(got)
    assert got.status_code == 402 and data["code"] == "charge_declined"
    assert data["transaction_id"] > 0 and data["cost"]["credits"] > data["balance"]["credits"]
    rows = body(as_user(api, "bob").get(f"{API}/transactions/?limit=5"))["results"]
    declined = next(row for row in rows if row["id"] == data["transaction_id"])
    assert declined["status"] == "declined" and declined["declined_because"]


def test_campaign_charges_are_off_by_default_and_on_by_one_setting(world: World, api: Any) -> None:
    from django.test import override_settings

    from creditbook_django import ledger
    from reference import settings as reference

    client = as_client(api, world.keys["marketplace"])
    campaign = {
        "practice_id": "riverside",
        "request": {"product": "sms", "body": "See you at 10:00.", "recipients": 10},
    }
    off = post(client, f"{API}/charges/campaigns/", campaign)
    assert off.status_code == 404 and body(off)["code"] == "campaign_charges_off"
    from django.conf import settings

    expected = world.billing.estimate("riverside", campaign["request"]).quote.credits
    with override_settings(CREDITBOOK={**settings.CREDITBOOK, "CAMPAIGN_CHARGES": True}), ledger.use(world.billing):
        on = post(client, f"{API}/charges/campaigns/", campaign)
    assert on.status_code == 201, body(on)
    assert body(on)["cost"]["credits"] == expected > 0 and reference.CREDITBOOK["CAMPAIGN_CHARGES"] is False


def test_disputes_open_list_and_see_one(world: World, api: Any) -> None:
    charged = world.billing.charge(
        "smile", {"product": "lead_chat", "package_price": "2500"}, key=f"to-dispute-{world.kind}"
    )
    client = as_user(api, "bob")
    opened = post(client, f"{API}/disputes/", {"charge_id": charged.transaction_id, "reason": "invalid"})
    data = body(opened)
    assert opened.status_code == 201, data
    assert data["charge_id"] == charged.transaction_id and data["status"] in ("open", "approved", "rejected")
    listed = body(client.get(f"{API}/disputes/?status={data['status']}"))
    assert data["id"] in {d["id"] for d in listed}
    one = body(client.get(f"{API}/disputes/{data['id']}/"))
    assert one["charge_id"] == charged.transaction_id and "decided_by" not in one
    assert shown(one["charged"]) == amount(charged.credits, str(charged.credits), "INR")


def test_staff_decide_a_dispute_adjust_credits_and_read_revenue(world: World, api: Any) -> None:
    charged = world.billing.charge(
        "smile", {"product": "lead_chat", "package_price": "2500"}, key=f"staff-{world.kind}"
    )
    opened = world.billing.open_dispute("smile", charged.transaction_id, reason="not_reachable", key="d")
    assert opened.status == "open"
    staff = as_user(api, "staff")
    decided = post(staff, f"{API}/staff/disputes/{opened.dispute_id}/decision/", {"decision": "approve", "note": "ok"})
    data = body(decided)
    assert decided.status_code == 200, data
    assert data["status"] == "approved" and data["refunded"]["credits"] == charged.credits
    adjusted = post(
        staff, f"{API}/staff/adjustments/", {"practice_id": "lakeside", "credits": 5000, "reason": "goodwill"}
    )
    assert adjusted.status_code == 201 and shown(body(adjusted)["balance"]) == amount(5000, "0.5000", "USD")
    revenue = body(staff.get(f"{API}/staff/revenue/?market=US"))
    assert revenue["currency"] == "USD" and revenue["months"]
    assert revenue["months"][-1]["topup_money"]["amount"] == str(
        Decimal(revenue["months"][-1]["topup_money"]["amount"])
    )


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("post", "/staff/disputes/1/decision/", {"decision": "reject"}),
        ("post", "/staff/adjustments/", {"practice_id": "riverside", "credits": 1, "reason": "x"}),
        ("get", "/staff/revenue/?market=US", None),
    ],
)
def test_staff_endpoints_need_their_permission(world: World, api: Any, method: str, path: str, payload: Any) -> None:
    for name in ("alice", "support"):  # a clinic user; staff who may read any clinic but not decide
        client = as_user(api, name)
        got = post(client, API + path, payload) if method == "post" else client.get(API + path)
        assert got.status_code == 403 and body(got)["code"] == "permission_denied"
