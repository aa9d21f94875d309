"""Charging SMS campaigns, voice call records and leads: quote → overdraft policy → the ledger's door.

A charge is decided on one state of its clinic (`decide`): the quote from the version that prices
it (its pin, its pay-as-you-go term's version, else the one in force), the overdraft limit from
the version in force, and one `Spend` with the pricing stamp (pricebook, version, semantic hash,
rule ids, the quote). Posted, it takes the credits from lots in spending order or records the
decline with its reason; the term's usage is counted and the outcome stored with the key, in the
same database transaction. A posted charge that changes which alerts hold for its clinic (a low
balance, credits expiring: engine/billing/notices.py) records them there too, and writes an event to
the outbox for each that starts to hold — once per crossing; a declined charge changes no balance
and raises none. The state knows the alerts recorded when it was read (`ClinicState.alerts`), so a
charge whose alerts are those has nothing to write, and only a crossing leaves the fast paths for
the reference.

Where the state comes from, and how the spend reaches storage's door:

- the reference (`Database(fast=False)`, and whenever the others cannot): the clinic read under
  its wallet lock (due lots expired first), the door posting statement by statement;
- one call (`Database(fast=True)`, the default): the charge decided in Python from the state kept
  since the clinic's previous charge (engine/billing/state.py `States`) and posted by one call
  that refuses it when the state is stale (billing then reads the clinic and decides again) —
  on PostgreSQL the database function of storage/fast.py, one round trip on an autocommit
  connection; on SQLite the same steps over the driver's cursor (storage/fast_sqlite.py), in a
  write transaction begun on the connection the thread keeps, where a charge the call cannot
  post goes through the door in the same transaction;
- through the door on a kept state (SQLite, a batch's charges after one the call could not
  post): the state this transaction left, or one the wallet's version shows unchanged
  (storage/clinics.py `verify`).

`charge_batch` posts many charges in one database transaction (see its docstring).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from engine.billing import arguments, notices, wallet
from engine.billing import state as clinic_state
from engine.billing.context import Context, Done, Keyed, check_key
from engine.billing.errors import InvalidAmount
from engine.billing.results import ChargeResult
from engine.bounds import OPERATION_CREDITS_MAX
from engine.errors import CreditbookError
from engine.pricebook.model import CompiledPricebook
from engine.pricing.quote import Quote, quote, stored_json
from engine.pricing.requests import QuoteContext, Request, as_request
from engine.vocabulary import AccountKind, AllocationKind, Plan, TransactionKind, TransactionStatus
from rules import AlertDecision, ChargeFacts, PolicyEngine
from storage import accounts, clinics, fast, fast_sqlite, idempotency, transfers
from storage.clinics import ClinicState, Term
from storage.database import Autocommit, Connection, savepoint
from storage.errors import LedgerError
from storage.lots import Taken, spending_order

#: how often the one-round-trip path reads a clinic again after finding its state stale before it
#: leaves the charge to the reference path (which waits for the wallet lock instead)
FAST_ATTEMPTS: Final = 3
_ID_MARKER: Final = f'"transaction_id": {fast.ID_PLACEHOLDER}'
#: the most charges one batch takes: its transaction holds each wallet it charges until it commits
BATCH_MAX: Final = 1_000
Local = dict[str, ClinicState | None]  # a transaction's own states after its charges (None: read again)


@dataclass(frozen=True)
class ChargeRequest:
    clinic_id: str
    request: Request
    key: str
    patient_ref: str | None = None

    def keyed(self) -> Keyed:
        request = {
            "clinic": self.clinic_id,
            "request": self.request.model_dump(mode="json"),
            "patient": self.patient_ref,
        }
        return Keyed(self.clinic_id, self.key, "charge", request)


def asked(clinic_id: object, request: object, key: object, patient_ref: object = None) -> ChargeRequest:
    """A charge's arguments, checked (engine/billing/arguments.py): one bad argument raises one
    documented error before anything is written."""
    clinic = arguments.clinic_id(clinic_id)
    charged = as_request(request)  # type: ignore[arg-type]
    patient = arguments.patient_ref(patient_ref)
    return ChargeRequest(clinic, charged, check_key(key), patient)


ITEM_FIELDS: Final = frozenset({"clinic_id", "request", "key", "at", "patient_ref"})


def batch_item(ctx: Context, item: object) -> tuple[ChargeRequest, datetime] | CreditbookError:
    """One item of a batch — a mapping of `charge`'s arguments (clinic_id, request, key, and
    optionally at and patient_ref) — checked, or the error that refuses it (and only it)."""
    try:
        if not isinstance(item, Mapping):
            raise InvalidAmount(f"a batch item is a mapping of charge arguments, not {type(item).__name__}")
        unknown = sorted(str(name)[:40] for name in item if name not in ITEM_FIELDS)
        missing = sorted(name for name in ("clinic_id", "request", "key") if name not in item)
        if unknown or missing:
            problem = f"unknown {', '.join(map(repr, unknown))}" if unknown else f"missing {', '.join(missing)}"
            raise InvalidAmount(f"a batch item takes {', '.join(sorted(ITEM_FIELDS))}: {problem}", field="items")
        charged = asked(item["clinic_id"], item["request"], item["key"], item.get("patient_ref"))
        return charged, ctx.at(item.get("at"))
    except CreditbookError as error:
        return error


@dataclass(frozen=True)
class Decided:
    """A charge decided on one state of its clinic: what it posts, and what it needs to answer."""

    found: ClinicState
    at: datetime
    current: CompiledPricebook
    priced: Quote
    counted: Term | None  # the pay-as-you-go term that counts its units
    transfer: transfers.Transfer
    wrote: bool  # deciding wrote (a term started, the wallet's limit followed a new version)


def decide(
    ctx: Context, conn: Connection, found: ClinicState, asked: ChargeRequest, at: datetime, may_write: bool
) -> Decided | None:
    """The charge on `found` at `at`. Without `may_write`, None when it needs more than reading:
    lots to expire first, a term to start, the wallet's limit to move (the reference path does it)."""
    if not may_write and wallet.due(found, at):
        return None
    current = clinic_state.current(ctx.catalog, conn, found, at)
    product = asked.request.product
    on_package = clinic_state.packages_cover(found, product, current)
    wrote = False
    term = None
    if not on_package:
        if clinic_state.term_missing(found, product, current):
            if not may_write:
                return None
            wrote = True
        term = clinic_state.start_term(conn, found, product, at, current)
    pricing = clinic_state.pricing_version(ctx.catalog, conn, found, product, current, at)
    context = QuoteContext(
        at=at,
        plan=clinic_state.plan(found),
        bundle=found.clinic.bundle,
        segment=found.clinic.segment,
        term_usage={product: term.units if term is not None else 0},
    )
    try:
        priced = quote(pricing, asked.request, context)
    except ArithmeticError as error:  # engine/pricing does not bound a request's units (UNITS_MAX) yet:
        raise InvalidAmount("the request is too large to price", field="request") from error  # 10^30 segments
    if priced.credits > OPERATION_CREDITS_MAX:  # declined or not, the ledger could not even record it
        shown = current.format_credits(OPERATION_CREDITS_MAX)
        raise InvalidAmount(f"a charge of {priced.credits:,} credits is more than one operation moves ({shown})")
    policy = PolicyEngine.of(current)
    limit = policy.overdraft_limit(found.clinic.segment)
    if limit != found.wallet.overdraft_limit:  # a new version changed the segment's limit: the wallet follows
        if not may_write:
            return None
        accounts.set_overdraft_limit(conn, found.wallet.id, limit)
        wrote = True
    counted = term if term is not None and priced.plan == Plan.PAYG else None
    return Decided(found, at, current, priced, counted, _transfer(asked, found, priced, policy, at), wrote)


