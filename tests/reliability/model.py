"""A single-threaded reference model of one wallet, for R4: what the ledger should hold after a
sequence of operations, computed in plain Python from the documented rules (DOMAIN §7–9):

- credits live in lots; a lot is usable iff not expired and at < expires_at; an operation first
  records the expiry of the lots whose time has come (when one of them still holds credits);
- charges and negative adjustments take from lots by earliest expiry, never-expiring last, granted
  before paid on ties, then oldest; a charge that would go below zero (limit 0) is declined;
- a refund gives back to the lots the charge took, lowest lot id first; a part whose lot has
  expired meanwhile lands in a new lot of the same kind, valid for the refund grace period;
- a top-up adds a paid lot, and a bonus lot when the pricebook's rules grant one.

Prices and bonuses come from engine.pricing and rules (proven elsewhere); the model checks what the
ledger does with them. It knows nothing of SQL, threads or retries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

GRACE = timedelta(days=7)


def lot_order(lot: tuple[str, int, int, datetime | None, bool]) -> tuple[object, ...]:
    """A total order of lot tuples (a lot that never expires has no expiry to compare)."""
    kind, amount, remaining, expires_at, expired = lot
    return (kind, amount, remaining, expires_at is None, expires_at or datetime.min.replace(tzinfo=UTC), expired)


@dataclass
class Lot:
    key: int  # creation order (the model's stand-in for the lot id)
    kind: str  # paid | granted
    amount: int
    remaining: int
    expires_at: datetime | None
    expired: bool = False

    def usable(self, at: datetime) -> bool:
        return not self.expired and self.remaining > 0 and (self.expires_at is None or at < self.expires_at)


@dataclass
class Wallet:
    balance: int = 0
    lots: list[Lot] = field(default_factory=list)
    taken: dict[int, dict[int, int]] = field(default_factory=dict)  # charge → {lot key: credits}
    given: dict[int, dict[int, int]] = field(default_factory=dict)  # charge → {lot key: credits given back}
    terms: dict[str, int] = field(default_factory=dict)  # product → units used this term

    def _new_lot(self, kind: str, amount: int, expires_at: datetime | None) -> Lot:
        lot = Lot(len(self.lots), kind, amount, amount, expires_at)
        self.lots.append(lot)
        return lot

    def expire(self, at: datetime) -> int:
        """Record the expiry of every lot whose time has come; what it took from the balance."""
        total = 0
        for lot in self.lots:
            if not lot.expired and lot.expires_at is not None and lot.expires_at <= at:
                total += lot.remaining
                lot.remaining, lot.expired = 0, True
        self.balance -= total
        return total

    def due_with_credits(self, at: datetime) -> bool:
        """A lot whose time has come still holds credits: an operation at `at` must record its expiry
        first (the ledger writes that as its own expiry transaction, which the replay applies)."""
        return any(not lot.expired and lot.remaining and lot.expires_at and lot.expires_at <= at for lot in self.lots)

    def credit(self, kind: str, amount: int, expires_at: datetime | None) -> None:
        self._new_lot(kind, amount, expires_at)
        self.balance += amount

    def _take(self, amount: int, at: datetime) -> dict[int, int]:
        order = sorted(
            (lot for lot in self.lots if lot.usable(at)),
            key=lambda lot: (lot.expires_at is None, lot.expires_at or at, lot.kind != "granted", lot.key),
        )
        taken, left = {}, amount
        for lot in order:
            part = min(left, lot.remaining)
            if part:
                lot.remaining -= part
                taken[lot.key] = part
                left -= part
        assert left == 0, "the model's lots do not cover its balance"
        return taken

    def charge(self, charge: int, credits: int, at: datetime) -> bool:
        if self.due_with_credits(at):
            self.expire(at)
        if self.balance - credits < 0:
            return False
        self.taken[charge] = self._take(credits, at)
        self.balance -= credits
        return True

    def take_back(self, credits: int, at: datetime) -> bool:
        """A negative adjustment: refused when the balance cannot cover it."""
        if self.due_with_credits(at):
            self.expire(at)
        if self.balance - credits < 0:
            return False
        self._take(credits, at)
        self.balance -= credits
        return True

    def refund(self, charge: int, credits: int, at: datetime) -> None:
        given = self.given.setdefault(charge, {})
        left = credits
        for key in sorted(self.taken[charge]):
            part = min(left, self.taken[charge][key] - given.get(key, 0))
            if part <= 0:
                continue
            lot = self.lots[key]
            if not lot.expired and (lot.expires_at is None or lot.expires_at > at):
                lot.remaining += part
            else:
                self._new_lot(lot.kind, part, at + GRACE)
            given[key] = given.get(key, 0) + part
            left -= part
        assert left == 0, f"refund of {credits} exceeds charge {charge}"
        self.balance += credits

    def snapshot(self) -> tuple[int, list[tuple[str, int, int, datetime | None, bool]]]:
        return self.balance, sorted(
            ((lot.kind, lot.amount, lot.remaining, lot.expires_at, lot.expired) for lot in self.lots), key=lot_order
        )
