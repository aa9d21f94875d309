"""Billing: the facade the backend imports — quote → decide → post.

    billing = Billing("sqlite:///creditbook.db", clock=..., gateway=FakeGateway())
    billing.publish_pricebook("pricebooks/us/us-audiology-v1.xlsx", actor="ops", key="publish-us-v1")
    billing.register_clinic("c-1", name="Riverside Hearing", market="US", key="reg-c-1")
    billing.purchase("c-1", 1_000_000, payment_method="card_ok", key="buy-1")       # $100 of credits
    billing.charge("c-1", SmsCampaign(body="...", recipients=250), key="camp-7")
    billing.balance("c-1")

Every operation takes an explicit idempotency key and a time (`at`, default: the injected clock).
Each method only delegates: the operation is a plain function of a small context (database, clock,
gateway, catalog) in a module named for what it does — engine/billing/clinics.py, purchases.py,
topups.py (the preview), settlement.py, webhooks.py, sweeper.py, autotopup.py, charges.py,
refunds.py, disputes.py, adjustments.py, expiry.py, pricebooks.py, reports.py — and every balance
change goes through storage's one door (storage/transfers.py). Pricing comes from engine.pricing,
decisions from rules; this package holds no SQL. A payment gateway (engine/billing/payments/) is
called between database transactions, never inside one, and an auto top-up starts only after the
charge that triggered it committed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from engine.billing import (
    adjustments,
    arguments,
    autotopup,
    charges,
    clinics,
    disputes,
    expiry,
    notifications,
    offers,
    pricebooks,
    purchases,
    refunds,
    reports,
    sweeper,
    topups,
    webhooks,
)
from engine.billing.catalog import Catalog
from engine.billing.context import Context, utc_now
from engine.billing.errors import InvalidAmount
from engine.billing.offers import Estimate
from engine.billing.payments import GatewayRouter, PaymentGateway, PaymentSettings
from engine.billing.results import (
    AdjustmentResult,
    AutoTopUpView,
    BalanceView,
    ChargeResult,
    ClinicResult,
    DisputeResult,
    DisputeView,
    ExpiryResult,
    PublishResult,
    PurchaseResult,
    RefundResult,
    RevenueReport,
    SweepResult,
    TopUpQuote,
    TransactionPage,
    WebhookResult,
)
from engine.errors import CreditbookError
from engine.notify.mail import Mailer
from engine.notify.worker import Tally, Worker
from engine.pricebook.model import CompiledPricebook, PackageRule
from engine.pricing.requests import Request, as_request
from storage.clinics import Clinic
from storage.database import Database
from storage.outbox import Endpoint
from storage.reconcile import Reconciliation, reconcile


class Billing:
    """Purchases, charges, declines, refunds, disputes, expiry and reports on one ledger."""

    def __init__(
        self,
        database: Database | str | None = None,
        clock: Callable[[], datetime] = utc_now,
        gateway: PaymentGateway | GatewayRouter | None = None,
        migrate: bool = True,
    ):
        """`gateway`: one gateway for every currency (a test's fake), a router, or None: the
        providers configured in the environment (engine/billing/payments/routing.py), the fake for
        every currency that has none."""
        db = database if isinstance(database, Database) else Database(database)
        if migrate:
            db.upgrade()
        if gateway is None:
            router = GatewayRouter.from_settings(PaymentSettings.from_env())
        else:
            router = gateway if isinstance(gateway, GatewayRouter) else GatewayRouter.single(gateway)
        self.ctx = Context(db=db, clock=clock, gateway=router, catalog=Catalog())

    def close(self) -> None:
        """Close the ledger's pooled connections (a new call opens them again)."""
        self.ctx.db.dispose()

    @property
    def db(self) -> Database:
        return self.ctx.db

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.ctx.clock

    @property
    def gateway(self) -> GatewayRouter:
        return self.ctx.gateway

    @property
    def catalog(self) -> Catalog:
        return self.ctx.catalog

    # -- pricebooks -------------------------------------------------------------------------------
    def publish_pricebook(self, path: str | Path, actor: str, key: str, at: datetime | None = None) -> PublishResult:
        """Publish a workbook as a new immutable version (refused when unchanged or not later)."""
        return pricebooks.publish(self.ctx, Path(path), arguments.actor(actor), key, self.ctx.at(at))

    def pricebook_versions(self, pricebook_id: str) -> list[CompiledPricebook]:
        arguments.code("pricebook_id", pricebook_id)
        return self.ctx.db.read(lambda conn: self.ctx.catalog.versions(conn, pricebook_id))

    def pricebook_in_force(self, market_or_id: str, at: datetime | None = None) -> CompiledPricebook:
        return pricebooks.in_force(self.ctx, arguments.code("market", market_or_id), self.ctx.at(at))

    @classmethod
    def open(cls, url: str | None = None, *, pool_size: int = 20, schema: str | None = None, **options: Any) -> Billing:
        """A Billing on a new connection pool of `pool_size` (PostgreSQL: the ledger's tables in
        `schema`), for a layer that never imports storage (the Django app); `options` as Billing's."""
        return cls(Database(url, pool_size=pool_size, schema=schema), **options)

    def offers(self, clinic_id: str, at: datetime | None = None) -> offers.Offers:
        """What the clinic can buy now: its pricebook's packages, the smallest top-up, and the
        promotions in force with how often it may still use each (engine/billing/offers.py)."""
        return offers.offers(self.ctx, arguments.clinic_id(clinic_id), self.ctx.at(at))

    def estimate(self, clinic_id: str, request: Request | dict[str, Any], at: datetime | None = None) -> Estimate:
        """What charging `request` would cost the clinic now, and whether it would be approved;
        writes nothing (engine/billing/offers.py)."""
        return offers.estimate(self.ctx, arguments.clinic_id(clinic_id), as_request(request), self.ctx.at(at))

    def list_packages(self, market_or_id: str, at: datetime | None = None) -> tuple[PackageRule, ...]:
        """The monthly packages on sale at `at` (practice note: GET /api/credits/packages/)."""
        return pricebooks.packages(self.ctx, arguments.code("market", market_or_id), self.ctx.at(at))

    def pin(  # noqa: PLR0913 (public API: every argument is a field of the pin, passed by name)
        self,
        clinic_id: str,
        pricebook_id: str,
        version: int,
        actor: str,
        reason: str,
        key: str,
        at: datetime | None = None,
        until: datetime | None = None,
    ) -> ClinicResult:
        """Lock a clinic to a published version's prices (retention)."""
        asked = pricebooks.PinRequest(
            arguments.clinic_id(clinic_id),
            arguments.code("pricebook_id", pricebook_id),
            arguments.row_id("version", version),
            arguments.actor(actor),
            arguments.note("reason", reason, required=False),
            arguments.optional_time("until", until),
        )
        return pricebooks.pin(self.ctx, asked, key, self.ctx.at(at))

    # -- clinics ----------------------------------------------------------------------------------
    def register_clinic(  # noqa: PLR0913 (public API: every argument is a field of the registration)
        self,
        clinic_id: str,
        name: str,
        market: str,
        key: str,
        segment: str = "standard",
        bundle: bool = False,
        clinic_size: str | None = None,
        referred_by: str | None = None,
        at: datetime | None = None,
    ) -> ClinicResult:
        """A clinic and its wallet; its overdraft limit comes from its segment and the pricebook."""
        asked = clinics.Registration(
            arguments.new_clinic_id(clinic_id),
            arguments.name(name),
            arguments.label("market", market),
            arguments.label("segment", segment),
            bool(bundle),
            arguments.optional_label("clinic_size", clinic_size),
            arguments.optional_clinic_id(referred_by, "referred_by"),
        )
        return clinics.register(self.ctx, asked, key, self.ctx.at(at))

    def set_segment(
        self, clinic_id: str, segment: str, actor: str, key: str, at: datetime | None = None
    ) -> ClinicResult:
        return clinics.set_segment(
            self.ctx,
            arguments.clinic_id(clinic_id),
            arguments.label("segment", segment),
            arguments.actor(actor),
            key,
            self.ctx.at(at),
        )

    # -- money in ---------------------------------------------------------------------------------
    def purchase(
        self,
        clinic_id: str,
        package_or_amount: str | int,
        payment_method: str,
        key: str,
        promo_code: str | None = None,
        at: datetime | None = None,
    ) -> PurchaseResult:
        """Buy credits: a package code or a number of pay-as-you-go credits (engine/billing/purchases.py)."""
        asked = purchases.PurchaseRequest(
            arguments.clinic_id(clinic_id),
            arguments.purchase_amount(package_or_amount),
            arguments.code("payment_method", payment_method),
            key,
            arguments.optional_code("promo_code", promo_code),
        )
        return purchases.purchase(self.ctx, asked, self.ctx.at(at))

    def confirm_payment(self, payment_id: str, at: datetime | None = None) -> PurchaseResult:
        """The payer's browser (or a poll) reports a pending payment: read back and settled, once."""
        return purchases.confirm_payment(self.ctx, arguments.reference("payment_id", payment_id), self.ctx.at(at))

    def quote_topup(
        self,
        clinic_id: str,
        package_or_amount: str | int,
        promo_code: str | None = None,
        payment_method: str | None = None,
        at: datetime | None = None,
    ) -> TopUpQuote:
        """What a top-up costs and earns before any money moves, or why its promo code does not
        apply (engine/billing/topups.py)."""
        return topups.quote_topup(
            self.ctx,
            arguments.clinic_id(clinic_id),
            arguments.purchase_amount(package_or_amount),
            arguments.optional_code("promo_code", promo_code),
            arguments.optional_code("payment_method", payment_method),
            self.ctx.at(at),
        )

    def confirm_checkout(self, provider: str, fields: Mapping[str, str], at: datetime | None = None) -> PurchaseResult:
        """A Checkout callback (Razorpay's signed order and payment ids): verified, read back, settled."""
        return purchases.confirm_checkout(
            self.ctx, arguments.label("provider", provider), webhooks.checked_form("fields", fields), self.ctx.at(at)
        )

    def payment_webhook(
        self, provider: str, body: bytes, headers: Mapping[str, str], at: datetime | None = None
    ) -> WebhookResult:
        """A provider's webhook, as received (raw body and headers): verified, recorded, read back,
        settled once (engine/billing/webhooks.py)."""
        provider, headers = arguments.label("provider", provider), webhooks.checked_form("headers", headers)
        return webhooks.payment_webhook(self.ctx, provider, body, headers, self.ctx.at(at))

    def sweep_payments(
        self,
        older_than: timedelta = sweeper.OLDER_THAN,
        abandon_after: timedelta = sweeper.ABANDON_AFTER,
        at: datetime | None = None,
        limit: int = 500,
    ) -> SweepResult:
        """Ask the providers about attempts in flight past `older_than` and settle or fail them
        (engine/billing/sweeper.py; `creditbook payments sweep`)."""
        return sweeper.sweep(self.ctx, self.ctx.at(at), older_than, abandon_after, limit)

    def set_auto_topup(  # noqa: PLR0913 (public API: every argument is part of the setting, passed by name)
        self,
        clinic_id: str,
        *,
        method: str,
        threshold: int,
        key: str,
        amount: int | None = None,
        target: int | None = None,
        cap: int | None = None,
        customer: str | None = None,
        enabled: bool = True,
        at: datetime | None = None,
    ) -> AutoTopUpView:
        """Opt in to (or out of) auto top-up with a saved payment method (engine/billing/autotopup.py)."""
        setting = {
            "method": arguments.code("method", method),
            "customer": None if customer is None else arguments.reference("customer", customer),
            "threshold": threshold,
            "amount": amount,
            "target": target,
            "cap": cap,
            "enabled": bool(enabled),
        }
        return autotopup.configure(self.ctx, arguments.clinic_id(clinic_id), setting, key, self.ctx.at(at))

    def auto_topup(self, clinic_id: str, at: datetime | None = None) -> AutoTopUpView | None:
        """The clinic's auto top-up setting and state (a failure it is paused on), if it has one."""
        return autotopup.setting_of(self.ctx, arguments.clinic_id(clinic_id), self.ctx.at(at))

    # -- money out --------------------------------------------------------------------------------
    def charge(
        self,
        clinic_id: str,
        request: Request | dict[str, Any],
        key: str,
        at: datetime | None = None,
        patient_ref: str | None = None,
    ) -> ChargeResult:
        """Charge an SMS campaign, voice call records or leads (engine/billing/charges.py)."""
        when = self.ctx.at(at)
        asked = charges.asked(clinic_id, request, key, patient_ref)
        return autotopup.after_charge(self.ctx, charges.charge(self.ctx, asked, when), when)  # after it committed

    def charge_batch(self, items: Sequence[Mapping[str, Any]]) -> list[ChargeResult | CreditbookError]:
        """Charge many requests in one database transaction — per-recipient campaign billing, a bulk
        lead import. Each item is a mapping of `charge`'s arguments (clinic_id, request, key, and
        optionally at and patient_ref) and gets its own answer, in the order given: its
        ChargeResult (approved, declined and recorded, or replayed), or the error that refused it
        alone — the others are posted all the same (engine/billing/charges.py `charge_batch`)."""
        if isinstance(items, str | bytes | Mapping) or not isinstance(items, Sequence):
            raise InvalidAmount("items must be a list of charges (mappings of charge arguments)", field="items")
        return charges.charge_batch(self.ctx, [charges.batch_item(self.ctx, item) for item in items])

    def refund(
        self,
        clinic_id: str,
        charge_id: int,
        actor: str,
        reason: str,
        key: str,
        credits: int | None = None,
        at: datetime | None = None,
    ) -> RefundResult:
        """An admin refund of a charge, whole or in part; all refunds of a charge never exceed it."""
        asked = refunds.RefundAsk(
            arguments.row_id("charge_id", charge_id),
            arguments.optional_credits("credits", credits),
            arguments.actor(actor),
            arguments.note("reason", reason, required=False),
        )
        return refunds.refund(self.ctx, arguments.clinic_id(clinic_id), asked, key, self.ctx.at(at))

    def adjust(
        self, clinic_id: str, credits: int, actor: str, reason: str, key: str, at: datetime | None = None
    ) -> AdjustmentResult:
        """An admin correction: an entry with an actor and a reason, never a balance overwrite."""
        asked = adjustments.Adjustment(
            arguments.clinic_id(clinic_id),
            arguments.credits("credits", credits, signed=True),
            arguments.actor(actor, required=False),
            arguments.note("reason", reason, required=False),
        )
        return adjustments.adjust(self.ctx, asked, key, self.ctx.at(at))

    # -- disputes ---------------------------------------------------------------------------------
    def open_dispute(
        self, clinic_id: str, charge_id: int, reason: str, key: str, at: datetime | None = None
    ) -> DisputeResult:
        """A clinic disputes a charge; the pricebook's policy refunds it, sends it to an admin or
        rejects it."""
        return disputes.open_dispute(
            self.ctx,
            arguments.clinic_id(clinic_id),
            arguments.row_id("charge_id", charge_id),
            arguments.label("reason", reason),
            key,
            self.ctx.at(at),
        )

    def approve_dispute(
        self, dispute_id: int, actor: str, note: str, key: str, at: datetime | None = None, clinic_id: str | None = None
    ) -> DisputeResult:
        """An admin approves: the charge's credits go back to the lots they came from, once."""
        verdict = self._verdict(dispute_id, True, actor, note, clinic_id)
        return disputes.decide(self.ctx, verdict, key, self.ctx.at(at))

    def reject_dispute(
        self, dispute_id: int, actor: str, note: str, key: str, at: datetime | None = None, clinic_id: str | None = None
    ) -> DisputeResult:
        verdict = self._verdict(dispute_id, False, actor, note, clinic_id)
        return disputes.decide(self.ctx, verdict, key, self.ctx.at(at))

    @staticmethod
    def _verdict(dispute_id: int, approve: bool, actor: str, note: str, clinic_id: str | None) -> disputes.Verdict:
        return disputes.Verdict(
            arguments.row_id("dispute_id", dispute_id),
            approve,
            arguments.actor(actor),
            arguments.note("note", note, required=False),
            arguments.optional_clinic_id(clinic_id, "clinic_id"),
        )

    def disputes(self, status: str | None = "open", clinic_id: str | None = None) -> list[DisputeView]:
        return disputes.listed(
            self.ctx, arguments.optional_label("status", status), arguments.optional_clinic_id(clinic_id, "clinic_id")
        )

    # -- maintenance ------------------------------------------------------------------------------
    def expire_lots(self, now: datetime | None = None) -> ExpiryResult:
        """Expire every lot whose time is up; safe to run twice and alongside charges."""
        return expiry.expire_lots(self.ctx, self.ctx.at(now))

    def reconcile(self, full: bool = False) -> Reconciliation:
        """Recompute every ledger invariant and report any drift (see storage/reconcile.py), with the
        payments in flight by age; `full` also checks the usage counters day by day and SQLite's
        every index against its table."""
        return self.ctx.db.read(lambda conn: reconcile(conn, self.ctx.clock, full=bool(full)))

    # -- notifications ----------------------------------------------------------------------------
    def add_notification_endpoint(
        self, clinic_id: str | None, channel: str, target: str, kinds: Sequence[str] = ()
    ) -> tuple[Endpoint, str | None]:
        """Send a clinic's events (None: every clinic's) to a webhook or an e-mail address; a
        webhook's signing secret is returned once."""
        asked = notifications.EndpointRequest(
            arguments.optional_clinic_id(clinic_id, "clinic_id"), channel, target, tuple(kinds)
        )
        return notifications.add_endpoint(self.ctx, asked, self.ctx.at(None))

    def notification_endpoints(self, clinic_id: str | None = None) -> list[Endpoint]:
        return notifications.endpoints(self.ctx, arguments.optional_clinic_id(clinic_id, "clinic_id"))

    def set_notification_endpoint(
        self, endpoint_id: int, clinic_id: str | None, kinds: Sequence[str] = (), active: bool = True
    ) -> None:
        """Choose which events an endpoint receives (none: all), or switch it off."""
        notifications.choose(
            self.ctx,
            arguments.row_id("endpoint_id", endpoint_id),
            arguments.optional_clinic_id(clinic_id, "clinic_id"),
            tuple(kinds),
            bool(active),
        )

    def deliver_notifications(self, mailer: Mailer | None = None) -> Tally:
        """Deliver every notification due now (what `creditbook notify run` does in a loop)."""
        return Worker(self.ctx.db, self.ctx.clock, mailer).run_once()

    # -- reports ----------------------------------------------------------------------------------
    def balance(self, clinic_id: str, at: datetime | None = None) -> BalanceView:
        """The clinic dashboard header: balance, used this month, refunds, expiring credits."""
        return reports.balance(self.ctx, arguments.clinic_id(clinic_id), self.ctx.at(at))

    def transactions(  # noqa: PLR0913 (public API: the history's filters, passed by name)
        self,
        clinic_id: str,
        kinds: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        status: str | None = None,
        page: int = 1,
        page_size: int = 50,
        cursor: str | None = None,
    ) -> TransactionPage:
        """The clinic's transactions, newest first (practice note: GET /api/credits/transactions/)."""
        asked = reports.HistoryQuery(
            arguments.clinic_id(clinic_id),
            arguments.optional_labels("kinds", kinds),
            arguments.optional_time("since", since),
            arguments.optional_time("until", until),
            arguments.optional_label("status", status),
            page,
            page_size,
            None if cursor is None else arguments.reference("cursor", cursor),
        )
        return reports.transactions(self.ctx, asked)

    def revenue_report(
        self, market: str, since: datetime | None = None, until: datetime | None = None, at: datetime | None = None
    ) -> RevenueReport:
        """Admin figures: top-up money by month, bonus credits, breakage, liability, open disputes."""
        return reports.revenue(
            self.ctx,
            arguments.label("market", market),
            arguments.optional_time("since", since),
            arguments.optional_time("until", until),
            self.ctx.at(at),
        )

    def clinics(self) -> list[Clinic]:
        return reports.all_clinics(self.ctx)

    def clinic(self, clinic_id: str) -> Clinic:
        """One clinic's registration (a page about one clinic reads this, not every clinic)."""
        return reports.clinic(self.ctx, arguments.clinic_id(clinic_id))

    def lots(self, clinic_id: str) -> list[dict[str, Any]]:
        """A wallet's lots, for the wallet page and for tests."""
        return reports.lots(self.ctx, arguments.clinic_id(clinic_id))


__all__ = ["Billing", "utc_now"]