def answer(
    decided: Decided, posted: transfers.Posted | transfers.Declined, transaction_id: int
) -> tuple[ChargeResult, ClinicState]:
    """The charge's result, and the clinic's state after it (a new object: the one decided on may
    be a kept state, never changed in place). A posted charge's state holds the alerts that hold
    after it: `through_door` records them when they differ from those recorded before."""
    found, priced, at = decided.found, decided.priced, decided.at
    if isinstance(posted, transfers.Declined):  # no balance changed: the alerts stay as they were
        decision = wallet.alert_decision(found, decided.current, found.wallet.balance, at)
        return _result(decided, found, transaction_id, found.wallet.balance, posted.reason, decision), found
    after = wallet.spent(found, posted.taken or Taken(), posted.credits, posted.balance, at)
    decision = wallet.alert_decision(after, decided.current, posted.balance, at)
    terms = after.terms
    if decided.counted is not None:
        term = decided.counted
        terms = {**terms, term.product: replace(term, units=term.units + priced.units)}
    after = replace(after, terms=terms, alerts=notices.holding(decision))
    return _result(decided, after, transaction_id, posted.balance, None, decision), after


def tells(decided: Decided, after: ClinicState) -> bool:
    """The charge changes which alerts hold for its clinic: it must record them, and tell those
    that start to hold (`through_door` does; the one-round-trip function leaves it to the door)."""
    return after.alerts != decided.found.alerts


