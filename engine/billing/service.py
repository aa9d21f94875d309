"""Billing: the facade the backend imports — quote → decide → post.

    billing = Billing("sqlite:///creditbook.db", clock=..., gateway=FakeGateway())
    billing.publish_pricebook("pricebooks/us/us-audiology-v1.xlsx", actor="ops", key="publish-us-v1")
    billing.register_clinic("c-1", name="Riverside Hearing", market="US", key="reg-c-1")
    billing.purchase("c-1", 1_000_000, payment_method="card_ok", key="buy-1")       # $100 of credits
    billing.charge("c-1", SmsCampaign(body="...", recipients=250), key="camp-7")
    billing.balance("c-1")

Every operation takes an explicit idempotency key and a time (`at`, default: the injected clock).
Each runs in one database transaction that claims the key, does the work through the guarded
ledger statements, and stores the outcome with the key — a retry with the same key and request
gets the stored outcome (a decline stays declined), the same key with another request is refused.
Pricing comes from engine.pricing, decisions from rules, money movements from storage: this module
only composes them. A payment gateway is called between transactions, never inside one.
"""

from __future__ import annotations

from engine.billing.base import utc_now
from engine.billing.charges import ChargeOperations
from engine.billing.clinics import ClinicOperations
from engine.billing.disputes import DisputeOperations
from engine.billing.maintenance import MaintenanceOperations
from engine.billing.pricebooks import PricebookOperations
from engine.billing.purchases import PurchaseOperations
from engine.billing.reports import ReportOperations


class Billing(
    PricebookOperations,
    ClinicOperations,
    PurchaseOperations,
    ChargeOperations,
    DisputeOperations,
    MaintenanceOperations,
    ReportOperations,
):
    """Purchases, charges, declines, refunds, disputes, expiry and idempotency on one ledger.

    Each group of operations lives in its own module (purchases, charges, disputes, ...); they share
    the plumbing of engine.billing.base: the clock, the database and one idempotent transaction."""


__all__ = ["Billing", "utc_now"]
