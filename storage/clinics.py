"""Clinics and what a charge must know about one at an instant, read in two statements.

A charge used to ask for the clinic, its wallet, the version in force, its pin, its packages, each
product's term and its lots one query at a time (31 statements per charge). `load_state` reads them
together, optionally under the wallet lock: one joined row (clinic, wallet, version in force, pinned
version), then the clinic's active packages, its running terms, its open lots, its usage of the
last 30 days (storage/usage.py's counters: at most 30 rows, however long its history) and the
alerts the outbox records as holding (storage/outbox.py `alert_changed`) in one UNION. What
billing computes from them (the pricing version, the plan, the lots to spend, the alerts) is plain
Python in engine/billing/state.py.

A state carries the wallet's `version` and how long it stays true by the clock alone (`until`: the
next end of a package, term or pin, expiry of a lot, version coming into force, or midnight, when
the trailing window moves), so that billing can keep it between operations and post a charge
priced from it only while `verify` finds the wallet's version unchanged (and the same version in
force, and the same pin: a version published since changes no wallet).

Terms (a pay-as-you-go term's usage counter), holdings (packages bought) and pins (a clinic locked
to a published version) are rows of a clinic here too; writing one changes the wallet's version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    bindparam,
    cast,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)

from engine.vocabulary import AccountKind
from storage import accounts, statements, usage
from storage.accounts import Wallet
from storage.lots import Lot
from storage.schema import accounts as accounts_table
from storage.schema import alert_states, clinic_pins, clinics, holdings, lots, pricebook_versions, terms, usage_days
from storage.statements import Statement

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
    charged_30d: int = 0  # net credits charged on the clinic's last TRAILING_DAYS days (storage/usage.py)
    alerts: frozenset[str] = frozenset()  # the alert events whose condition holds (storage/outbox.py)
    at: datetime | None = None  # the instant it was read for
    until: datetime | None = None  # when the clock alone changes it (see `until`)
    ends: tuple[datetime, ...] = field(default=(), repr=False)  # packages and terms ending, version and pin changes


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
_NEXT_VERSION = (  # when the next published version comes into force (the state's `until`)
    select(func.min(pricebook_versions.c.effective_from))
    .where(pricebook_versions.c.pricebook_id == clinics.c.pricebook_id, pricebook_versions.c.effective_from > B("b_at"))
    .scalar_subquery()
)


def _pin(column: Any) -> Any:
    return (
        select(column)
        .where(
            clinic_pins.c.clinic_id == clinics.c.id,
            clinic_pins.c.pinned_from <= B("b_at"),
            or_(clinic_pins.c.pinned_until.is_(None), clinic_pins.c.pinned_until > B("b_at")),
        )
        .order_by(clinic_pins.c.pinned_from.desc(), clinic_pins.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


_PINNED = _pin(clinic_pins.c.version)
_CLINIC = (
    select(
        clinics,
        accounts_table.c.id.label("wallet_id"),
        accounts_table.c.balance,
        accounts_table.c.overdraft_limit,
        accounts_table.c.last_at,
        accounts_table.c.version.label("wallet_version"),
        _IN_FORCE.label("in_force"),
        _PINNED.label("pinned"),
        _NEXT_VERSION.label("next_version"),
        _pin(clinic_pins.c.pinned_until).label("pinned_until"),
    )
    .select_from(clinics.join(accounts_table, accounts_table.c.clinic_id == clinics.c.id))
    .where(clinics.c.id == B("b_clinic"))
)
_CLINIC_LOCKED = Statement(_CLINIC.with_for_update(of=accounts_table))
_CLINIC_READ = Statement(_CLINIC)
_LISTS = Statement(  # packages, running terms, open lots, the trailing usage and alerts, in one round trip
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
        .select_from(lots.join(accounts_table, accounts_table.c.id == lots.c.wallet_id))
        .where(accounts_table.c.clinic_id == B("b_clinic"), lots.c.expired.is_(False), lots.c.remaining > 0),
        select(
            literal("usage"),
            literal(0, BigInteger),
            literal(""),
            cast(func.coalesce(func.sum(usage_days.c.charged - usage_days.c.charge_refunded), 0), BigInteger),
            literal(0, Integer),
            null(),
        ).where(
            usage_days.c.clinic_id == B("b_clinic"), usage_days.c.day >= B("b_first"), usage_days.c.day <= B("b_day")
        ),
        select(
            literal("alert"),
            literal(0, BigInteger),
            alert_states.c.kind,
            literal(0, BigInteger),
            literal(0, Integer),
            null(),
        ).where(alert_states.c.clinic_id == B("b_clinic"), alert_states.c.active.is_(True)),
    )
)


def load_state(conn: Connection, clinic_id: str, at: datetime, lock: bool = False) -> ClinicState | None:
    """The clinic at `at`, or None when there is no such clinic; with `lock`, its wallet row is
    locked until the transaction ends (PostgreSQL: FOR UPDATE; SQLite: BEGIN IMMEDIATE already
    holds the database's write lock). Its two statements always see one snapshot: on a PostgreSQL
    connection in autocommit (storage/fast.py's) they run in a read-only REPEATABLE READ
    transaction of their own, or a charge committed between them would tear the state."""
    if conn.dialect.name == "postgresql" and _between_transactions(conn):
        statements.execute(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            found = _load(conn, clinic_id, at, lock)
        except BaseException:
            if not conn.invalidated:
                statements.execute(conn, "ROLLBACK")
            raise
        statements.execute(conn, "COMMIT")
        return found
    return _load(conn, clinic_id, at, lock)


def _between_transactions(conn: Connection) -> bool:
    """A PostgreSQL connection in autocommit, outside any transaction: each statement its own."""
    driver: Any = conn.connection.driver_connection
    return bool(driver.autocommit) and driver.info.transaction_status.name == "IDLE"


def _load(conn: Connection, clinic_id: str, at: datetime, lock: bool) -> ClinicState | None:
    params: dict[str, object] = {"b_clinic": clinic_id, "b_at": at}
    locked = lock and conn.dialect.name == "postgresql"
    row = (_CLINIC_LOCKED if locked else _CLINIC_READ).run(conn, params).first()
    if row is None:
        return None
    wallet = Wallet(
        int(row.wallet_id),
        row.id,
        row.market,
        int(row.balance),
        int(row.overdraft_limit),
        row.last_at,
        row.timezone,
        int(row.wallet_version),
    )
    params["b_first"], params["b_day"] = usage.trailing_days(usage.day_of(at, row.timezone))
    listed = _LISTS.run(conn, params).all()
    held = sorted((r for r in listed if r.tag == "holding"), key=lambda r: r.until, reverse=True)
    found = [Lot(int(r.id), r.name, int(r.amount), r.until) for r in listed if r.tag == "lot"]
    ends = tuple(r.until for r in listed if r.tag in ("holding", "term"))
    ends += tuple(moment for moment in (row.next_version, row.pinned_until) if moment is not None)
    return ClinicState(
        clinic=_clinic(row),
        wallet=wallet,
        version_in_force=None if row.in_force is None else int(row.in_force),
        pinned_version=None if row.pinned is None else int(row.pinned),
        packages=tuple(dict.fromkeys(r.name for r in held)),
        terms={
            r.name: Term(int(r.id), r.name, int(r.amount), int(r.version), r.until) for r in listed if r.tag == "term"
        },
        lots=found,
        charged_30d=sum(int(r.amount) for r in listed if r.tag == "usage"),
        alerts=frozenset(r.name for r in listed if r.tag == "alert"),
        at=at,
        until=until(at, row.timezone, ends, found),
        ends=ends,
    )


def until(at: datetime, zone: str, ends: tuple[datetime, ...], held: list[Lot]) -> datetime:
    """The first instant after `at` at which the clock alone changes a state read at `at`: a
    package or term ends, a lot expires, the next published version comes into force, the pin
    ends, or the clinic's midnight moves the trailing window."""
    later = [moment for moment in ends if moment > at]
    later += [lot.expires_at for lot in held if lot.expires_at is not None and lot.expires_at > at]
    return min([usage.next_midnight(at, zone), *later])


_VERIFY = (
    select(accounts_table.c.version, _IN_FORCE.label("in_force"), _PINNED.label("pinned"))
    .select_from(clinics.join(accounts_table, accounts_table.c.clinic_id == clinics.c.id))
    .where(accounts_table.c.id == B("b_wallet"))
)
_VERIFY_READ = Statement(_VERIFY)
_VERIFY_LOCKED = Statement(_VERIFY.with_for_update(of=accounts_table))


def verify(conn: Connection, state: ClinicState, at: datetime) -> bool:
    """Whether a state read earlier is still the clinic's at `at` (`unchanged`; the clock's own
    changes are the caller's: `at` must be before `state.until`)."""
    return unchanged(conn, state.wallet.id, (state.wallet.version, state.version_in_force, state.pinned_version), at)


def unchanged(conn: Connection, wallet_id: int, priced_from: tuple[int, int | None, int | None], at: datetime) -> bool:
    """Whether the wallet is still at `priced_from` — its version, the version of its pricebook in
    force at `at`, its pin — as a kept state or a charge priced from one saw it. It takes the
    wallet lock (SQLite: BEGIN IMMEDIATE already holds the database's), so the answer holds until
    the transaction ends; the function of storage/fast.py makes the same check the same way."""
    statement = _VERIFY_LOCKED if conn.dialect.name == "postgresql" else _VERIFY_READ
    row = statement.run(conn, {"b_wallet": wallet_id, "b_at": at}).first()
    return row is not None and (int(row.version), row.in_force, row.pinned) == priced_from


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
    accounts.bump(conn, clinic_id)


def wallet_ids(conn: Connection, market: str) -> list[tuple[int, str]]:
    """(wallet id, clinic id) of every wallet of a market."""
    query = select(accounts_table.c.id, accounts_table.c.clinic_id).where(
        accounts_table.c.kind == AccountKind.WALLET.value, accounts_table.c.market == market
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
    accounts.bump(conn, new.clinic_id)
    return Term(int(term_id), new.product, 0, new.version, new.ends_at)


_COUNT_UNITS = Statement(update(terms).where(terms.c.id == B("b_term")).values(units=terms.c.units + B("b_units")))


def count_term_units(conn: Connection, term: Term, units: int) -> None:
    """Add a charge's units to its pay-as-you-go term (graduated tiers price the term's total). The
    charge that counts them changes the wallet (its debit, or the touch of a free charge)."""
    _COUNT_UNITS.run(conn, {"b_term": term.id, "b_units": units})


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
    accounts.bump(conn, holding.clinic_id)


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
    accounts.bump(conn, pin.clinic_id)