def through_door(conn: Connection, decided: Decided) -> tuple[Done, ClinicState | None]:
    """Post a decided charge through the door, statement by statement, with the alerts it starts
    or ends (engine/billing/notices.py): the result with its transaction, and the clinic's state
    after it (None when deciding wrote: read it again)."""
    posted = transfers.post(conn, decided.transfer)
    if isinstance(posted, transfers.Posted) and decided.counted is not None:
        clinics.count_term_units(conn, decided.counted, decided.priced.units)
    transaction_id = posted.transaction_id or 0
    result, after = answer(decided, posted, transaction_id)
    if isinstance(posted, transfers.Posted) and tells(decided, after):  # a threshold crossed, either way
        notices.balance_changed(conn, after, decided.current, posted.balance, decided.at)
    return Done(result, posted.transaction_id), None if decided.wrote else after


def _in_transaction(
    ctx: Context, conn: Connection, asked: ChargeRequest, asked_at: datetime, local: Local | None = None
) -> tuple[Done, ClinicState | None]:
    """The charge inside the caller's transaction: on a kept, verified state (SQLite, fast) or on
    the state read under the wallet lock."""
    kept = _kept(ctx, conn, asked.clinic_id, asked_at, local)
    decided = None if kept is None else decide(ctx, conn, kept[0], asked, kept[1], may_write=False)
    if decided is None:
        found, at, expired = wallet.locked(conn, asked.clinic_id, asked_at)
        decided = decide(ctx, conn, found, asked, at, may_write=True)
        assert decided is not None
        if expired:  # credits expired before this charge: a balance change of its own, told even if declined
            decision = wallet.alert_decision(found, decided.current, found.wallet.balance, at)
            notices.balance_changed(conn, found, decided.current, found.wallet.balance, at, decision)
            decided = replace(decided, found=replace(found, alerts=notices.holding(decision)))
    return through_door(conn, decided)


def _kept(
    ctx: Context, conn: Connection, clinic_id: str, asked_at: datetime, local: Local | None = None
) -> tuple[ClinicState, datetime] | None:
    """The clinic's kept state (this transaction's own first, `local`) and the charge's time, when
    the state is still the clinic's (SQLite: on PostgreSQL the function checks kept states)."""
    if not ctx.db.fast or ctx.db.dialect != "sqlite":
        return None
    found = _remembered(ctx, clinic_id, local)
    if found is None:
        return None
    try:
        at = clinic_state.clinic_time(found, asked_at)
    except CreditbookError:  # the reference path raises it from the wallet as it is now
        return None
    if not clinic_state.fresh(found, at):
        return None
    # a state this transaction left is the clinic's: it has held the write lock since, and what the
    # clock changes (a version coming into force, a pin ending) ends its freshness
    if (local is None or local.get(clinic_id) is not found) and not clinics.verify(conn, found, at):
        return None
    return found, at


