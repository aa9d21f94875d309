"""How the one-round-trip charge reaches PostgreSQL (storage/fast.py `post_charge`, storage/database.py
`Database.transaction`): the call is prepared once per connection and sent through libpq with its
parameters as text, on an autocommit connection each thread keeps between charges. What that must
not change: a session that lost the prepared call prepares it again, a connection the server ended
is replaced and the charge posted once, values the text call cannot carry go through psycopg's
cursor and leave the same rows, and a thread's connection is given back when the thread ends or
the database is disposed."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from engine.billing import Billing, FakeGateway
from engine.billing.errors import UnknownClinic
from engine.errors import IdempotencyConflict
from engine.pricing.requests import LeadRequest, Usage
from storage import fast
from storage.database import Autocommit, Database
from tests.support.clock import START, Clock
from tests.support.ledger_rows import assert_same_rows, tables
from tests.support.ledgers import shipped_ledger, two_charged_clinics
from tests.support.postgres import throwaway_database


@pytest.fixture
def pg_billing(postgres_database: str) -> Iterator[Billing]:
    """A PostgreSQL ledger with two Indian clinics funded, each charged once (their states kept)."""
    with two_charged_clinics(postgres_database) as billing:
        yield billing


def _lead(price: int) -> LeadRequest:
    return LeadRequest(product="lead_call", package_price=Decimal(price))  # type: ignore[arg-type]


@pytest.fixture
def statuses(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """What the function answered, charge by charge."""
    seen: Counter[str] = Counter()
    post = fast.post_charge

    def counted(conn: Any, charge: fast.FastCharge) -> fast.Answer:
        answer = post(conn, charge)
        seen[answer.status] += 1
        return answer

    monkeypatch.setattr(fast, "post_charge", counted)
    return seen


def _backend(db: Database) -> int:
    """The server process behind this thread's kept connection."""
    return int(db.run(Autocommit(lambda conn: conn.exec_driver_sql("SELECT pg_backend_pid()").scalar())))


def _charges(billing: Billing, clinic: str) -> list[Any]:
    def read(conn: Any) -> list[Any]:
        sql = "SELECT credits, status FROM transactions WHERE clinic_id = :c AND kind = 'charge' ORDER BY id"
        return list(conn.execute(text(sql), {"c": clinic}))

    return billing.db.read(read)


def test_a_session_that_lost_the_prepared_call_prepares_it_again(pg_billing: Billing, statuses: Counter[str]) -> None:
    pg_billing.charge("a", _lead(15_000), key="one")
    pg_billing.db.run(Autocommit(lambda conn: conn.exec_driver_sql("DEALLOCATE ALL")))  # as a pooler's reset would
    second = pg_billing.charge("a", _lead(15_000), key="two")
    assert second.approved and second.transaction_id > 0
    assert statuses == {"posted": 2}  # both by the function, the second after preparing it again
    assert pg_billing.charge("a", _lead(15_000), key="two").replayed


