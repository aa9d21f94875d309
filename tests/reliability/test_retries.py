"""R5–R9 and R23: retries. The same key has one effect however it is resent; a lost race or a lost
response is retried, never reported as a decline."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from engine.billing import DatabaseBusy, IdempotencyConflict
from storage import idempotency as idempotency_module
from storage.schema import idempotency_keys, transactions
from tests.support.races import race
from tests.support.reliability import Ledger, lead


def _count(ledger: Ledger, table: Any, **where: Any) -> int:
    return ledger.billing.db.read(
        lambda conn: conn.execute(
            select(func.count()).select_from(table).where(*(table.c[k] == v for k, v in where.items()))
        ).scalar_one()
    )


def test_r5_sequential_resends_have_one_effect(ledger: Ledger) -> None:
    clinic = ledger.wallet("c", 1_000)
    first = ledger.billing.charge(clinic, lead(7), key="K")
    resent = [ledger.billing.charge(clinic, lead(7), key="K") for _ in range(10)]
    assert all(r.replayed for r in resent) and not first.replayed
    assert {r.model_dump_json(exclude={"replayed"}) for r in resent} == {first.model_dump_json(exclude={"replayed"})}
    assert _count(ledger, transactions, clinic_id=clinic, kind="charge") == 1
    assert _count(ledger, idempotency_keys, scope=clinic, key="K") == 1


@pytest.mark.parametrize("variant", ["sound", "check_then_insert"])
def test_r6_concurrent_resends_have_one_effect(ledger: Ledger, variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    clinic = ledger.wallet("c", 1_000)
    if variant == "check_then_insert":  # broken: look for the key, then insert it under a private name
        claim = idempotency_module.claim

        def check_then_insert(conn: Any, scope: str, key: str, *rest: Any) -> Any:
            seen = conn.execute(
                select(idempotency_keys.c.id).where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
            ).first()
            time.sleep(0.05)  # the window between the look and the insert, wide enough to be lost every time
            return claim(conn, scope, key if seen else f"{key}#{uuid.uuid4().hex}", *rest)

        monkeypatch.setattr(idempotency_module, "claim", check_then_insert)
        monkeypatch.setattr(ledger.billing.db, "fast", False)  # the defect is the door's claim: post through it
    raced = race(16, lambda w: [ledger.billing.charge(clinic, lead(7), key="K")])
    outcomes = Counter("replayed" if r.replayed else "original" for r in raced.results)
    print(f"R6 {variant} outcomes: {dict(outcomes)}")
    problems = [repr(e) for e in raced.errors]  # never a raw unique violation
    if outcomes != {"original": 1, "replayed": 15}:
        problems.append(f"outcomes {dict(outcomes)}")
    if ledger.billing.balance(clinic).balance != 1_000 - 7:
        problems.append(f"balance {ledger.billing.balance(clinic).balance}")
    if variant == "sound":
        assert not problems, problems
    else:
        assert problems, "a claim that is not atomic went unnoticed: this test cannot fail"


def test_r7_a_reused_key_with_another_body_is_a_conflict(ledger: Ledger) -> None:
    clinic, other = ledger.wallet("c", 1_000), ledger.wallet("d", 1_000)
    ledger.billing.charge(clinic, lead(3), key="K")
    with pytest.raises(IdempotencyConflict):
        ledger.billing.charge(clinic, lead(7), key="K")
    ledger.billing.charge(other, lead(7), key="K")  # another clinic's key space: its own effect
    assert ledger.billing.balance(clinic).balance == 997 and ledger.billing.balance(other).balance == 993


def test_r8_a_declined_key_stays_declined(ledger: Ledger) -> None:
    clinic = ledger.wallet("c", 0)
    declined = ledger.billing.charge(clinic, lead(7), key="K")
    ledger.billing.purchase(clinic, 1_000, payment_method="upi_ok", key="fund")
    again = ledger.billing.charge(clinic, lead(7), key="K")
    assert not declined.approved and not again.approved and again.replayed
    assert ledger.billing.charge(clinic, lead(7), key="K2").approved


def test_r9_a_lost_response_is_retried_to_the_original_result(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    clinic = ledger.wallet("c", 1_000)
    database = ledger.billing.db
    original_run = database.run
    lost = []

    def run_then_lose_the_reply(work: Any, readonly: bool = False) -> Any:
        result = original_run(work, readonly)
        if not readonly and not lost:
            lost.append(result)
            raise ConnectionResetError("the response was lost after COMMIT")
        return result

    monkeypatch.setattr(database, "run", run_then_lose_the_reply)
    with pytest.raises(ConnectionResetError):
        ledger.billing.charge(clinic, lead(40), key="K")
    monkeypatch.undo()
    retried = ledger.billing.charge(clinic, lead(40), key="K")
    assert retried.replayed and retried.transaction_id == lost[0].transaction_id
    assert _count(ledger, transactions, clinic_id=clinic, kind="charge") == 1
    assert ledger.billing.balance(clinic).balance == 960


class _Lost(Exception):
    def __init__(self, sqlstate: str):
        super().__init__(f"injected {sqlstate}")
        self.sqlstate = sqlstate


FAULTS = {
    "serialization failure 40001": lambda: OperationalError("UPDATE", {}, _Lost("40001")),
    "deadlock 40P01": lambda: OperationalError("UPDATE", {}, _Lost("40P01")),
    "SQLITE_BUSY": lambda: OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked")),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_r23_lost_races_are_retried_never_declined(ledger: Ledger, fault: str) -> None:
    clinic = ledger.wallet("c", 100)
    database = ledger.billing.db
    injected = []

    def twice(conn: Any) -> None:
        if len(injected) < 2:
            injected.append(fault)
            raise FAULTS[fault]()

    database.fault = twice
    charged = ledger.billing.charge(clinic, lead(40), key="K")
    assert charged.approved and database.retries == 2 and len(injected) == 2

    database.fault = lambda conn: (_ for _ in ()).throw(FAULTS[fault]())  # always
    database.attempts = 3
    with pytest.raises(DatabaseBusy, match="busy after 3 attempts"):
        ledger.billing.charge(clinic, lead(40), key="K2")
    database.fault = None
    assert _count(ledger, transactions, clinic_id=clinic, status="declined") == 0  # never "insufficient"
    assert _count(ledger, idempotency_keys, scope=clinic, key="K2") == 0  # nothing recorded
    assert ledger.billing.charge(clinic, lead(40), key="K2").approved  # the same key works afterwards
