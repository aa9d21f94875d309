"""PolicyEngine: the pricebook's policies as decisions (docs/domain.md §6–8).

    policy = PolicyEngine(compiled_pricebook)
    policy.topup(TopUpFacts(...))          -> TopUpDecision   (bonuses, perks, why a code did not apply)
    policy.referral(ReferralFacts(...))    -> ReferralDecision
    policy.overdraft(ChargeFacts(...))     -> OverdraftDecision (approved or declined, with the reason)
    policy.dispute(DisputeFacts(...))      -> DisputeDecision (auto-approved, to an admin, or rejected)
    policy.alerts(AlertFacts(...))         -> AlertDecision

durable-rules decides which pricebook rows apply to the facts; this facade turns the matched rows
into amounts (bonus = fixed credits, or a percentage of the paid credits rounded once and capped),
applies per-clinic and total limits, resolves stacking (every stackable promotion plus the best
single non-stackable one) and words the decision. Rules decide; the ledger enforces.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from engine.money import format_credits, round_credits
from engine.pricebook.model import CompiledPricebook, OverdraftRule, TopUpPromo
from engine.vocabulary import AlertKind, Beneficiary, DisputeOutcome, PromoType, Recipient
from rules.models import (
    Alert,
    AlertDecision,
    AlertFacts,
    Bonus,
    ChargeFacts,
    DisputeDecision,
    DisputeFacts,
    Note,
    OverdraftDecision,
    Perk,
    ReferralDecision,
    ReferralFacts,
    TopUpDecision,
    TopUpFacts,
)
from rules.rulesets import NO_RUNWAY, Ruling, Verdict, epoch, rulesets_for


def normalise_code(code: str | None) -> str | None:
    """Promo codes are case-insensitive and spaces around them do not count."""
    if code is None:
        return None
    cleaned = code.strip().upper()
    return cleaned or None


class PolicyEngine:
    """Typed facts in, decisions out; safe to call from several threads."""

    def __init__(self, pricebook: CompiledPricebook):
        self.pricebook = pricebook
        self.rulesets = rulesets_for(pricebook)
        self.promos: dict[str, TopUpPromo] = {p.rule_id: p for p in pricebook.topup_promos}
        self.codes = {p.promo_code.upper() for p in pricebook.topup_promos if p.promo_code}
        self.limits: dict[str, OverdraftRule] = {row.segment: row for row in pricebook.overdraft}
        self.disputes = {row.rule_id: row for row in pricebook.disputes}
        self.alert_rows = {row.rule_id: row for row in pricebook.alerts}
        self.rounding = pricebook.meta.rounding
        self._memo: dict[tuple[object, ...], TopUpDecision] = {}

    @classmethod
    def of(cls, pricebook: CompiledPricebook) -> PolicyEngine:
        """The engine of a pricebook version, built once per version object."""
        return pricebook.derived("rules.policy", cls)

    # -- helpers ----------------------------------------------------------------------------------
    def _credits(self, amount: int) -> str:
        meta = self.pricebook.meta
        return format_credits(amount, meta.money_per_credit, meta.currency)

    def _expiry(self, promo: TopUpPromo, at: datetime) -> datetime | None:
        days = promo.bonus_expiry_days or self.pricebook.meta.topup_validity_days
        return None if days is None else at + timedelta(days=days)

    def _bonus_amount(self, promo: TopUpPromo, paid: int) -> int:
        if promo.promo_type == PromoType.PCT_BONUS:
            amount = round_credits(paid * (promo.bonus_pct or Decimal(0)), self.rounding)
            return min(amount, promo.bonus_cap_credits) if promo.bonus_cap_credits is not None else amount
        return promo.bonus_credits or 0

    # -- top-ups ----------------------------------------------------------------------------------
    def topup(self, facts: TopUpFacts) -> TopUpDecision:
        code = normalise_code(facts.promo_code)
        matched = self.rulesets["topup"].matches(
            {"paid": facts.paid_credits, "at": epoch(facts.at), "code": code or ""}
        )
        notes: list[Note] = []
        eligible: list[tuple[TopUpPromo, int]] = []
        for rule_id in matched:
            promo = self.promos[rule_id]
            if promo.max_per_clinic is not None and facts.clinic_uses.get(rule_id, 0) >= promo.max_per_clinic:
                notes.append(Note("clinic_limit", rule_id, promo.max_per_clinic))
            elif promo.max_total is not None and facts.total_uses.get(rule_id, 0) >= promo.max_total:
                notes.append(Note("total_limit", rule_id, promo.max_total))
            else:
                eligible.append((promo, self._bonus_amount(promo, facts.paid_credits)))
        chosen = self._stack(eligible, code)
        if len(chosen) < len(eligible):
            notes.extend(
                Note("not_combined", promo.rule_id) for promo, amount in eligible if (promo, amount) not in chosen
            )
        code_status = "none" if code is None else self._code_status(code, facts, matched, chosen, notes)
        bonuses = tuple(
            Bonus(
                rule_id=promo.rule_id,
                credits=amount,
                beneficiary=Recipient.PAYER,
                clinic_id=facts.clinic_id,
                expires_at=self._expiry(promo, facts.at),
            )
            for promo, amount in chosen
            if amount > 0
        )
        perks = tuple(
            Perk(
                rule_id=promo.rule_id,
                perk=promo.perk,
                clinic_id=facts.clinic_id,
                until=facts.at + timedelta(days=promo.perk_days),
            )
            for promo, _ in chosen
            if promo.perk and promo.perk_days
        )
        meta = self.pricebook.meta
        return TopUpDecision(
            paid_credits=facts.paid_credits,
            bonuses=bonuses,
            perks=perks,
            rule_ids=tuple(promo.rule_id for promo, _ in chosen),
            promo_code=code,
            code_status=code_status,
            reasons=tuple(notes),
            currency=meta.currency,
            money_per_credit=meta.money_per_credit,
        )

    @staticmethod
    def _stack(eligible: list[tuple[TopUpPromo, int]], code: str | None) -> list[tuple[TopUpPromo, int]]:
        """Every stackable promotion, plus the best single non-stackable one: most bonus credits,
        then one with a perk, then the code the clinic typed, then the lowest rule_id."""
        if len(eligible) <= 1:
            return eligible
        chosen = [item for item in eligible if item[0].stackable]
        singles = [item for item in eligible if not item[0].stackable]
        if singles:
            chosen.append(
                max(
                    singles,
                    key=lambda item: (
                        item[1],
                        item[0].perk is not None,
                        item[0].promo_code is not None and item[0].promo_code.upper() == code,
                        [-ord(ch) for ch in item[0].rule_id],
                    ),
                )
            )
        return sorted(chosen, key=lambda item: item[0].rule_id)

    def _code_status(
        self,
        code: str,
        facts: TopUpFacts,
        matched: tuple[str, ...],
        chosen: list[tuple[TopUpPromo, int]],
        notes: list[Note],
    ) -> str:
        if code not in self.codes:
            notes.append(Note("unknown_code", code))
            return "unknown"
        if any(_has_code(p, code) for p, _ in chosen):
            return "applied"
        if not any(_has_code(self.promos[r], code) for r in matched):
            rows = [p for p in self.promos.values() if _has_code(p, code)]
            notes.append(self._why_code_missed(rows, facts))
        return "not_applied"

    @staticmethod
    def _why_code_missed(rows: list[TopUpPromo], facts: TopUpFacts) -> Note:
        code = rows[0].promo_code or ""
        if all(p.valid_from > facts.at or (p.valid_to is not None and facts.at >= p.valid_to) for p in rows):
            return Note("code_not_valid_now", code, facts.at)
        lowest = min(p.paid_from for p in rows)
        if facts.paid_credits < lowest:
            return Note("code_minimum", code, lowest)
        return Note("code_not_for_amount", code, facts.paid_credits)

    def referral(self, facts: ReferralFacts) -> ReferralDecision:
        key = f"referral:{facts.referrer_id}:{facts.referred_id}"
        if facts.referrer_id == facts.referred_id:
            return ReferralDecision(reason="a clinic cannot refer itself", idempotency_key=key)
        if facts.already_rewarded:
            return ReferralDecision(reason="this referral was already rewarded", idempotency_key=key)
        if not facts.first_paid_topup:
            return ReferralDecision(reason="only the referred clinic's first paid top-up counts", idempotency_key=key)
        matched = self.rulesets["referral"].matches({"paid": facts.paid_credits, "at": epoch(facts.at)})
        candidates = []
        for rule_id in matched:
            promo = self.promos[rule_id]
            if promo.max_per_clinic is not None and facts.referrer_rewards >= promo.max_per_clinic:
                continue
            if promo.max_total is not None and facts.total_rewards >= promo.max_total:
                continue
            candidates.append(promo)
        if not candidates:
            reason = "no referral programme applies" if not matched else "the referral limits are reached"
            return ReferralDecision(reason=reason, idempotency_key=key, rule_ids=tuple(matched))
        promo = max(candidates, key=lambda p: (p.bonus_credits or 0, [-ord(ch) for ch in p.rule_id]))
        credits = promo.bonus_credits or 0
        expires = self._expiry(promo, facts.at)
        receivers: list[tuple[Recipient, str]] = []
        if promo.beneficiary in (Beneficiary.REFERRER, Beneficiary.BOTH):
            receivers.append((Recipient.REFERRER, facts.referrer_id))
        if promo.beneficiary in (Beneficiary.PAYER, Beneficiary.BOTH):
            receivers.append((Recipient.REFERRED, facts.referred_id))
        bonuses = tuple(
            Bonus(
                rule_id=promo.rule_id,
                credits=credits,
                beneficiary=role,
                clinic_id=clinic,
                expires_at=expires,
            )
            for role, clinic in receivers
        )
        return ReferralDecision(
            bonuses=bonuses,
            rule_ids=(promo.rule_id,),
            idempotency_key=key,
            reason=f"{promo.rule_id}: {self._credits(credits)} to {' and '.join(role for role, _ in receivers)}",
        )

    # -- overdraft --------------------------------------------------------------------------------
    def overdraft_limit(self, segment: str) -> int:
        row = self.limits.get(segment)
        return 0 if row is None else row.max_negative_credits

    def overdraft_rule_ids(self, segment: str, amount: int) -> tuple[str, ...]:
        """The rule an approved charge of `segment` is approved by: the segment's Overdraft row,
        exactly what the decision table names for each of its approvals (none for a free charge).
        The ledger's guarded debit enforces the same limit (`overdraft_limit`) on the wallet row, so
        billing asks the full decision (`overdraft`) only when that guard declines."""
        row = self.limits.get(segment)
        return (row.rule_id,) if row is not None and amount else ()

    def overdraft(self, facts: ChargeFacts) -> OverdraftDecision:
        after = facts.balance - facts.amount
        limit = self.overdraft_limit(facts.segment)
        rule_ids: tuple[str, ...] = ()
        if facts.amount == 0:  # nothing is taken: even an overdrawn wallet may record a free charge
            approved = True
        else:
            ruling: Ruling
            (ruling,) = self.rulesets["overdraft"].matches({"segment": facts.segment, "after": after})
            approved, rule_ids = ruling.verdict is Verdict.APPROVE, ((ruling.rule_id,) if ruling.rule_id else ())
        meta = self.pricebook.meta
        return OverdraftDecision(
            approved=approved,
            segment=facts.segment,
            limit=limit,
            balance=facts.balance,
            amount=facts.amount,
            balance_after=after if approved else facts.balance,
            rule_ids=rule_ids,
            currency=meta.currency,
            money_per_credit=meta.money_per_credit,
        )

    # -- disputes ---------------------------------------------------------------------------------
    def dispute(self, facts: DisputeFacts) -> DisputeDecision:
        age = (facts.opened_at - facts.charged_at).total_seconds()
        if age < 0:
            return DisputeDecision(
                outcome=DisputeOutcome.REJECTED, reason="a dispute cannot be opened before the charge"
            )
        duplicate_age = -1.0  # no earlier charge for the same patient
        if facts.previous_charge_at is not None and facts.previous_charge_at <= facts.charged_at:
            duplicate_age = (facts.charged_at - facts.previous_charge_at).total_seconds()
        matched = self.rulesets["dispute"].matches(
            {"reason": facts.reason, "product": facts.product, "age": age, "duplicate_age": duplicate_age}
        )
        by_outcome: dict[Verdict, str] = {ruling.verdict: ruling.rule_id for ruling in matched}
        if not matched:
            allowed = sorted({row.reason for row in self.disputes.values() if facts.product in row.products})
            return DisputeDecision(
                outcome=DisputeOutcome.REJECTED,
                reason=f"{facts.reason!r} is not a dispute reason for {facts.product} "
                f"(allowed: {', '.join(allowed) or 'none'})",
            )
        rule_id = next(iter(by_outcome.values()))
        row = self.disputes[rule_id]
        window_end = facts.charged_at + timedelta(days=row.window_days)
        if Verdict.LATE in by_outcome:
            return DisputeDecision(
                outcome=DisputeOutcome.REJECTED,
                rule_ids=(rule_id,),
                window_ends_at=window_end,
                reason=f"disputes for {facts.reason} must be opened within {row.window_days} days "
                f"of the charge (until {window_end:%Y-%m-%d %H:%M %Z})",
            )
        if Verdict.AUTO in by_outcome:
            return DisputeDecision(
                outcome=DisputeOutcome.AUTO_APPROVED,
                rule_ids=(rule_id,),
                window_ends_at=window_end,
                reason=f"the same patient was charged {row.duplicate_window_days} days or less "
                "before: refunded automatically",
            )
        return DisputeDecision(
            outcome=DisputeOutcome.ADMIN_REVIEW,
            rule_ids=(rule_id,),
            window_ends_at=window_end,
            reason="within the window; an admin decides",
        )

    # -- alerts -----------------------------------------------------------------------------------
    @property
    def expiring_window_days(self) -> int:
        return next(
            (row.threshold for row in self.alert_rows.values() if row.alert == AlertKind.EXPIRING_CREDITS_DAYS), 30
        )

    def alerts(self, facts: AlertFacts) -> AlertDecision:
        runway = (
            Decimal(max(facts.balance, 0)) / facts.trailing_daily_credits if facts.trailing_daily_credits > 0 else None
        )
        matched = self.rulesets["alerts"].matches(
            {
                "balance": facts.balance,
                "expiring": facts.expiring_credits,
                "runway": NO_RUNWAY if runway is None else float(runway),
            }
        )
        alerts = []
        for rule_id in matched:
            row = self.alert_rows[rule_id]
            if row.alert == AlertKind.LOW_BALANCE_CREDITS:
                message = f"low balance: {self._credits(facts.balance)}, below {self._credits(row.threshold)}"
            elif row.alert == AlertKind.LOW_BALANCE_RUNWAY_DAYS:
                message = (
                    "no credits left at the recent usage"
                    if not runway
                    else f"about {runway:.1f} days of credits left at the recent usage (alert below {row.threshold})"
                )
            else:
                when = f" from {facts.earliest_expiry:%Y-%m-%d}" if facts.earliest_expiry else ""
                message = f"{self._credits(facts.expiring_credits)} expire within {row.threshold} days{when}"
            alerts.append(Alert(kind=row.alert, rule_id=rule_id, message=message, threshold=row.threshold))
        return AlertDecision(
            alerts=tuple(alerts),
            rule_ids=tuple(matched),
            runway_days=None if runway is None else runway.quantize(Decimal("0.1")),
        )


def _has_code(promo: TopUpPromo, code: str) -> bool:
    """Whether `promo` is redeemed with `code` (an upper-cased promotion code)."""
    return promo.promo_code is not None and promo.promo_code.upper() == code
