"""Everything a charge needs to know about a clinic at one instant, read in four statements.

A charge used to ask for the clinic, its wallet, the version in force, its pin, its packages, each
product's term and its lots one query at a time (31 statements per charge). `load_state` reads them
together under the wallet lock: one joined row (clinic, wallet, version in force, pinned version),
then the clinic's active packages, its running terms and its open lots. What the charge computes
from them (the pricing version, the plan, the lots to spend, the alerts and the remaining estimate)
is then plain Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Connection, Integer, bindparam, func, insert, literal, or_, select, union_all

from engine.billing.catalog import Catalog
from engine.billing.errors import NoPricebook, UnknownClinic
from engine.billing.support import Clinic
from engine.pricebook.model import CompiledPricebook
from storage import ledger
from storage.fast import Statement
from storage.schema import accounts, clinic_pins, clinics, holdings, lots, pricebook_versions, terms, transactions

TRAILING = timedelta(days=30)  # the window of "recent usage" for the runway alert


@dataclass
class Term:
    """A running pay-as-you-go term of one product: its usage counter and the version it started on."""

    id: int
    product: str
    units: int
    version: int
    ends_at: datetime


@dataclass
class ClinicState:
    clinic: Clinic
    wallet: ledger.Wallet
    version_in_force: int
    pinned_version: int | None
    packages: tuple[str, ...]  # package codes held now, latest ending first
    terms: dict[str, Term]  # product → running term
    lots: list[ledger.Lot]  # unexpired lots holding credits (some may be due)
    charged_30d: int = 0  # net credits charged in the TRAILING window up to now

    def plan(self) -> tuple[str, ...] | str:
        return self.packages or "PAYG"

    def term_units(self, product: str) -> int:
        term = self.terms.get(product)
        return term.units if term is not None else 0

    def packages_cover(self, product: str, current: CompiledPricebook) -> bool:
        """A package held now prices this product (no pay-as-you-go term applies)."""
        held = set(self.packages)
        return any(p.package_code in held and p.product == product for p in current.packages)

    def spend(self, taken: ledger.Taken, credits: int) -> None:
        """Keep what was read at the start in step with a charge: its lots and the recent usage."""
        self.charged_30d += credits
        parts = dict(taken.by_lot)
        self.lots = [
            ledger.Lot(lot.id, lot.kind, lot.remaining - parts.get(lot.id, 0), lot.expires_at)
            for lot in self.lots
            if lot.remaining - parts.get(lot.id, 0) > 0
        ]

    def due_lots(self, at: datetime) -> list[ledger.Lot]:
        return [lot for lot in self.lots if lot.expires_at is not None and lot.expires_at <= at]

    def expiring(self, at: datetime, until: datetime) -> tuple[int, datetime | None]:
        """Credits of usable lots that expire in (at, until], and the earliest such expiry."""
        soon = [lot for lot in self.lots if lot.expires_at is not None and at < lot.expires_at <= until]
        return sum(lot.remaining for lot in soon), min((lot.expires_at for lot in soon), default=None)  # type: ignore[type-var]


B = bindparam
_IN_FORCE = (
    select(pricebook_versions.c.version)
    .where(
        pricebook_versions.c.pricebook_id == clinics.c.pricebook_id, pricebook_versions.c.effective_from <= B("b_at")
    )
    .order_by(pricebook_versions.c.effective_from.desc())
    .limit(1)
    .scalar_subquery()
)
_PINNED = (
    select(clinic_pins.c.version)
    .where(
        clinic_pins.c.clinic_id == clinics.c.id,
        clinic_pins.c.pinned_from <= B("b_at"),
        or_(clinic_pins.c.pinned_until.is_(None), clinic_pins.c.pinned_until > B("b_at")),
    )
    .order_by(clinic_pins.c.pinned_from.desc(), clinic_pins.c.id.desc())
    .limit(1)
    .scalar_subquery()
)
_CHARGED = (  # net credits charged in the trailing window (the runway alert's recent usage)
    select(func.coalesce(func.sum(transactions.c.credits - transactions.c.refunded), 0))
    .where(
        transactions.c.clinic_id == clinics.c.id,
        transactions.c.kind == "charge",
        transactions.c.status == "posted",
        transactions.c.at >= B("b_since"),
        transactions.c.at <= B("b_at"),
    )
    .scalar_subquery()
)
# Built once (see storage/ledger.py): the clinic, its wallet, the version in force and its pin.
_CLINIC = (
    select(
        clinics,
        accounts.c.id.label("wallet_id"),
        accounts.c.balance,
        accounts.c.overdraft_limit,
        _IN_FORCE.label("in_force"),
        _PINNED.label("pinned"),
        _CHARGED.label("charged_30d"),
    )
    .select_from(clinics.join(accounts, accounts.c.clinic_id == clinics.c.id))
    .where(clinics.c.id == B("b_clinic"))
)
_CLINIC_LOCKED = Statement(_CLINIC.with_for_update(of=accounts))
_CLINIC_READ = Statement(_CLINIC)
_LISTS = Statement(  # the clinic's packages, running terms and open lots, in one round trip
    union_all(
        select(
            literal("holding").label("tag"),
            literal(0, BigInteger).label("id"),
            holdings.c.package_code.label("name"),
            literal(0, BigInteger).label("amount"),
            literal(0, Integer).label("version"),
            holdings.c.ends_at.label("until"),
        ).where(
            holdings.c.clinic_id == B("b_clinic"), holdings.c.starts_at <= B("b_at"), holdings.c.ends_at > B("b_at")
        ),
        select(literal("term"), terms.c.id, terms.c.product, terms.c.units, terms.c.version, terms.c.ends_at).where(
            terms.c.clinic_id == B("b_clinic"), terms.c.starts_at <= B("b_at"), terms.c.ends_at > B("b_at")
        ),
        select(literal("lot"), lots.c.id, lots.c.kind, lots.c.remaining, literal(0, Integer), lots.c.expires_at)
        .select_from(lots.join(accounts, accounts.c.id == lots.c.wallet_id))
        .where(accounts.c.clinic_id == B("b_clinic"), lots.c.expired.is_(False), lots.c.remaining > 0),
    )
)


def load_state(conn: Connection, clinic_id: str, at: datetime, lock: bool = False) -> ClinicState:
    """The clinic at `at`; with `lock`, its wallet row is locked until the transaction ends
    (PostgreSQL: FOR UPDATE; SQLite: BEGIN IMMEDIATE already holds the database's write lock)."""
    params = {"b_clinic": clinic_id, "b_at": at, "b_since": at - TRAILING}
    locked = lock and conn.dialect.name == "postgresql"
    row = (_CLINIC_LOCKED if locked else _CLINIC_READ).run(conn, params).first()
    if row is None:
        raise UnknownClinic(f"no clinic {clinic_id!r}")
    clinic = Clinic.from_row(row)
    wallet = ledger.Wallet(int(row.wallet_id), row.id, row.market, int(row.balance), int(row.overdraft_limit))
    listed = _LISTS.run(conn, params).all()
    held = sorted((r for r in listed if r.tag == "holding"), key=lambda r: r.until, reverse=True)
    return ClinicState(
        clinic=clinic,
        wallet=wallet,
        version_in_force=int(row.in_force) if row.in_force is not None else 0,
        pinned_version=None if row.pinned is None else int(row.pinned),
        packages=tuple(dict.fromkeys(r.name for r in held)),
        terms={
            r.name: Term(int(r.id), r.name, int(r.amount), int(r.version), r.until) for r in listed if r.tag == "term"
        },
        lots=[ledger.Lot(int(r.id), r.name, int(r.amount), r.until) for r in listed if r.tag == "lot"],
        charged_30d=int(row.charged_30d),
    )


def current_pricebook(catalog: Catalog, conn: Connection, state: ClinicState, at: datetime) -> CompiledPricebook:
    """The version of the clinic's pricebook in force at `at` (promotions, limits, alerts)."""
    if not state.version_in_force:
        raise NoPricebook(f"no version of {state.clinic.pricebook_id} is in force at {at.isoformat()}")
    return catalog.version(conn, state.clinic.pricebook_id, state.version_in_force)


def start_term(
    conn: Connection, state: ClinicState, product: str, at: datetime, current: CompiledPricebook
) -> Term | None:
    """The running term of `product`, started now on the version in force when there is none
    (DOMAIN §3: a pay-as-you-go term starts with the first purchase or use)."""
    spec = current.product(product)
    if spec is None or spec.term_days is None:
        return None
    if product in state.terms:
        return state.terms[product]
    ends = at + timedelta(days=spec.term_days)
    term_id = conn.execute(
        insert(terms)
        .values(
            clinic_id=state.clinic.id,
            product=product,
            starts_at=at,
            ends_at=ends,
            units=0,
            pricebook_id=current.pricebook_id,
            version=current.version,
        )
        .returning(terms.c.id)
    ).scalar_one()
    term = Term(int(term_id), product, 0, current.version, ends)
    state.terms[product] = term
    return term


def pricing_version(
    catalog: Catalog, conn: Connection, state: ClinicState, product: str, current: CompiledPricebook, at: datetime
) -> CompiledPricebook:
    """Prices come from the clinic's pin, else its pay-as-you-go term's version (DOMAIN §5: a new
    version reaches a running term at its next term, or at the new version's
    existing_customers_effective_from when the pricing team set one), else the current one."""
    pricebook_id = state.clinic.pricebook_id
    if state.pinned_version is not None:
        return catalog.version(conn, pricebook_id, state.pinned_version)
    term = state.terms.get(product)
    if term is None or term.version == current.version or state.packages_cover(product, current):
        return current
    moved = current.meta.existing_customers_effective_from
    if moved is not None and at >= moved:
        return current
    return catalog.version(conn, pricebook_id, term.version)