def test_a_connection_the_server_ended_is_replaced_and_the_charge_posted_once(
    pg_billing: Billing, postgres_database: str, statuses: Counter[str]
) -> None:
    before = pg_billing.balance("a").balance
    pid = _backend(pg_billing.db)
    admin = create_engine(postgres_database, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    admin.dispose()
    charged = pg_billing.charge("a", _lead(15_000), key="after-kill")
    assert charged.approved and charged.balance == before - charged.credits
    assert _backend(pg_billing.db) != pid  # a new connection, kept from now on
    assert [row.status for row in _charges(pg_billing, "a")] == ["posted", "posted"]  # the warm-up's, and this
    assert statuses["posted"] == 1 and pg_billing.db.retries >= 1


def test_each_thread_keeps_one_connection_given_back_when_it_ends_or_the_database_is_disposed(
    pg_billing: Billing,
) -> None:
    db = pg_billing.db
    pool: Any = db.engine.pool
    pid = _backend(db)
    for n in range(3):
        pg_billing.charge("a", _lead(3_000), key=f"same-{n}")
        assert _backend(db) == pid  # the same connection, charge after charge
    held = pool.checkedout()

    def elsewhere(key: str) -> None:
        pg_billing.charge("b", _lead(3_000), key=key)

    worker = threading.Thread(target=elsewhere, args=("thread-1",))
    worker.start()
    worker.join()
    assert pool.checkedout() == held + 1  # the ended thread's, until another thread needs one
    worker = threading.Thread(target=elsewhere, args=("thread-2",))
    worker.start()
    worker.join()
    assert pool.checkedout() == held + 1  # the first thread's was given back when the second took one
    db.dispose()
    assert pool.checkedout() == 0


def test_a_refused_charge_keeps_the_connection_and_one_left_inside_a_transaction_does_not(
    pg_billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = _backend(pg_billing.db)
    with pytest.raises(UnknownClinic):  # refused by the reference path, inside its transaction (rolled back)
        pg_billing.charge("nobody", _lead(3_000), key="k")
    assert _backend(pg_billing.db) == pid

    def left_open(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")
        raise RuntimeError("work that failed inside a transaction it began")

    with pytest.raises(RuntimeError):
        pg_billing.db.run(Autocommit(left_open))
    assert _backend(pg_billing.db) != pid  # that connection was given back (rolled back), not kept
    assert pg_billing.charge("a", _lead(3_000), key="after").approved


def test_values_the_text_call_cannot_carry_go_through_the_cursor_and_leave_the_same_rows(
    postgres_database: str, postgres_admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert fast._encoded(("a\x00b",)) is None and fast._encoded((Decimal(1),)) is None
    assert fast._encoded((True, 7, None, [1, 2], [])) == [b"t", b"7", None, b"{1,2}", b"{}"]

    def operations(billing: Billing) -> list[Any]:
        answers = []
        billing.register_clinic("us", "us", "US", key="reg")
        billing.purchase("us", 100_000, payment_method="card_ok", key="buy")
        for n in range(8):  # approved, then declined past the balance
            answers.append(billing.charge("us", Usage(product="sms", units=200 + n), key=f"sms-{n}"))
        answers.append(billing.charge("us", Usage(product="sms", units=200), key="sms-0"))  # replayed
        return [answer.model_dump(mode="json") for answer in answers]

    with throwaway_database(postgres_admin_url, "creditbook_twin") as twin:
        with shipped_ledger(postgres_database, Clock(START), FakeGateway()) as by_text:
            text_answers, text_rows = operations(by_text), tables(by_text)
        monkeypatch.setattr(fast, "_encoded", lambda params: None)
        with shipped_ledger(twin, Clock(START), FakeGateway()) as by_cursor:
            cursor_answers, cursor_rows = operations(by_cursor), tables(by_cursor)
    assert cursor_answers == text_answers
    assert any(not answer["approved"] for answer in text_answers) and text_answers[-1]["replayed"]
    assert_same_rows(text_rows, cursor_rows)


def test_a_key_claimed_by_either_path_replays_or_conflicts_on_the_other(
    pg_billing: Billing, statuses: Counter[str]
) -> None:
    """The function looks a key up and claims it with its outcome at the end; the reference path
    claims it first (storage/idempotency.py): each answers the other's key."""
    db = pg_billing.db
    db.fast = False  # by the reference path
    first = pg_billing.charge("a", _lead(15_000), key="by-reference")
    db.fast = True
    again = pg_billing.charge("a", _lead(15_000), key="by-reference")
    assert again.replayed and again.transaction_id == first.transaction_id
    with pytest.raises(IdempotencyConflict):
        pg_billing.charge("a", _lead(3_000), key="by-reference")
    assert statuses == {"replay": 1, "conflict": 1}
    fast_first = pg_billing.charge("a", _lead(15_000), key="by-function")
    assert statuses["posted"] == 1
    db.fast = False
    replayed = pg_billing.charge("a", _lead(15_000), key="by-function")
    assert replayed.replayed and replayed.transaction_id == fast_first.transaction_id
    with pytest.raises(IdempotencyConflict):
        pg_billing.charge("a", _lead(3_000), key="by-function")
    db.fast = True
    assert [row.status for row in _charges(pg_billing, "a")] == ["posted"] * 3  # the warm-up's and the two keys'


@pytest.mark.parametrize("other", ["commits", "rolls back"])
def test_a_key_claimed_meanwhile_outside_the_wallet_lock_is_retried_then_answered(
    pg_billing: Billing, postgres_database: str, statuses: Counter[str], other: str
) -> None:
    """Another transaction claims the key the function looked up and found free (as the reference
    path's claim does, before any lock): the function's claim waits for it. If it commits, the
    function raises 40001, nothing it wrote stays, and the retry answers the key (here a conflict);
    if it rolls back, the function's claim goes in and the charge is posted."""
    before = pg_billing.balance("a").balance
    retries = pg_billing.db.retries
    claimer = create_engine(postgres_database)
    answer: list[Any] = []
    with claimer.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO idempotency_keys (scope, key, operation, request_hash, created_at) "
                "VALUES ('a', 'meanwhile', 'purchase', 'other', now())"
            )
        )
        worker = threading.Thread(target=lambda: answer.append(_attempt(pg_billing, "meanwhile")))
        worker.start()
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        for _ in range(500):
            with claimer.connect() as looking:
                if looking.execute(text(waiting)).scalar():
                    break
            time.sleep(0.01)
        else:
            raise AssertionError("the function's claim never waited for the other transaction's")
        conn.commit() if other == "commits" else conn.rollback()
        worker.join()
    claimer.dispose()
    if other == "commits":
        assert isinstance(answer[0], IdempotencyConflict)
        assert pg_billing.db.retries > retries and statuses == {"conflict": 1}
        assert pg_billing.balance("a").balance == before
        assert [row.status for row in _charges(pg_billing, "a")] == ["posted"]  # the warm-up's alone
    else:
        assert answer[0].approved and statuses == {"posted": 1}
        assert pg_billing.balance("a").balance == before - answer[0].credits


def _attempt(billing: Billing, key: str) -> Any:
    try:
        return billing.charge("a", _lead(15_000), key=key)
    except IdempotencyConflict as error:
        return error
