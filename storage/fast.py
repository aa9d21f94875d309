"""A charge in one round trip on PostgreSQL: the ledger's door for charges, as one function call.

Posted statement by statement (storage/transfers.py `post`, with the key's claim and outcome around
it), a charge costs about a dozen client–server round trips on PostgreSQL, and the round trips,
not the work, were the limit: 28% of pgbench's tpcb-like rate at one client, 19% at 16. Here
billing prices the charge in Python from a clinic state it kept (engine/billing/charges.py),
`transfers.predict` decides it as `post` would (approved or declined, what each lot gives, the
balance after), and `creditbook_charge(...)` — installed by migration 0005, its body replaced by
0006 — writes it in one statement, in its own transaction (autocommit: no BEGIN or COMMIT round
trip; the connection is the one the calling thread keeps, storage/database.py
`Database.transaction`, and the call a statement prepared once on it and sent through libpq,
`post_charge`):

1. lock the wallet (FOR UPDATE) and read, in the same statement, the version of its pricebook in
   force at the charge's time and its pin;
2. look the idempotency key up: a key already used answers `replay` with its stored outcome, or
   `conflict` (or `slow`: claimed, its outcome not stored). Then check that the state the charge
   was priced from is still the clinic's: the wallet's version (storage/accounts.py `bump`: it
   changes with everything a charge reads, pins included), the pricebook version in force and
   the pin. If not, the answer is `stale`: nothing was written, billing reads the clinic again
   and prices the charge anew;
3. the guarded debit (THE statement of storage/accounts.py, same WHERE) — which must agree with
   the prediction, or the function raises and nothing is written — and each lot's part,
   compare-and-set (one plain UPDATE when one lot pays, as most charges are paid); or the
   declined transaction, when the prediction says the guard refuses it (the function checks
   that it would);
4. the transaction row, its allocations and its two legs, the pay-as-you-go term's units and the
   clinic's usage counters (storage/usage.py), and last the key, claimed with its outcome in one
   INSERT ... ON CONFLICT DO NOTHING (as storage/idempotency.py claims): the outcome is rendered
   by Python with the transaction id left out (`head`, `tail`), the function puts the id in.

The key is claimed after the wallet is locked, and claimed once, with its outcome: a key's scope
is its clinic, so two charges with the same key queue on the wallet's lock and the second finds
the first's key. Only an operation that does not take that lock first (storage/idempotency.py's
`claim` on the reference path) can claim the key between the look-up and the INSERT; the INSERT
then waits for it and inserts nothing, and the function raises SQLSTATE 40001 (everything it
wrote is rolled back with the statement): the caller's retry finds the key and replays it.
Claiming first and storing the outcome last (0005) wrote the key's row twice per charge, a second
heap tuple, index entries and foreign-key check; a stale charge no longer writes and withdraws a
claim either. Reading the pricebook version and the pin in the wallet's statement reads them with
that statement's snapshot, taken before a wait for the lock: what changes a clinic's pin bumps its
wallet's version under that lock, so the version check still sees it; a pricebook version
published meanwhile is no more a race than it was (a charge's reads precede its commit either way).

So the database refuses a charge priced with anything stale, and what it writes is what `post`
writes for the same charge (tests/billing/test_fast_path.py proves the rows equal, operation by
operation). Everything else — purchases, refunds, expiry, charges whose lots must first expire or
whose term must start, and charges that change which alerts hold for the clinic (the door records
them and writes the alert's event: engine/billing/notices.py) — goes through `post`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Literal

from sqlalchemy import Connection

from storage.lots import Taken
from storage.statements import driver_error

Status = Literal["posted", "declined", "stale", "replay", "conflict", "slow"]

#: what a charge's outcome holds in place of its transaction id until the function knows it
ID_PLACEHOLDER: Final = -1

#: the function as migration 0006 installs it: a new body is a new migration (this text then moves,
#: verbatim, to storage/migrations/ as 0005's did: charge_function_0005.py)
CHARGE_FUNCTION: Final = """
CREATE OR REPLACE FUNCTION creditbook_charge(
    p_clinic text, p_key text, p_hash text, p_claimed_at timestamptz,
    p_wallet bigint, p_version bigint, p_pricebook text, p_in_force integer, p_pinned integer,
    p_at timestamptz, p_approve boolean, p_credits bigint, p_balance bigint,
    p_lots bigint[], p_parts bigint[], p_counter bigint,
    p_product text, p_units bigint, p_priced_version integer, p_priced_hash text, p_rule_ids text,
    p_quote text, p_reason text, p_patient_ref text, p_unfunded bigint,
    p_term bigint, p_term_units bigint, p_day date, p_head text, p_tail text,
    OUT o_status text, OUT o_transaction bigint, OUT o_balance bigint, OUT o_stored text
) LANGUAGE plpgsql AS $fn$
DECLARE
    v_version bigint;
    v_balance bigint;
    v_limit bigint;
    v_in_force integer;
    v_pinned integer;
    v_key record;
    v_count integer;