def charge(ctx: Context, asked: ChargeRequest, at: datetime) -> ChargeResult:
    """Charge one request (see the module docstring): one database transaction, and on PostgreSQL
    one statement when the function can post it. The state the charge leaves is kept once it is
    committed (a state kept from a transaction that then rolled back could pass for a later one)."""
    keyed = asked.keyed()
    check_key(keyed.key)
    digest = keyed.digest()
    after: list[ClinicState | None] = []
    if ctx.db.fast and ctx.db.dialect == "sqlite":

        def in_one_transaction(conn: Connection) -> ChargeResult:
            with ctx.db.begun(conn):  # it holds the write lock: a fallback needs no second transaction
                found = _one_call(ctx, conn, asked, digest, at, after)
                if found is not None:
                    return found
                return _by_reference(ctx, conn, asked, keyed, digest, at, after)

        result = ctx.db.run(Autocommit(in_one_transaction))
    elif ctx.db.fast:

        def statementwise(conn: Connection) -> ChargeResult:
            found = _one_call(ctx, conn, asked, digest, at, after)
            if found is not None:
                return found
            with ctx.db.begun(conn):
                return _by_reference(ctx, conn, asked, keyed, digest, at, after)

        result = ctx.db.run(Autocommit(statementwise))
    else:
        result = ctx.db.run(lambda conn: _by_reference(ctx, conn, asked, keyed, digest, at, after))
    _keep(ctx, asked.clinic_id, after)
    return result


def _by_reference(
    ctx: Context,
    conn: Connection,
    asked: ChargeRequest,
    keyed: Keyed,
    digest: str,
    at: datetime,
    after: list[ClinicState | None],
) -> ChargeResult:
    """The charge through the door in the caller's transaction; `after` gets the state it left
    (nothing when its key replayed)."""
    after.clear()

    def work(conn: Connection, asked_at: datetime) -> Done:
        done, state = _in_transaction(ctx, conn, asked, asked_at)
        after[:] = [state]
        return done

    return ctx.keyed(conn, keyed, digest, work, ChargeResult, at)


def _keep(ctx: Context, clinic_id: str, after: Sequence[ClinicState | None]) -> None:
    """Keep the state a committed charge left (or forget the clinic's, when it is not known). On
    PostgreSQL the state is kept even by a charge the reference path posted: the next can then
    take one round trip."""
    if not ctx.db.fast or not after:
        return
    kept = clinic_state.states(ctx.db)
    if after[-1] is None:
        kept.drop(clinic_id)
    else:
        kept.put(after[-1])


def _remembered(ctx: Context, clinic_id: str, local: Local | None) -> ClinicState | None:
    if local is not None and clinic_id in local:
        return local[clinic_id]
    return clinic_state.states(ctx.db).get(clinic_id)


