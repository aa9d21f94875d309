"""A clinic at one instant, as billing reasons about it: its plan, the version that prices it, and
the pay-as-you-go term a charge counts against.

storage/clinics.py reads the state (clinic, wallet, version in force, pin, packages, terms, lots,
recent usage) in two statements; this module holds the decisions taken from it, so that a charge,
a purchase and the dashboard reach them the same way.

`States` keeps each clinic's state between charges (one per database, in this process): a charge
priced from a kept state is posted only while the wallet's version is the one it was read at
(storage/clinics.py `verify`, storage/fast.py), so a kept state saves reading the clinic again and
can never price a charge stale. A kept state is never changed in place: a charge puts the state
after it, a new object.
"""

from __future__ import annotations

import threading
import weakref
from datetime import datetime, timedelta
from typing import Final

from engine.billing.catalog import Catalog
from engine.billing.errors import NoPricebook, UnknownClinic
from engine.errors import OutOfOrder
from engine.pricebook.model import CompiledPricebook
from engine.vocabulary import Plan
from storage import accounts, clinics
from storage.accounts import Wallet
from storage.clinics import ClinicState, NewTerm, Term
from storage.database import Connection, Database

__all__ = [
    "CLOCK_SKEW",
    "ClinicState",
    "States",
    "Term",
    "clinic_time",
    "current",
    "fresh",
    "load",
    "packages_cover",
    "plan",
    "pricing_version",
    "start_term",
    "states",
    "term_missing",
    "wallet_of",
]


#: how far an operation may be dated before the clinic's latest one and still be posted (at that
#: latest time): the clocks of the servers that call creditbook differ by this much at most
CLOCK_SKEW: Final = timedelta(seconds=5)


def clinic_time(found: ClinicState, at: datetime) -> datetime:
    """The time an operation is posted at: a clinic's time only moves forward. An operation dated
    before the clinic's latest posted one is posted at that time when it is at most CLOCK_SKEW
    earlier (two servers' clocks), and refused otherwise: a charge cannot be dated before the
    purchase that funds it, nor a second pay-as-you-go term start inside the first."""
    last = found.wallet.last_at
    if last is None or at >= last:
        return at
    if last - at <= CLOCK_SKEW:
        return last
    raise OutOfOrder(
        f"clinic {found.clinic.id}'s latest operation is dated {last.isoformat()}; an operation dated "
        f"{at.isoformat()} would go back in time",
        clinic_id=found.clinic.id,
    )


class States:
    """Clinic states kept between operations, by clinic id (see the module docstring). Bounded: the
    oldest kept are forgotten first."""

    def __init__(self, size: int = 100_000):
        self.size = size
        self._kept: dict[str, ClinicState] = {}
        self._lock = threading.Lock()

    def get(self, clinic_id: str) -> ClinicState | None:
        """The state kept for the clinic (whether the clock has changed it since: `fresh`)."""
        return self._kept.get(clinic_id)

    def put(self, state: ClinicState) -> None:
        with self._lock:
            self._kept.pop(state.clinic.id, None)
            if len(self._kept) >= self.size:
                del self._kept[next(iter(self._kept))]
            self._kept[state.clinic.id] = state

    def drop(self, clinic_id: str) -> None:
        with self._lock:
            self._kept.pop(clinic_id, None)


def fresh(state: ClinicState, at: datetime) -> bool:
    """The clock alone has not changed a state by `at`: no package, term, pin or lot ended, no
    version came into force, the same day (storage/clinics.py `until`)."""
    return state.at is not None and state.until is not None and state.at <= at < state.until


_STATES: weakref.WeakKeyDictionary[Database, States] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def states(db: Database) -> States:
    """The states kept for one database."""
    found = _STATES.get(db)
    if found is None:
        with _STATES_LOCK:
            found = _STATES.setdefault(db, States())
    return found


def load(conn: Connection, clinic_id: str, at: datetime, lock: bool = False) -> ClinicState:
    state = clinics.load_state(conn, clinic_id, at, lock=lock)
    if state is None:
        raise UnknownClinic(f"no clinic {clinic_id!r}", clinic_id=clinic_id)
    return state


def wallet_of(conn: Connection, clinic_id: str) -> Wallet:
    """The clinic's wallet, or UnknownClinic."""
    found = accounts.wallet(conn, clinic_id)
    if found is None:
        raise UnknownClinic(f"no clinic {clinic_id!r}", clinic_id=clinic_id)
    return found


def current(catalog: Catalog, conn: Connection, state: ClinicState, at: datetime) -> CompiledPricebook:
    """The version of the clinic's pricebook in force at `at` (promotions, limits, alerts)."""
    if state.version_in_force is None:
        raise NoPricebook(f"no version of {state.clinic.pricebook_id} is in force at {at.isoformat()}")
    return catalog.version(conn, state.clinic.pricebook_id, state.version_in_force)


def plan(state: ClinicState) -> tuple[str, ...] | str:
    """The clinic's plan: the package codes it holds, else pay-as-you-go."""
    return state.packages or Plan.PAYG


def packages_cover(state: ClinicState, product: str, current: CompiledPricebook) -> bool:
    """A package held now prices this product (no pay-as-you-go term applies)."""
    held = set(state.packages)
    return any(p.package_code in held and p.product == product for p in current.packages)


def term_missing(state: ClinicState, product: str, current: CompiledPricebook) -> bool:
    """The product is sold on a pay-as-you-go term and the clinic has none running: `start_term`
    starts it."""
    spec = current.product(product)
    return spec is not None and spec.term_days is not None and product not in state.terms


def start_term(
    conn: Connection, state: ClinicState, product: str, at: datetime, current: CompiledPricebook
) -> Term | None:
    """The running term of `product`, started now on the version in force when there is none
    (docs/domain.md §3: a pay-as-you-go term starts with the first purchase or use)."""
    spec = current.product(product)
    if spec is None or spec.term_days is None:
        return None
    if product in state.terms:
        return state.terms[product]
    new = NewTerm(
        clinic_id=state.clinic.id,
        product=product,
        starts_at=at,
        ends_at=at + timedelta(days=spec.term_days),
        pricebook_id=current.pricebook_id,
        version=current.version,
    )
    term = state.terms[product] = clinics.start_term(conn, new)
    return term


def pricing_version(
    catalog: Catalog, conn: Connection, state: ClinicState, product: str, current: CompiledPricebook, at: datetime
) -> CompiledPricebook:
    """Prices come from the clinic's pin, else its pay-as-you-go term's version (a new version
    reaches a running term at its next term, or at the new version's
    existing_customers_effective_from when the pricing team set one), else the current one."""
    pricebook_id = state.clinic.pricebook_id
    if state.pinned_version is not None:
        return catalog.version(conn, pricebook_id, state.pinned_version)
    term = state.terms.get(product)
    if term is None or term.version == current.version or packages_cover(state, product, current):
        return current
    moved = current.meta.existing_customers_effective_from
    if moved is not None and at >= moved:
        return current
    return catalog.version(conn, pricebook_id, term.version)
