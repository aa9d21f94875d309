"""Retries: the same key and request returns the stored outcome; a different request under the same
key is refused; a declined key stays declined; a retried purchase never pays twice."""

from __future__ import annotations

import threading

import pytest

from engine.billing import Billing, FakeGateway, IdempotencyConflict, InvalidKey, PaymentGatewayError
from engine.pricing.requests import LeadRequest, SmsCampaign, Usage
from tests.support.ledger_rows import rows, snapshot
from tests.support.races import start_and_join


def _strip(result: object) -> dict[str, object]:
    data = result.model_dump()  # type: ignore[attr-defined]
    data.pop("replayed")
    return data


def test_a_retried_charge_returns_the_stored_outcome_and_charges_once(billing: Billing) -> None:
    billing.register_clinic("c", "Clinic", "US", key="reg")
    billing.purchase("c", 1_000_000, payment_method="card_ok", key="buy")
    first = billing.charge("c", SmsCampaign(body="Your hearing aids are ready.", recipients=40), key="camp")
    before = snapshot(billing)
    again = billing.charge(
        "c", {"product": "sms", "body": "Your hearing aids are ready.", "recipients": 40}, key="camp"
    )
    assert again.replayed and not first.replayed
    assert _strip(again) == _strip(first)
    assert snapshot(billing) == before
    assert billing.balance("c").balance == 1_000_000 - 40 * 85


def test_the_same_key_for_another_request_is_a_conflict_and_changes_nothing(billing: Billing) -> None:
    billing.register_clinic("c", "Clinic", "US", key="reg")
    billing.purchase("c", 1_000_000, payment_method="card_ok", key="buy")
    billing.charge("c", Usage(product="sms", units=10), key="k")
    before = snapshot(billing)
    with pytest.raises(IdempotencyConflict, match="k"):
        billing.charge("c", Usage(product="sms", units=11), key="k")
    with pytest.raises(IdempotencyConflict):
        billing.adjust("c", 10, actor="a", reason="r", key="k")  # another operation, same key
    with pytest.raises(IdempotencyConflict):
        billing.purchase("c", 1_000_000, payment_method="card_ok", key="buy", promo_code="NEW")
    assert snapshot(billing) == before


def test_a_declined_key_stays_declined_after_the_wallet_is_topped_up(billing: Billing) -> None:
    billing.register_clinic("c", "Clinic", "IN", key="reg")
    lead = LeadRequest(product="lead_call", package_price=12_000)
    declined = billing.charge("c", lead, key="lead-1")
    assert not declined.approved
    billing.purchase("c", 5_000, payment_method="upi_ok", key="buy")
    again = billing.charge("c", lead, key="lead-1")
    assert again.replayed and not again.approved and again.transaction_id == declined.transaction_id
    fresh = billing.charge("c", lead, key="lead-2")
    assert fresh.approved and fresh.credits == 250
    assert [t.status for t in rows(billing, "transactions", clinic_id="c", kind="charge")] == ["declined", "posted"]


def test_keys_belong_to_their_clinic(billing: Billing) -> None:
    for clinic in ("a", "b"):
        billing.register_clinic(clinic, clinic, "IN", key="register")  # the same key on two clinics
        billing.purchase(clinic, 1_000, payment_method="upi_ok", key="buy")
    assert billing.balance("a").balance == billing.balance("b").balance == 1_000


@pytest.mark.parametrize("key", ["", "   ", "x" * 201, None, 42])
def test_bad_keys_are_refused_before_anything_happens(billing: Billing, key: object) -> None:
    billing.register_clinic("c", "Clinic", "IN", key="reg")
    before = snapshot(billing)
    with pytest.raises(InvalidKey):
        billing.charge("c", LeadRequest(product="lead_chat"), key=key)  # type: ignore[arg-type]
    with pytest.raises(InvalidKey):
        billing.purchase("c", 1_000, payment_method="upi_ok", key=key)  # type: ignore[arg-type]
    assert snapshot(billing) == before


def test_a_purchase_retried_after_a_gateway_timeout_pays_and_credits_once(
    billing: Billing, gateway: FakeGateway
) -> None:
    billing.register_clinic("c", "Clinic", "US", key="reg")
    before = snapshot(billing)
    with pytest.raises(PaymentGatewayError, match="retry with the same key"):
        billing.purchase("c", 500_000, payment_method="card_error", key="buy")
    after = snapshot(billing)
    # nothing moved; the key stays reserved for this request and its payment attempt stays recorded
    # (committed before the provider was called), because the provider may have taken the money
    # before timing out: the key's payment reference must not serve another request
    assert after["balances"] == before["balances"]
    assert {t: n - before["counts"][t] for t, n in after["counts"].items() if n != before["counts"][t]} == {
        "idempotency_keys": 1,
        "payment_attempts": 1,
    }
    assert rows(billing, "payment_attempts")[0].status == "created"
    with pytest.raises(IdempotencyConflict):
        billing.purchase("c", 900_000, payment_method="card_ok", key="buy")
    bought = billing.purchase("c", 500_000, payment_method="card_error", key="buy")
    assert bought.status == "credited" and bought.balance == 500_000
    replay = billing.purchase("c", 500_000, payment_method="card_error", key="buy")
    assert replay.replayed and replay.payment_id == bought.payment_id
    assert len(rows(billing, "payment_attempts")) == 1 and billing.balance("c").balance == 500_000


def test_concurrent_retries_of_one_charge_post_it_once(billing: Billing) -> None:
    billing.register_clinic("c", "Clinic", "US", key="reg")
    billing.purchase("c", 1_000_000, payment_method="card_ok", key="buy")
    barrier = threading.Barrier(4)
    results = []

    def retry() -> None:
        barrier.wait()
        results.append(billing.charge("c", Usage(product="voice", units=30), key="same"))

    start_and_join(threading.Thread(target=retry) for _ in range(4))
    assert len({r.transaction_id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert billing.balance("c").balance == 1_000_000 - 30 * 160