def _one_call(
    ctx: Context,
    conn: Connection,
    asked: ChargeRequest,
    digest: str,
    asked_at: datetime,
    after: list[ClinicState | None],
) -> ChargeResult | None:
    """The charge posted in one call (`_post_one`: PostgreSQL's function on an autocommit connection,
    or its steps on SQLite in the write transaction); `after` gets the state it leaves. None leaves
    it to the reference path, on the same connection (lots to expire, a term to start, a refusal to
    raise in the reference's order, a key in another state, a wallet too busy to catch)."""
    kept = clinic_state.states(ctx.db)
    for _ in range(FAST_ATTEMPTS):
        try:
            decided = _decide_kept(ctx, conn, asked, asked_at)
        except CreditbookError:
            return None
        if decided is None:
            return None
        try:
            planned = _plan(ctx, conn, decided, asked, digest, asked_at)
        except LedgerError:  # a kept state left by a charge that read its clinic without the lock
            kept.drop(asked.clinic_id)  # (the reference path, broken on purpose): read it again
            continue
        if planned is None:
            return None
        charge, result, state = planned
        answered = _post_one(conn, charge)
        if answered.status == "stale":
            kept.drop(asked.clinic_id)
            continue
        if answered.status == "replay":
            assert answered.stored is not None
            return ChargeResult.model_validate({**json.loads(answered.stored), "replayed": True})
        if answered.status in ("conflict", "slow"):
            return None
        after[:] = [state]
        return result.model_copy(update={"transaction_id": answered.transaction_id})
    return None


def _post_one(conn: Connection, charge: fast.FastCharge) -> fast.Answer:
    """A charge decided in Python, posted by the database's own call: PostgreSQL's function
    (storage/fast.py) or its steps on SQLite (storage/fast_sqlite.py)."""
    if conn.dialect.name == "sqlite":
        return fast_sqlite.post_charge(conn, charge)
    return fast.post_charge(conn, charge)


def _post_many(conn: Connection, charges: Sequence[fast.FastCharge]) -> list[fast.Answer]:
    """Many, in the caller's transaction: pipelined on PostgreSQL, one after another on SQLite."""
    if conn.dialect.name == "sqlite":
        return fast_sqlite.post_charges(conn, charges)
    return fast.post_charges(conn, charges)


def _decide_kept(
    ctx: Context,
    conn: Connection,
    asked: ChargeRequest,
    asked_at: datetime,
    local: Local | None = None,
    may_read: bool = True,
) -> Decided | None:
    """The charge decided on the clinic's kept state, or on one read now (alone, a snapshot without
    the lock: the function checks it under the lock; in a batch's transaction, under the lock).
    Without `may_read`, None rather than reading: a batch that already planned charges of the
    clinic must not plan the next on the database's state, which does not have them yet — its
    version would be one those charges' predictions pass through, and could be taken for theirs."""
    found = _remembered(ctx, asked.clinic_id, local)
    at = None if found is None else clinic_state.clinic_time(found, asked_at)
    if found is None or at is None or not clinic_state.fresh(found, at):
        if not may_read:
            return None
        found = clinic_state.load(conn, asked.clinic_id, asked_at, lock=local is not None)
        at = clinic_state.clinic_time(found, asked_at)
        if not clinic_state.fresh(found, at):
            return None
    return decide(ctx, conn, found, asked, at, may_write=False)


def _plan(
    ctx: Context, conn: Connection, decided: Decided, asked: ChargeRequest, digest: str, asked_at: datetime
) -> tuple[fast.FastCharge, ChargeResult, ClinicState] | None:
    """What storage/fast.py posts for a decided charge, with its result and the state after it."""
    found, transfer = decided.found, decided.transfer
    counter = accounts.known_system_account(conn.engine, transfer.counter, found.wallet.market)
    if counter is None:  # the first charge of a market in this process finds (or creates) it
        return None
    predicted = transfers.predict(transfer)
    result, after = answer(decided, predicted, fast.ID_PLACEHOLDER)
    if isinstance(predicted, transfers.Posted) and tells(decided, after):  # the door records and tells it
        return None
    if isinstance(predicted, transfers.Declined):
        assert predicted.refusal is not None
        row = transfers.transaction_row(transfers.declined(transfer, predicted.refusal), TransactionStatus.DECLINED)
        taken = None
    else:
        taken = predicted.taken
        row = transfers.transaction_row(transfer, TransactionStatus.POSTED, taken.unfunded if taken else 0)
    term = decided.counted
    charge = fast.FastCharge(
        key=asked.key,
        request_hash=digest,
        claimed_at=asked_at,
        state=(
            found.wallet.id,
            found.wallet.version,
            found.clinic.pricebook_id,
            found.version_in_force,
            found.pinned_version,
        ),
        row=row,
        approve=isinstance(predicted, transfers.Posted),
        balance=predicted.balance,
        taken=taken,
        counter=counter,
        term=None if term is None else (term.id, decided.priced.units),
        day=transfers.charge_count(transfer).day,
        outcome=fast.split_outcome(idempotency.outcome_text(result.outcome()), _ID_MARKER),
    )
    return charge, result, after