BEGIN
    -- 1. the wallet, locked, with what else the charge was priced from
    SELECT a.version, a.balance, a.overdraft_limit,
           (SELECT v.version FROM pricebook_versions v
             WHERE v.pricebook_id = p_pricebook AND v.effective_from <= p_at
             ORDER BY v.effective_from DESC LIMIT 1),
           (SELECT p.version FROM clinic_pins p
             WHERE p.clinic_id = p_clinic AND p.pinned_from <= p_at
               AND (p.pinned_until IS NULL OR p.pinned_until > p_at)
             ORDER BY p.pinned_from DESC, p.id DESC LIMIT 1)
      INTO v_version, v_balance, v_limit, v_in_force, v_pinned
      FROM accounts a WHERE a.id = p_wallet AND a.kind = 'wallet' AND a.clinic_id = p_clinic FOR UPDATE OF a;

    -- 2. the idempotency key
    SELECT k.operation, k.request_hash, k.outcome INTO v_key
      FROM idempotency_keys k WHERE k.scope = p_clinic AND k.key = p_key;
    IF FOUND THEN
        IF v_key.operation <> 'charge' OR v_key.request_hash <> p_hash THEN
            o_status := 'conflict';
        ELSIF v_key.outcome IS NULL THEN
            o_status := 'slow';
        ELSE
            o_status := 'replay';
            o_stored := v_key.outcome;
        END IF;
        RETURN;
    END IF;
    IF v_version IS DISTINCT FROM p_version
       OR v_in_force IS DISTINCT FROM p_in_force
       OR v_pinned IS DISTINCT FROM p_pinned
    THEN
        o_status := 'stale';
        RETURN;
    END IF;

    -- 3. the spend, or the decline
    IF p_approve THEN
        IF p_credits > 0 THEN
            UPDATE accounts a SET balance = a.balance - p_credits, version = a.version + 1, last_at = p_at
             WHERE a.id = p_wallet AND a.kind = 'wallet' AND a.balance - p_credits >= -a.overdraft_limit
            RETURNING a.balance INTO o_balance;
            IF o_balance IS DISTINCT FROM p_balance THEN
                RAISE EXCEPTION 'creditbook_charge: wallet % took % credits to %, not the predicted %',
                    p_wallet, p_credits, o_balance, p_balance USING ERRCODE = 'XX000';
            END IF;
            v_count := 0;
            IF cardinality(p_lots) = 1 THEN
                UPDATE lots l SET remaining = l.remaining - p_parts[1]
                 WHERE l.id = p_lots[1] AND l.wallet_id = p_wallet AND l.remaining >= p_parts[1];
                GET DIAGNOSTICS v_count = ROW_COUNT;
            ELSIF cardinality(p_lots) > 1 THEN
                UPDATE lots l SET remaining = l.remaining - t.part
                  FROM unnest(p_lots, p_parts) AS t(id, part)
                 WHERE l.id = t.id AND l.wallet_id = p_wallet AND l.remaining >= t.part;
                GET DIAGNOSTICS v_count = ROW_COUNT;
            END IF;
            IF v_count <> coalesce(cardinality(p_lots), 0) THEN
                RAISE EXCEPTION 'creditbook_charge: the lots of wallet % changed under the prediction', p_wallet
                    USING ERRCODE = 'XX000';
            END IF;
        ELSE
            UPDATE accounts a SET last_at = p_at, version = a.version + 1 WHERE a.id = p_wallet
            RETURNING a.balance INTO o_balance;
        END IF;
        o_status := 'posted';
    ELSE
        IF v_balance - p_credits >= -v_limit THEN
            RAISE EXCEPTION 'creditbook_charge: wallet % can take % credits: the prediction declined them',
                p_wallet, p_credits USING ERRCODE = 'XX000';
        END IF;
        o_balance := v_balance;
        o_status := 'declined';
    END IF;
    INSERT INTO transactions (clinic_id, kind, status, credits, at, product, units, pricebook_id,
        pricebook_version, pricebook_hash, rule_ids, quote, reason, actor, note, related_id, payment_id,
        patient_ref, unfunded, refunded)
    VALUES (p_clinic, 'charge', o_status, p_credits, p_at, p_product, p_units, p_pricebook,
        p_priced_version, p_priced_hash, p_rule_ids, p_quote, p_reason, NULL, NULL, NULL, NULL,
        p_patient_ref, p_unfunded, 0)
    RETURNING id INTO o_transaction;
    IF p_approve THEN
        IF p_credits > 0 THEN
            IF cardinality(p_lots) = 1 THEN
                INSERT INTO allocations (lot_id, transaction_id, kind, amount)
                VALUES (p_lots[1], o_transaction, 'charge', p_parts[1]);
            ELSIF cardinality(p_lots) > 1 THEN
                INSERT INTO allocations (lot_id, transaction_id, kind, amount)
                SELECT t.id, o_transaction, 'charge', t.part
                  FROM unnest(p_lots, p_parts) WITH ORDINALITY AS t(id, part, n) ORDER BY t.n;
            END IF;
            INSERT INTO entries (transaction_id, account_id, amount)
            VALUES (o_transaction, p_wallet, -p_credits), (o_transaction, p_counter, p_credits);
        END IF;
        IF p_term IS NOT NULL THEN
            UPDATE terms SET units = units + p_term_units WHERE id = p_term;
        END IF;
        INSERT INTO usage_days AS u (clinic_id, day, product, charged, units, refunded, charge_refunded)
        VALUES (p_clinic, p_day, coalesce(p_product, ''), p_credits, coalesce(p_units, 0), 0, 0)
        ON CONFLICT (clinic_id, day, product)
        DO UPDATE SET charged = u.charged + excluded.charged, units = u.units + excluded.units;
    END IF;

    -- 4. the key, claimed with its outcome
    INSERT INTO idempotency_keys (scope, key, operation, request_hash, created_at, outcome, transaction_id)
    VALUES (p_clinic, p_key, 'charge', p_hash, p_claimed_at, p_head || o_transaction::text || p_tail, o_transaction)
    ON CONFLICT (scope, key) DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'creditbook_charge: idempotency key % of clinic % was claimed meanwhile', p_key, p_clinic
            USING ERRCODE = '40001';
    END IF;
