"""Charging SMS campaigns, voice call records and leads: quote → overdraft policy → the ledger's door.

One database transaction: the clinic's state under its wallet lock (due lots expired first), the
quote from the version that prices it (its pin, its pay-as-you-go term's version, else the one in
force), the overdraft limit from the version in force, then one `Spend` through storage's door —
which takes the credits from lots in spending order or records the decline — with the pricing
stamp (pricebook, version, semantic hash, rule ids, the quote). The term's usage is counted and the
outcome stored with the key. A decline is recorded with its reason and quote.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.billing import state as clinic_state
from engine.billing import wallet
from engine.billing.context import Context, Done, Keyed
from engine.billing.results import ChargeResult
from engine.pricebook.model import CompiledPricebook
from engine.pricing.quote import Quote, quote
from engine.pricing.requests import QuoteContext, Request
from engine.vocabulary import AccountKind, AllocationKind, Plan, TransactionKind
from rules import ChargeFacts, PolicyEngine
from storage import accounts, clinics, transfers
from storage.database import Connection
from storage.lots import spending_order


@dataclass(frozen=True)
class ChargeRequest:
    clinic_id: str
    request: Request
    key: str
    patient_ref: str | None = None


def charge(ctx: Context, asked: ChargeRequest, at: datetime) -> ChargeResult:
    """Charge one request (see the module docstring)."""

    def work(conn: Connection, asked_at: datetime) -> Done:
        found, at = wallet.locked(conn, asked.clinic_id, asked_at)
        current = clinic_state.current(ctx.catalog, conn, found, at)
        product = asked.request.product
        on_package = clinic_state.packages_cover(found, product, current)
        term = None if on_package else clinic_state.start_term(conn, found, product, at, current)
        pricing = clinic_state.pricing_version(ctx.catalog, conn, found, product, current, at)
        context = QuoteContext(
            at=at,
            plan=clinic_state.plan(found),
            bundle=found.clinic.bundle,
            segment=found.clinic.segment,
            term_usage={product: term.units if term is not None else 0},
        )
        priced = quote(pricing, asked.request, context)
        policy = PolicyEngine.of(current)
        limit = policy.overdraft_limit(found.clinic.segment)
        if limit != found.wallet.overdraft_limit:  # a new version changed the segment's limit: the wallet follows
            accounts.set_overdraft_limit(conn, found.wallet.id, limit)
        posted = transfers.post(conn, _transfer(asked, found, priced, policy, at))
        if isinstance(posted, transfers.Declined):
            return Done(
                _result(found, current, priced, posted.transaction_id, found.wallet.balance, at, posted.reason),
                posted.transaction_id,
            )
        if posted.taken is not None and posted.credits:
            wallet.spent(found, posted.taken, posted.credits)
        if term is not None and priced.plan == Plan.PAYG:
            clinics.count_term_units(conn, term, priced.units)
        return Done(
            _result(found, current, priced, posted.transaction_id, posted.balance, at, None), posted.transaction_id
        )

    keyed = Keyed(
        asked.clinic_id,
        asked.key,
        "charge",
        {"clinic": asked.clinic_id, "request": asked.request.model_dump(mode="json"), "patient": asked.patient_ref},
    )
    return ctx.idempotent(keyed, work, ChargeResult, at)


def _transfer(
    asked: ChargeRequest, found: clinic_state.ClinicState, priced: Quote, policy: PolicyEngine, at: datetime
) -> transfers.Transfer:
    """The charge as a Spend. The ledger's guard enforces the overdraft limit; the rules name the
    row that approves a charge, and are asked why only when the guard declines one."""
    segment = found.clinic.segment

    def why() -> transfers.Refusal:
        decision = policy.overdraft(ChargeFacts(segment=segment, balance=found.wallet.balance, amount=priced.credits))
        reason = transfers.GUARD_REFUSAL.reason if decision.approved else decision.reason
        return transfers.Refusal(reason, (*priced.rule_ids, *decision.rule_ids))

    return transfers.Transfer(
        kind=TransactionKind.CHARGE,
        wallet=found.wallet,
        credits=priced.credits,
        counter=AccountKind.USAGE_REVENUE,
        effect=transfers.Spend(spending_order(found.lots, at), transfers.OnDecline.RECORD, AllocationKind.CHARGE, why),
        at=at,
        stamp=transfers.Stamp(
            pricebook_id=priced.pricebook_id,
            version=priced.version,
            semantic_hash=priced.semantic_hash,
            rule_ids=(*priced.rule_ids, *policy.overdraft_rule_ids(segment, priced.credits)),
            quote=priced.model_dump(mode="json"),
        ),
        details=transfers.Details(product=priced.product, units=priced.units, patient_ref=asked.patient_ref),
    )


def _result(
    found: clinic_state.ClinicState,
    current: CompiledPricebook,
    priced: Quote,
    transaction_id: int | None,
    balance: int,
    at: datetime,
    decline: str | None,
) -> ChargeResult:
    return ChargeResult(
        approved=decline is None,
        clinic_id=found.clinic.id,
        transaction_id=transaction_id or 0,
        product=priced.product,
        units=priced.units,
        credits=priced.credits,
        money=priced.money,
        currency=priced.currency,
        balance=balance,
        rule_ids=priced.rule_ids,
        pricebook=f"{priced.pricebook_id} v{priced.version}",
        summary=priced.summary,
        decline_reason=decline,
        alerts=wallet.alerts(found, current, balance, at),
        remaining=wallet.remaining(found, current, balance, at),
        warnings=priced.warnings,
    )
