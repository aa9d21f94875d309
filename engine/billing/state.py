"""A clinic at one instant, as billing reasons about it: its plan, the version that prices it, and
the pay-as-you-go term a charge counts against.

storage/clinics.py reads the state (clinic, wallet, version in force, pin, packages, terms, lots,
recent usage) in two statements; this module holds the decisions taken from it, so that a charge,
a purchase and the dashboard reach them the same way.
"""

from __future__ import annotations

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
from storage.database import Connection

__all__ = [
    "CLOCK_SKEW",
    "ClinicState",
    "Term",
    "clinic_time",
    "current",
    "load",
    "packages_cover",
    "plan",
    "pricing_version",
    "start_term",
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