END
$fn$;
"""
DROP_CHARGE_FUNCTION: Final = (
    "DROP FUNCTION IF EXISTS creditbook_charge(text, text, text, timestamptz, bigint, bigint, text, integer, "
    "integer, timestamptz, boolean, bigint, bigint, bigint[], bigint[], bigint, text, bigint, integer, text, "
    "text, text, text, text, bigint, bigint, bigint, date, text, text)"
)
_CALL: Final = "SELECT * FROM creditbook_charge(" + ", ".join(["%s"] * 30) + ")"


@dataclass(frozen=True)
class FastCharge:
    """A charge decided in Python, as `creditbook_charge` takes it."""

    key: str
    request_hash: str
    claimed_at: datetime  # the operation's time, as the key's claim records it
    state: tuple[int, int, str, int | None, int | None]  # wallet, version, pricebook, in force, pinned
    row: dict[str, Any]  # the transaction row (storage/transfers.py `transaction_row`)
    approve: bool
    balance: int  # the wallet's balance after
    taken: Taken | None
    counter: int  # the system account on the other side (usage revenue)
    term: tuple[int, int] | None  # (term id, units) when the pay-as-you-go term counts them
    day: date  # the clinic's day (storage/usage.py)
    outcome: tuple[str, str]  # the stored outcome before and after its transaction id

    def described(self) -> tuple[Any, ...]:
        """The transaction row's own values, in the order both one calls take them — product,
        units, the priced version, its hash, the rules, the quote, the reason, the patient, the
        unfunded part — once the row is checked to be a charge's, priced by its clinic's pricebook
        (the calls write the rest of a charge's row themselves)."""
        row = self.row
        if any(row[name] != value for name, value in _FIXED.items()):
            raise ValueError("creditbook_charge posts charges: the row is not one")
        if row["pricebook_id"] != self.state[2]:
            raise ValueError("a charge is priced by its clinic's pricebook")
        return (
            row["product"],
            row["units"],
            row["pricebook_version"],
            row["pricebook_hash"],
            row["rule_ids"],
            row["quote"],
            row["reason"],
            row["patient_ref"],
            row["unfunded"],
        )


@dataclass(frozen=True)
class Answer:
    status: Status
    transaction_id: int | None = None
    balance: int | None = None
    stored: str | None = None  # the replayed outcome


_FIXED: Final = {"kind": "charge", "actor": None, "note": None, "related_id": None, "payment_id": None, "refunded": 0}


def split_outcome(text: str, marker: str) -> tuple[str, str]:
    """The outcome's text before and after the transaction id (`marker`, exactly once)."""
    head, found, tail = text.partition(marker)
    if not found or marker in tail:
        raise ValueError("the outcome must name its transaction id exactly once")
    return head + marker[: -len(str(ID_PLACEHOLDER))], tail


def _params(charge: FastCharge) -> tuple[Any, ...]:
    row = charge.row
    described = charge.described()
    wallet, version, pricebook_id, in_force, pinned = charge.state
    by_lot = charge.taken.by_lot if charge.taken is not None else []
    term_id, term_units = charge.term or (None, None)
    return (
        row["clinic_id"],
        charge.key,
        charge.request_hash,
        charge.claimed_at,
        wallet,
        version,
        pricebook_id,
        in_force,
        pinned,
        row["at"],
        charge.approve,
        row["credits"],
        charge.balance,
        [lot for lot, _ in by_lot],
        [part for _, part in by_lot],
        charge.counter,
        *described,
        term_id,
        term_units,
        charge.day,
        *charge.outcome,
    )


def post_charge(conn: Connection, charge: FastCharge) -> Answer:
    """Post one charge in one statement (see the module docstring). `conn` should be in autocommit
    (storage/database.py `Autocommit`): each call is then its own transaction.

    The call is a statement prepared once on each connection and executed through libpq itself,
    its parameters sent as text: psycopg's cursor (adapting 30 parameters, its result machinery)
    cost more Python than everything else a charge sends. A charge with a value that is not plain
    text, a number, a flag, a time or a list of numbers goes through the cursor instead."""
    params = _params(charge)
    encoded = _encoded(params)
    driver: Any = conn.connection.driver_connection
    if encoded is None or driver.info.encoding != "utf-8" or driver.pgconn.pipeline_status:
        return _post_by_cursor(conn, params)
    try:
        result = _executed(conn, driver.pgconn, encoded, params)
    except conn.dialect.loaded_dbapi.Error as error:  # libpq could not even send it (a lost connection)
        raise driver_error(conn, _CALL, params, error, None) from error
    status, transaction_id, balance, stored = (result.get_value(0, n) for n in range(4))
    return Answer(
        status.decode(),  # one of Status: the function sets no other
        None if transaction_id is None else int(transaction_id),
        None if balance is None else int(balance),
        None if stored is None else stored.decode(),
    )


#: the name of the prepared call on each connection, and the connection info's note that it is there
_PREPARED: Final = b"creditbook_charge_call"
_PREPARED_ON: Final = "creditbook_charge_prepared"
_TYPES: Final = DROP_CHARGE_FUNCTION.partition("(")[2].removesuffix(")").split(", ")  # the function's signature
_PREPARED_CALL: Final = (
    "SELECT * FROM creditbook_charge(" + ", ".join(f"${n}::{kind}" for n, kind in enumerate(_TYPES, 1)) + ")"
).encode()


def _encoded(params: tuple[Any, ...]) -> list[bytes | None] | None:
    """The parameters as PostgreSQL reads them in text, or None when one is not of a kind this
    knows (or holds a NUL, which text parameters cannot carry): the cursor then sends them."""
    out: list[bytes | None] = []
    for value in params:
        kind = type(value)
        if value is None:
            out.append(None)
        elif kind is str:
            if "\x00" in value:
                return None
            out.append(value.encode())
        elif kind is bool:
            out.append(b"t" if value else b"f")
        elif kind is int:
            out.append(str(value).encode())
        elif kind is datetime or kind is date:
            out.append(value.isoformat().encode())
        elif kind is list and all(type(item) is int for item in value):
            out.append(("{" + ",".join(map(str, value)) + "}").encode())
        else:
            return None
    return out


def _executed(conn: Connection, pgconn: Any, encoded: list[bytes | None], params: tuple[Any, ...]) -> Any:
    """The prepared call's result (prepared first when this connection has not prepared it, and
    again when the session lost it)."""
    info = conn.connection.info
    for _ in range(2):
        if info.get(_PREPARED_ON) is not pgconn:
            prepared = pgconn.prepare(_PREPARED, _PREPARED_CALL)
            if _sqlstate(prepared) not in (None, _DUPLICATE_PREPARED):
                _raise(conn, prepared, params)
            info[_PREPARED_ON] = pgconn
        result = pgconn.exec_prepared(_PREPARED, encoded)
        if _sqlstate(result) != _NO_SUCH_PREPARED:
            break
        info.pop(_PREPARED_ON, None)
    if _sqlstate(result) is not None:
        _raise(conn, result, params)
    return result


def _sqlstate(result: Any) -> bytes | None:
    """None for a result that succeeded, else its SQLSTATE."""
    if result.status in (_COMMAND_OK, _TUPLES_OK):
        return None
    return result.error_field(_SQLSTATE_FIELD) or b""


def _raise(conn: Connection, result: Any, params: tuple[Any, ...]) -> None:
    """A failed libpq call raised as the cursor would raise it (storage/statements.py
    `driver_error`: a lost race is retried, a dropped connection invalidated)."""
    from psycopg import errors

    error: Any = errors.error_from_result(result, encoding="utf-8")  # the dialect's DBAPI Error
    raise driver_error(conn, _CALL, params, error, None) from error  # a StatementError: not caught above


_SQLSTATE_FIELD: Final = ord("C")  # libpq's PG_DIAG_SQLSTATE
_NO_SUCH_PREPARED: Final = b"26000"
_DUPLICATE_PREPARED: Final = b"42P05"
_COMMAND_OK: Final = 1  # libpq's PGRES_COMMAND_OK and PGRES_TUPLES_OK
_TUPLES_OK: Final = 2


def _post_by_cursor(conn: Connection, params: tuple[Any, ...]) -> Answer:
    """The call through psycopg's cursor (kept with the connection: `_cursor`)."""
    cursor = _cursor(conn)
    try:
        cursor.execute(_CALL, params)
        status, transaction_id, balance, stored = cursor.fetchone()
    except conn.dialect.loaded_dbapi.Error as error:
        cursor.close()
        raise driver_error(conn, _CALL, params, error, cursor) from error
    return Answer(status, transaction_id, balance, stored)


def _cursor(conn: Connection) -> Any:
    """The cursor that calls the function on this driver connection, kept with it: a cursor used
    again for the same query keeps its adapters (psycopg looks up how to send each parameter
    once). Its one row is read before it is used again."""
    fairy = conn.connection
    driver = fairy.driver_connection
    cursor = fairy.info.get("creditbook_charge_cursor")
    if cursor is None or cursor.closed or cursor.connection is not driver:
        cursor = fairy.info["creditbook_charge_cursor"] = driver.cursor()  # type: ignore[union-attr]
    return cursor


def post_charges(conn: Connection, charges: Sequence[FastCharge]) -> list[Answer]:
    """Post many charges in the caller's transaction, pipelined: every call is sent before the first
    answer is read, so a batch costs one round trip however many charges it holds. A call that
    raises aborts the transaction (the caller retries the batch: every key then replays)."""
    if not charges:
        return []
    driver = conn.connection.driver_connection
    cursors = []
    try:
        with driver.pipeline():  # type: ignore[union-attr]
            for charge in charges:
                cursor = driver.cursor()  # type: ignore[union-attr]
                cursor.execute(_CALL, _params(charge))
                cursors.append(cursor)
        return [Answer(*cursor.fetchone()) for cursor in cursors]
    except conn.dialect.loaded_dbapi.Error as error:
        raise driver_error(conn, _CALL, None, error, None) from error
    finally:
        for cursor in cursors:
            cursor.close()
