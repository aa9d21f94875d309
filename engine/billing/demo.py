"""A demo ledger: clinics of every size in both markets with a few months of believable history,
priced and posted through Billing exactly like production traffic.

The history is generated as a list of dated events (top-ups, reminder campaigns, voicemail drops,
leads, disputes, admin decisions, expiry sweeps), sorted by time and replayed through the facade with
deterministic idempotency keys, so seeding the same database twice changes nothing. It is a function
of its arguments alone: the same seed, months and end (`DEMO_UNTIL` unless one is given) make the
same ledger, row for row, on any day it is run; every operation is dated by the history itself
(`seed_demo` is given a Billing whose clock refuses to be read by the command line). Sizes and usage
follow the practice note (solo 40–50 % of clinics with ~400 appointments a year, small 30–35 % with
~1,000, medium 15–20 % with ~2,000, large 5–10 % with ~4,000); lead volumes and package prices follow
the lead note's tiers.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from engine.billing.errors import BillingError
from engine.billing.service import Billing
from engine.pricing.requests import CallRecord, LeadRequest, SmsCampaign, VoiceCampaign

SHIPPED = Path(__file__).resolve().parents[2] / "pricebooks"
DEMO_UNTIL = datetime(2026, 12, 1, tzinfo=UTC)  # the history's end (exclusive): it runs to 2026-11-30
US_SIZES = (  # size, share of clinics, appointments a year, unique clients a year
    ("solo", 0.45, 400, 200),
    ("small", 0.32, 1_000, 500),
    ("medium", 0.17, 2_000, 1_000),
    ("large", 0.06, 4_000, 2_000),
)
US_NAMES = (
    "Riverside",
    "Lakeside",
    "Summit",
    "Harbor",
    "Maple",
    "Cedar",
    "Bayview",
    "Pinecrest",
    "Elmwood",
    "Clearwater",
)
IN_NAMES = ("Smile", "Glow", "Apollo", "Lotus", "Sunrise", "Cure", "Vital", "Prime", "Care", "Nova")
IN_SPECIALTIES = ("dental", "dermatology", "ivf", "orthopedics", "hair_transplant", "ophthalmology", "cosmetic_surgery")
SHORT = {
    "dental": "dental",
    "dermatology": "derma",
    "ivf": "ivf",
    "orthopedics": "ortho",
    "hair_transplant": "hair",
    "ophthalmology": "eye",
    "cosmetic_surgery": "cosmetic",
}
IN_CITIES = ("Mumbai", "Delhi", "Bengaluru", "Pune", "Hyderabad", "Chennai", "Kolkata", "Ahmedabad")
PACKAGE_PRICES = (2_500, 4_000, 7_500, 9_000, 12_000, 15_000, 25_000, 40_000, 60_000, 85_000, 120_000, 150_000)
REMINDER = (
    "Hi {first_name}, this is {clinic}. Reminder: your hearing appointment is on {day} at {hour}. "
    "Reply C to confirm or R to reschedule."
)
NEWSLETTER = (
    "{clinic}: free hearing screenings all month, and 20% off hearing-aid batteries. Book online or call us. "
    "Reply STOP to opt out."
)
FIRST_NAMES = ("Maria", "James", "Ana", "Robert", "Zoë", "Li", "Patricia", "José", "Linda", "Oluwaseun", "Chloé")


@dataclass(frozen=True)
class Event:
    at: datetime
    order: int  # ties at the same instant keep their generation order
    action: Callable[[Billing, datetime], Any]
    label: str


@dataclass
class DemoSummary:
    clinics: dict[str, int] = field(default_factory=dict)  # market → clinics
    operations: int = 0
    declined: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # error type → count (expected in a demo)
    start: datetime | None = None
    until: datetime | None = None


class DemoBuilder:
    """Collects dated events for every demo clinic; `run` replays them in time order."""

    def __init__(self, start: datetime, until: datetime, seed: int):
        self.start, self.until = start, until
        self.random = random.Random(seed)
        self.events: list[Event] = []
        self.charged: dict[str, Any] = {}  # lead charges by key, once run: what later disputes refer to

    def add(self, at: datetime, label: str, action: Callable[[Billing, datetime], Any], always: bool = False) -> None:
        if always or self.start <= at < self.until:
            self.events.append(Event(at, len(self.events), action, label))

    def days(self, zone: str) -> Iterator[datetime]:
        """Local business mornings (09:00) from start to until."""
        local = ZoneInfo(zone)
        day = self.start.astimezone(local).date()
        while True:
            morning = datetime.combine(day, time(9, 0), local)
            if morning >= self.until:
                return
            if morning >= self.start:
                yield morning
            day += timedelta(days=1)

    def jitter(self, at: datetime, hours: float = 8) -> datetime:
        return at + timedelta(seconds=self.random.randrange(int(hours * 3600)))


def size_mix(clinics: int, rng: random.Random) -> list[tuple[str, float, int, int]]:
    """The practice note's size shares as whole clinics (largest remainder), every size at least
    once from four clinics up, in a seeded order: a small demo still shows every size."""
    exact = [share * clinics for _size, share, _appointments, _clients in US_SIZES]
    counts = [int(x) for x in exact]
    if clinics >= len(US_SIZES):
        counts = [max(1, c) for c in counts]
    by_remainder = sorted(range(len(US_SIZES)), key=lambda i: counts[i] - exact[i])
    while sum(counts) != clinics:
        step = 1 if sum(counts) < clinics else -1
        i = by_remainder[0] if step > 0 else max(range(len(US_SIZES)), key=lambda k: counts[k])
        counts[i] += step
        by_remainder = by_remainder[1:] + by_remainder[:1]
    mix = [size for size, count in zip(US_SIZES, counts, strict=True) for _ in range(count)]
    return rng.sample(mix, len(mix))


def _us_clinic(builder: DemoBuilder, number: int, profile: tuple[str, float, int, int]) -> None:
    rng = builder.random
    size, _share, appointments, clients = profile
    clinic = f"us-{size}-{number:02d}"
    name = f"{US_NAMES[number % len(US_NAMES)]} Hearing ({size})"
    preferred = rng.random() < 0.2
    plan = rng.choices(("payg", "package", "bundle"), weights=(0.7, 0.2, 0.1))[0]
    zone = "America/New_York"
    first_day = next(builder.days(zone))
    builder.add(
        first_day - timedelta(hours=2),
        f"register {clinic}",
        lambda b, at: b.register_clinic(
            clinic,
            name,
            "US",
            key=f"demo:{clinic}:register",
            segment="preferred" if preferred else "standard",
            bundle=plan == "bundle",
            clinic_size=size,
            at=at,
        ),
        always=True,
    )
    daily_appointments = appointments / 250  # business days a year
    # a month of reminders (2 segments), voicemail drops (0.4 calls of ~1.5 min) and the newsletter
    monthly_spend = daily_appointments * 21 * (2 * 85 + 0.4 * 1.5 * 160) + clients * 2 * 85
    topup = max(100_000, int(monthly_spend * 1.5 / 100_000 + 1) * 100_000)  # ~6 weeks, whole $10
    for n, day in enumerate(builder.days(zone)):
        if n % 7 == 0:  # the weekly look at the balance
            method = "card_declined" if rng.random() < 0.05 else "card_ok"
            builder.add(
                day - timedelta(minutes=30),
                f"{clinic} tops up",
                partial(_top_up_if_low, clinic, topup, method, f"demo:{clinic}:topup:{n}"),
            )
        if n % 30 == 0 and plan in ("package", "bundle"):
            for product in ("SMS", "VOICE") if plan == "bundle" else ("SMS",):
                code = f"{size.upper()}-{product}"
                builder.add(
                    day - timedelta(hours=1),
                    f"{clinic} buys {code}",
                    partial(_buy_package, clinic, code, f"demo:{clinic}:package:{code}:{n}"),
                )
        if day.day == 15:  # the monthly newsletter to every client
            builder.add(
                builder.jitter(day, 2),
                f"{clinic} newsletter",
                partial(
                    _send,
                    clinic,
                    SmsCampaign(body=NEWSLETTER.format(clinic=name.split(" (", maxsplit=1)[0]), recipients=clients),
                    f"demo:{clinic}:newsletter:{n}",
                ),
            )
        if day.day == 1:  # birthday greetings for this month's birthdays
            builder.add(
                builder.jitter(day, 2),
                f"{clinic} birthdays",
                partial(
                    _send,
                    clinic,
                    SmsCampaign(body="Happy birthday from all of us! 🎂", recipients=max(1, clients // 12)),
                    f"demo:{clinic}:birthday:{n}",
                ),
            )
        if day.weekday() >= 5:
            continue
        booked = max(1, round(rng.gauss(daily_appointments, daily_appointments * 0.3)))
        recipients = tuple(
            {
                "first_name": rng.choice(FIRST_NAMES),
                "clinic": name.split(" (", maxsplit=1)[0],
                "day": (day + timedelta(days=1)).strftime("%a %b %-d"),
                "hour": f"{rng.randint(8, 16)}:{rng.choice(('00', '15', '30', '45'))}",
            }
            for _ in range(booked)
        )
        builder.add(
            builder.jitter(day, 1),
            f"{clinic} reminders",
            partial(
                _send, clinic, SmsCampaign(template=REMINDER, recipient_fields=recipients), f"demo:{clinic}:sms:{n}"
            ),
        )
        if rng.random() < 0.6:
            calls = tuple(
                CallRecord(
                    duration_s=Decimal(rng.randint(5, 140)),
                    outcome=rng.choices(("completed", "voicemail", "no-answer", "busy"), weights=(5, 3, 2, 1))[0],
                )
                for _ in range(max(1, int(booked * 0.4)))
            )
            builder.add(
                builder.jitter(day + timedelta(hours=4), 3),
                f"{clinic} voicemail drops",
                partial(_send, clinic, VoiceCampaign(calls=calls), f"demo:{clinic}:voice:{n}"),
            )


def _top_up_if_low(clinic: str, credits: int, method: str, key: str, b: Billing, at: datetime) -> Any:
    """Clinics top up when they run low; a declined card is retried with another card."""
    if b.balance(clinic, at=at).balance >= credits // 3:
        return None
    result = b.purchase(clinic, credits, payment_method=method, key=key, at=at)
    if result.status == "failed":
        return b.purchase(clinic, credits, payment_method="card_ok", key=key + ":retry", at=at + timedelta(minutes=7))
    return result


def _buy_package(clinic: str, code: str, key: str, b: Billing, at: datetime) -> Any:
    """A clinic buys one of the monthly packages with the card that works."""
    return b.purchase(clinic, code, payment_method="card_ok", key=key, at=at)


def _send(clinic: str, campaign: SmsCampaign | VoiceCampaign, key: str, b: Billing, at: datetime) -> Any:
    """A clinic sends a campaign (charged under `key`)."""
    return b.charge(clinic, campaign, key=key, at=at)


def _lead(
    builder: DemoBuilder, clinic: str, request: LeadRequest, key: str, patient: str, b: Billing, at: datetime
) -> Any:
    """A lead charged once under `key`; later disputes find it in `builder.charged`."""
    return builder.charged.setdefault(key, b.charge(clinic, request, key=key, at=at, patient_ref=patient))


def _in_clinic(builder: DemoBuilder, number: int, referrer: str | None) -> str:
    rng = builder.random
    specialty = rng.choice(IN_SPECIALTIES)
    city = rng.choice(IN_CITIES)
    clinic = f"in-{SHORT[specialty]}-{number:02d}"
    name = f"{IN_NAMES[number % len(IN_NAMES)]} {specialty.replace('_', ' ').title()}, {city}"
    zone = "Asia/Kolkata"
    days = list(builder.days(zone))
    builder.add(
        days[0] - timedelta(hours=2),
        f"register {clinic}",
        lambda b, at: b.register_clinic(clinic, name, "IN", key=f"demo:{clinic}:register", referred_by=referrer, at=at),
        always=True,
    )
    weekly_leads = rng.choice((4, 6, 9, 14, 20))
    prices = [p for p in PACKAGE_PRICES if rng.random() < 0.6] or [12_000]
    patients: list[str] = []
    for n, day in enumerate(days):
        if n % 5 == 0:
            amount = rng.choice((5_000, 10_000, 10_000, 20_000))
            promo = rng.choice((None, None, "EXTRA2K", "DOUBLE5K")) if amount == 5_000 else None
            builder.add(
                day - timedelta(minutes=45),
                f"{clinic} tops up",
                partial(_top_up_in, clinic, amount, promo, n),
            )
        for lead in range(_poisson(rng, weekly_leads / 7)):
            duplicate = patients and rng.random() < 0.07
            patient = rng.choice(patients[-20:]) if duplicate else patient_ref(f"+91 9{rng.randrange(10**9):09d}")
            patients.append(patient)
            request = LeadRequest(
                product=rng.choice(("lead_chat", "lead_call")),
                specialty=specialty,
                city=city,
                package_price=Decimal(rng.choice(prices)),
            )
            key = f"demo:{clinic}:lead:{n}:{lead}"
            at = builder.jitter(day, 10)
            builder.add(
                at,
                f"{clinic} lead",
                partial(_lead, builder, clinic, request, key, patient),
            )
            reason = (
                "duplicate" if duplicate else rng.choices((None, "invalid", "not_reachable"), weights=(92, 5, 3))[0]
            )
            if reason is not None:
                builder.add(
                    at + timedelta(hours=rng.randint(2, 60)),
                    f"{clinic} disputes a lead",
                    partial(_dispute, builder, clinic, key, reason),
                )
    return clinic


def patient_ref(phone: str) -> str:
    """What the ledger keeps of a lead's person: a digest of the phone, never the phone (the ledger
    is append-only, and a person must be erasable: names and phones live beside it, in the
    backend's own tables). The same phone gives the same reference, which is what finds a duplicate."""
    return "p-" + hashlib.sha256(phone.encode()).hexdigest()[:24]


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth): leads arrive independently at a steady rate."""
    limit, count, product = pow(2.718281828459045, -mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _top_up_in(clinic: str, amount: int, promo: str | None, n: int, b: Billing, at: datetime) -> Any:
    if b.balance(clinic, at=at).balance >= 2_500:
        return None
    if promo is not None and b.quote_topup(clinic, amount, promo, at=at).promo_refusal is not None:
        promo = None  # the clinic sees the preview refuse the code, and pays without it
    return b.purchase(clinic, amount, payment_method="upi_ok", key=f"demo:{clinic}:topup:{n}", promo_code=promo, at=at)


def _dispute(builder: DemoBuilder, clinic: str, charge_key: str, reason: str, b: Billing, at: datetime) -> Any:
    """Dispute the lead charged under `charge_key`, if it was approved (a declined lead cost nothing)."""
    charge = builder.charged.get(charge_key)
    if charge is None or not charge.approved:
        return None
    return b.open_dispute(clinic, charge.transaction_id, reason=reason, key=f"{charge_key}:dispute", at=at)


def _admin_decisions(builder: DemoBuilder) -> None:
    """Every Monday an admin works through the disputes older than three days."""
    for n, day in enumerate(builder.days("Asia/Kolkata")):
        if day.weekday() == 0:
            builder.add(day + timedelta(hours=2), "admin decides disputes", partial(_decide, n))
        if day.day == 1:
            builder.add(day, "expiry sweep", lambda b, at: b.expire_lots(at))


def _decide(week: int, b: Billing, at: datetime) -> None:
    rng = random.Random(week)
    for dispute in b.disputes(status="open"):
        if at - dispute.opened_at < timedelta(days=3):
            continue
        approve = rng.random() < 0.7
        note = "confirmed with the call log" if approve else "patient was reachable on a second try"
        decide = b.approve_dispute if approve else b.reject_dispute
        decide(dispute.id, actor="ops@demo", note=note, key=f"demo:decide:{dispute.id}", at=at)


class DemoWindowError(ValueError):
    """The history would start before a shipped pricebook takes effect (or is otherwise impossible)."""


def history_start(until: datetime, months: int) -> datetime:
    """`months` calendar months before `until` (the day clamped to the shorter month's end)."""
    if months < 1:
        raise DemoWindowError(f"months must be at least 1, not {months}")
    index = until.year * 12 + until.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    days_in_month = (datetime(year + month // 12, month % 12 + 1, 1) - datetime(year, month, 1)).days
    return until.replace(year=year, month=month, day=min(until.day, days_in_month))


def check_window(until: datetime, months: int) -> datetime:
    """The history's start, or DemoWindowError when a market's first shipped pricebook is not yet
    in force then (its clinics could not be registered). Reads the workbooks; writes nothing."""
    from engine.loader import load_pricebook

    if until.tzinfo is None:
        raise DemoWindowError("the end of the history needs a time zone")
    start = history_start(until, months)
    first: dict[str, datetime] = {}
    for path in sorted(SHIPPED.glob("*/*.xlsx")):
        meta = load_pricebook(path).meta
        first[meta.pricebook_id] = min(first.get(meta.pricebook_id, meta.effective_from), meta.effective_from)
    pricebook_id, latest = max(first.items(), key=lambda item: item[1])
    if start < latest:
        raise DemoWindowError(
            f"the history would start on {start:%Y-%m-%d}, before {pricebook_id} takes effect "
            f"({latest:%Y-%m-%d %H:%M} UTC): end it later or make it shorter"
        )
    return start


def seed_demo(
    billing: Billing,
    until: datetime = DEMO_UNTIL,
    months: int = 3,
    us_clinics: int = 24,
    in_clinics: int = 16,
    seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
) -> DemoSummary:
    """Publish the shipped pricebooks and replay `months` calendar months of history up to `until`
    (exclusive). Idempotent; the same arguments make the same ledger."""
    start = check_window(until, months)
    summary = DemoSummary(start=start, until=until)
    published = min(start, datetime(2025, 6, 1, tzinfo=until.tzinfo)) - timedelta(days=1)
    for path in sorted(SHIPPED.glob("*/*.xlsx")):
        with contextlib.suppress(BillingError):  # already published: the catalogue is what it is
            billing.publish_pricebook(path, actor="demo", key=f"demo:publish:{path.name}", at=published)
    builder = DemoBuilder(start, until, seed)
    for number, profile in enumerate(size_mix(us_clinics, builder.random), 1):
        _us_clinic(builder, number, profile)
    referrer = None
    for number in range(1, in_clinics + 1):
        clinic = _in_clinic(builder, number, referrer if number % 5 == 0 else None)
        referrer = referrer or clinic
    _admin_decisions(builder)
    events = sorted(builder.events, key=lambda e: (e.at, e.order))
    for done, event in enumerate(events, 1):
        try:
            result = event.action(billing, event.at)
        except BillingError as exc:  # e.g. a dispute the policy already closed: part of real life
            summary.refused[type(exc).__name__] = summary.refused.get(type(exc).__name__, 0) + 1
            result = None
        summary.operations += 1
        if getattr(result, "approved", True) is False:
            summary.declined += 1
        if progress is not None:
            progress(done, len(events))
    for registered in billing.clinics():
        summary.clinics[registered.market] = summary.clinics.get(registered.market, 0) + 1
    return summary


__all__ = ["DEMO_UNTIL", "DemoSummary", "DemoWindowError", "check_window", "history_start", "seed_demo"]
