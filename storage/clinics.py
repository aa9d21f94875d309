"""Clinics and what a charge must know about one at an instant, read in two statements.

A charge used to ask for the clinic, its wallet, the version in force, its pin, its packages, each
product's term and its lots one query at a time (31 statements per charge). `load_state` reads them
together, optionally under the wallet lock: one joined row (clinic, wallet, version in force, pinned
version, recent usage), then the clinic's active packages, its running terms and its open lots in
one UNION. What billing computes from them (the pricing version, the plan, the lots to spend, the
alerts) is plain Python in engine/billing/state.py.

Terms (a pay-as-you-go term's usage counter), holdings (packages bought) and pins (a clinic locked
to a published version) are rows of a clinic here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Connection, Integer, bindparam, func, insert, literal, or_, select, union_all, update

from engine.vocabulary import AccountKind, TransactionKind, TransactionStatus
from storage.accounts import Wallet
from storage.lots import Lot
from storage.schema import accounts, clinic_pins, clinics, holdings, lots, pricebook_versions, terms, transactions
from storage.statements import Statement

TRAILING = timedelta(days=30)  # the window of "recent usage" for the runway alert
B = bindparam


@dataclass(frozen=True)
class Clinic:
    id: str
    name: str
    market: str
    pricebook_id: str
    segment: str
    bundle: bool
    clinic_size: str | None
    timezone: str
    referred_by: str | None


@dataclass(frozen=True)
class NewClinic:
    """A clinic as registration writes it."""

    id: str
    name: str
    market: str
    pricebook_id: str
    segment: str
    bundle: bool
    clinic_size: str | None
    timezone: str
    referred_by: str | None
    created_at: datetime


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
    """The clinic at one instant, as the ledger holds it."""

    clinic: Clinic
    wallet: Wallet
    version_in_force: int | None  # the latest published version of its pricebook at that instant
    pinned_version: int | None
    packages: tuple[str, ...]  # package codes held now, latest ending first
    terms: dict[str, Term]  # product → running term
    lots: list[Lot]  # unexpired lots holding credits (some may be due)
    charged_30d: int = 0  # net credits charged in the TRAILING window up to now


def _clinic(row: object) -> Clinic:
    return Clinic(*(getattr(row, name) for name in Clinic.__dataclass_fields__))


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
        transactions.c.kind == TransactionKind.CHARGE.value,
        transactions.c.status == TransactionStatus.POSTED.value,
        transactions.c.at >= B("b_since"),
        transactions.c.at <= B("b_at"),
    )
    .scalar_subquery()
)
_CLINIC = (
    select(
        clinics,
        accounts.c.id.label("wallet_id"),
        accounts.c.balance,
        accounts.c.overdraft_limit,
        accounts.c.last_at,
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


def load_state(conn: Connection, clinic_id: str, at: datetime, lock: bool = False) -> ClinicState | None:
    """The clinic at `at`, or None when there is no such clinic; with `lock`, its wallet row is
    locked until the transaction ends (PostgreSQL: FOR UPDATE; SQLite: BEGIN IMMEDIATE already
    holds the database's write lock)."""
    params = {"b_clinic": clinic_id, "b_at": at, "b_since": at - TRAILING}
    locked = lock and conn.dialect.name == "postgresql"
    row = (_CLINIC_LOCKED if locked else _CLINIC_READ).run(conn, params).first()
    if row is None:
        return None
    wallet = Wallet(int(row.wallet_id), row.id, row.market, int(row.balance), int(row.overdraft_limit), row.last_at)
    listed = _LISTS.run(conn, params).all()
    held = sorted((r for r in listed if r.tag == "holding"), key=lambda r: r.until, reverse=True)
    return ClinicState(
        clinic=_clinic(row),
        wallet=wallet,
        version_in_force=None if row.in_force is None else int(row.in_force),
        pinned_version=None if row.pinned is None else int(row.pinned),
        packages=tuple(dict.fromkeys(r.name for r in held)),
        terms={
            r.name: Term(int(r.id), r.name, int(r.amount), int(r.version), r.until) for r in listed if r.tag == "term"
        },
        lots=[Lot(int(r.id), r.name, int(r.amount), r.until) for r in listed if r.tag == "lot"],
        charged_30d=int(row.charged_30d),
    )


def clinic(conn: Connection, clinic_id: str) -> Clinic | None:
    row = conn.execute(select(clinics).where(clinics.c.id == clinic_id)).first()
    return None if row is None else _clinic(row)


def all_clinics(conn: Connection) -> list[Clinic]:
    return [_clinic(row) for row in conn.execute(select(clinics).order_by(clinics.c.id))]


def exists(conn: Connection, clinic_id: str) -> bool:
    return conn.execute(select(clinics.c.id).where(clinics.c.id == clinic_id)).first() is not None


def insert_clinic(conn: Connection, new: NewClinic) -> None:
    conn.execute(insert(clinics).values(**new.__dict__))


def set_segment(conn: Connection, clinic_id: str, segment: str) -> None:
    conn.execute(update(clinics).where(clinics.c.id == clinic_id).values(segment=segment))


def wallet_ids(conn: Connection, market: str) -> list[tuple[int, str]]:
    """(wallet id, clinic id) of every wallet of a market."""
    query = select(accounts.c.id, accounts.c.clinic_id).where(
        accounts.c.kind == AccountKind.WALLET.value, accounts.c.market == market
    )
    return [(int(wallet_id), str(clinic_id)) for wallet_id, clinic_id in conn.execute(query)]


# -- terms, holdings, pins -------------------------------------------------------------------------


@dataclass(frozen=True)
class NewTerm:
    clinic_id: str
    product: str
    starts_at: datetime
    ends_at: datetime
    pricebook_id: str
    version: int


def start_term(conn: Connection, new: NewTerm) -> Term:
    term_id = conn.execute(insert(terms).values(**new.__dict__, units=0).returning(terms.c.id)).scalar_one()
    return Term(int(term_id), new.product, 0, new.version, new.ends_at)


_COUNT_UNITS = Statement(update(terms).where(terms.c.id == B("b_term")).values(units=terms.c.units + B("b_units")))


def count_term_units(conn: Connection, term: Term, units: int) -> None:
    """Add a charge's units to its pay-as-you-go term (graduated tiers price the term's total)."""
    _COUNT_UNITS.run(conn, {"b_term": term.id, "b_units": units})
    term.units += units


@dataclass(frozen=True)
class Holding:
    clinic_id: str
    product: str
    package_code: str
    starts_at: datetime
    ends_at: datetime
    transaction_id: int


def add_holding(conn: Connection, holding: Holding) -> None:
    conn.execute(insert(holdings).values(**holding.__dict__))


@dataclass(frozen=True)
class Pin:
    clinic_id: str
    pricebook_id: str
    version: int
    pinned_from: datetime
    pinned_until: datetime | None
    reason: str
    actor: str


def add_pin(conn: Connection, pin: Pin) -> None:
    conn.execute(insert(clinic_pins).values(**pin.__dict__))