def _transfer(
    asked: ChargeRequest, found: ClinicState, priced: Quote, policy: PolicyEngine, at: datetime
) -> transfers.Transfer:
    """The charge as a Spend. The ledger's guard enforces the overdraft limit; the rules name the
    row that approves a charge, and are asked why only when the guard declines one."""
    segment = found.clinic.segment

    def why() -> transfers.Refusal:
        decision = policy.overdraft(ChargeFacts(segment=segment, balance=found.wallet.balance, amount=priced.credits))
        reason = transfers.GUARD_REFUSAL.reason if decision.approved else decision.reason
        return transfers.Refusal(reason, (*priced.rule_ids, *decision.rule_ids))

    return transfers.Transfer(
        kind=TransactionKind.CHARGE,
        wallet=found.wallet,
        credits=priced.credits,
        counter=AccountKind.USAGE_REVENUE,
        effect=transfers.Spend(spending_order(found.lots, at), transfers.OnDecline.RECORD, AllocationKind.CHARGE, why),
        at=at,
        stamp=transfers.Stamp(
            pricebook_id=priced.pricebook_id,
            version=priced.version,
            semantic_hash=priced.semantic_hash,
            rule_ids=(*priced.rule_ids, *policy.overdraft_rule_ids(segment, priced.credits)),
            quote=stored_json(priced),
        ),
        details=transfers.Details(product=priced.product, units=priced.units, patient_ref=asked.patient_ref),
    )


def _result(
    decided: Decided,
    found: ClinicState,
    transaction_id: int | None,
    balance: int,
    decline: str | None,
    decision: AlertDecision,
) -> ChargeResult:
    """What the caller is told about a decided charge, on the clinic's state `found` after it."""
    priced = decided.priced
    return ChargeResult(
        approved=decline is None,
        clinic_id=found.clinic.id,
        transaction_id=transaction_id or 0,
        product=priced.product,
        units=priced.units,
        credits=priced.credits,
        money=priced.money,
        currency=priced.currency,
        balance=balance,
        rule_ids=priced.rule_ids,
        pricebook=f"{priced.pricebook_id} v{priced.version}",
        summary=priced.summary,
        decline_reason=decline,
        alerts=tuple(alert.message for alert in decision.alerts),
        remaining=wallet.remaining(found, decided.current, balance, decided.at),
        warnings=priced.warnings,
    )


# -- batches -----------------------------------------------------------------------------------------

Item = tuple[int, ChargeRequest, datetime]  # (position in the batch, the charge, its time)
Outcome = ChargeResult | CreditbookError


def charge_batch(ctx: Context, items: Sequence[tuple[ChargeRequest, datetime] | CreditbookError]) -> list[Outcome]:
    """Charge many requests in one database transaction, each its own clinic, request, key and
    outcome (TigerBeetle's batches): each is approved or declined on its own, a decline is recorded,
    a key already used answers its stored outcome, and a charge that is refused — a request its
    checks refuse (given here as the error), an unknown clinic, a quote that cannot be priced, a
    key reused for another request — is answered with its error while the others are posted: it
    runs under a savepoint, rolled back alone. The answers come back in the order asked.

    Charges of one clinic are posted in the order given; clinics in the order of their ids (every
    batch takes the wallet locks in one order). The charges a kept state can price are posted by
    the one call (`_post_many`: on PostgreSQL pipelined, all in one round trip; on SQLite one
    after another on one cursor); the rest (and any the call finds stale) follow through the door
    in the same transaction. Only a failure of the database itself fails the batch — retried
    whole, when it is a lost race: the keys of anything posted before it then replay."""
    if len(items) > BATCH_MAX:
        raise InvalidAmount(f"a batch holds at most {BATCH_MAX:,} charges, not {len(items):,}", field="items")
    answers: dict[int, Outcome] = {}
    asked: list[Item] = []
    for position, item in enumerate(items):
        if isinstance(item, CreditbookError):
            answers[position] = item
        else:
            asked.append((position, *item))
    asked.sort(key=lambda entry: (entry[1].clinic_id, entry[0]))
    local: Local = {}

    def transaction(conn: Connection) -> dict[int, Outcome]:
        local.clear()
        done: dict[int, Outcome] = {}
        rest = _pipelined(ctx, conn, asked, local, done) if ctx.db.fast else asked
        for position, request, at in rest:
            done[position] = _batched(ctx, conn, request, at, local)
        return done

    answers.update(ctx.db.run(transaction))
    kept = clinic_state.states(ctx.db)
    for clinic_id, state in local.items() if ctx.db.fast else ():
        if state is None:
            kept.drop(clinic_id)
        else:
            kept.put(state)
    return [answers[position] for position in range(len(items))]


def _batched(ctx: Context, conn: Connection, asked: ChargeRequest, at: datetime, local: Local) -> Outcome:
    """One charge of a batch through the door, under a savepoint: its result, or its refusal."""
    after: list[ClinicState | None] = [None]

    def work(conn: Connection, asked_at: datetime) -> Done:
        done, after[0] = _in_transaction(ctx, conn, asked, asked_at, local)
        return done

    keyed = asked.keyed()
    try:
        with savepoint(conn):
            result = ctx.keyed(conn, keyed, keyed.digest(), work, ChargeResult, at)
    except CreditbookError as error:
        local[asked.clinic_id] = None
        return error
    if not result.replayed:
        local[asked.clinic_id] = after[0]
    return result


def _pipelined(ctx: Context, conn: Connection, asked: list[Item], local: Local, done: dict[int, Outcome]) -> list[Item]:
    """The charges a kept state prices, posted by storage/fast.py's function in one pipelined round
    trip; what is left for the door (in order), with the answers put in `done`."""
    planned: list[tuple[Item, fast.FastCharge, ChargeResult, ClinicState]] = []
    rest: list[Item] = []
    behind: set[str] = set()  # clinics with a charge left for the door: their later ones follow it
    for item in asked:
        position, request, at = item
        clinic_id = request.clinic_id
        plan = None
        if clinic_id not in behind:
            try:
                decided = _decide_kept(ctx, conn, request, at, local, may_read=clinic_id not in local)
                digest = request.keyed().digest()
                plan = None if decided is None else _plan(ctx, conn, decided, request, digest, at)
            except (CreditbookError, LedgerError):  # the door answers it, in the reference's order
                plan = None
        if plan is None:
            rest.append(item)
            behind.add(clinic_id)
            local[clinic_id] = None
            continue
        charge, result, after = plan
        planned.append((item, charge, result, after))
        local[clinic_id] = after
    answers = _post_many(conn, [charge for _, charge, _, _ in planned])
    for (item, _, result, _), answered in zip(planned, answers, strict=True):
        position, request, _ = item
        if answered.status in ("posted", "declined"):
            done[position] = result.model_copy(update={"transaction_id": answered.transaction_id})
            continue
        local[request.clinic_id] = None  # replayed or stale: what follows of the clinic is read again
        if answered.status == "replay":
            assert answered.stored is not None
            done[position] = ChargeResult.model_validate({**json.loads(answered.stored), "replayed": True})
        else:
            rest.append(item)
    return sorted(rest, key=lambda entry: (entry[1].clinic_id, entry[0]))
