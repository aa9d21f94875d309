"""The ledger's tables (SQLAlchemy Core). Storage knows credits, ids and metadata — never prices.

Money movements are double-entry: every `transactions` row has `entries` (legs) that sum to zero
across a clinic's wallet and the system accounts. A wallet's `balance` is a cache of its entries,
changed only by the guarded statements of storage/accounts.py, which only the ledger's one door
(storage/transfers.py) calls. Credits live in `lots` (a top-up, a bonus, a refund into an expired
lot...) whose `remaining` is a cache of the lot's `allocations`
(signed: what charges, repayments of an overdraft and expiry took out, what refunds put back).
Idempotency keys are stored with the hash of their request and their outcome, in the same database
transaction as the effect.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect

from engine.bounds import (
    ACTOR_MAX,
    CODE_MAX,
    ID_MAX,
    KEY_MAX,
    LABEL_MAX,
    NAME_MAX,
    PATIENT_REF_MAX,
    REFERENCE_MAX,
    URL_MAX,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements only INTEGER PRIMARY KEY


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on both databases. SQLite has no time zones:
    it stores UTC wall time, so comparisons in SQL stay correct; a naive datetime is refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the ledger stores aware datetimes only (got a naive one)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def integers(*columns: str) -> CheckConstraint:
    """SQLite stores whatever it is given: an integer that overflows becomes a float, 575 credits
    off. This CHECK (SQLite only; PostgreSQL's BIGINT already refuses) keeps every amount an integer."""
    condition = " and ".join(f"typeof({column}) = 'integer'" for column in columns)
    return CheckConstraint(condition, name="integers").ddl_if(dialect="sqlite")


def _when(name: str, nullable: bool = False) -> Column:
    return Column(name, UTCDateTime(), nullable=nullable)


clinics = Table(
    "clinics",
    metadata,
    Column("id", String(ID_MAX), primary_key=True),
    Column("name", String(NAME_MAX), nullable=False),
    Column("market", String(2), nullable=False),
    Column("pricebook_id", String(ID_MAX), nullable=False),
    Column("segment", String(16), nullable=False),
    Column("bundle", Boolean, nullable=False, default=False),
    Column("clinic_size", String(LABEL_MAX)),
    Column("timezone", String(64), nullable=False),
    Column("referred_by", String(ID_MAX), ForeignKey("clinics.id")),
    _when("created_at"),
    CheckConstraint("segment in ('standard', 'preferred')", name="segment"),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "kind", String(24), nullable=False
    ),  # wallet | cash | usage_revenue | promotion_expense | expired | adjustments
    Column("market", String(2), nullable=False),
    Column("clinic_id", String(ID_MAX), ForeignKey("clinics.id"), unique=True),
    Column("balance", BigInteger, nullable=False, default=0),
    Column("overdraft_limit", BigInteger, nullable=False, default=0),
    Column("version", BigInteger, nullable=False, default=0),
    _when("last_at", nullable=True),  # the latest posted operation's time: a clinic's time only moves forward
    # A wallet can never be further below zero than its limit; system accounts have no limit.
    CheckConstraint("kind <> 'wallet' or balance >= -overdraft_limit", name="overdraft"),
    CheckConstraint("overdraft_limit >= 0", name="limit_positive"),
    integers("balance", "overdraft_limit"),
    # one system account of each kind per market (wallets are unique by clinic_id)
    Index(
        "uq_accounts_system",
        "kind",
        "market",
        unique=True,
        sqlite_where=text("clinic_id IS NULL"),
        postgresql_where=text("clinic_id IS NULL"),
    ),
)

transactions = Table(
    "transactions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("clinic_id", String(ID_MAX), ForeignKey("clinics.id")),
    Column("kind", String(16), nullable=False),  # topup | bonus | charge | refund | adjustment | expiry | referral
    Column("status", String(10), nullable=False),  # posted | declined | failed
    Column("credits", BigInteger, nullable=False, default=0),  # the amount moved (or asked, when declined)
    _when("at"),
    Column("product", String(16)),
    Column("units", BigInteger),
    Column("pricebook_id", String(ID_MAX)),
    Column("pricebook_version", Integer),
    Column("pricebook_hash", String(64)),
    Column("rule_ids", Text),  # JSON list
    Column("quote", Text),  # JSON of the quote that priced it
    Column("reason", Text),  # why declined, or what an adjustment is for
    Column("actor", String(ACTOR_MAX)),
    Column("note", Text),
    Column("related_id", Id, ForeignKey("transactions.id")),  # a refund's charge, a bonus's top-up
    Column("payment_id", String(REFERENCE_MAX)),
    Column("patient_ref", String(PATIENT_REF_MAX)),  # who a lead was for (hashed phone): what makes a duplicate
    Column("unfunded", BigInteger, nullable=False, default=0),  # overdraft part of a charge not yet repaid
    Column("refunded", BigInteger, nullable=False, default=0),  # what refunds gave back of a charge so far
    CheckConstraint("refunded >= 0 and refunded <= credits", name="refunded"),
    CheckConstraint("unfunded >= 0", name="unfunded"),
    integers("credits", "unfunded", "refunded"),
    Index("ix_transactions_clinic_at", "clinic_id", "at"),
    Index("ix_transactions_patient", "clinic_id", "patient_ref", "at"),
)

entries = Table(
    "entries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("transaction_id", Id, ForeignKey("transactions.id"), nullable=False),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    integers("amount"),
    Index("ix_entries_account", "account_id"),
    Index("ix_entries_transaction", "transaction_id"),
)

lots = Table(
    "lots",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("wallet_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("kind", String(8), nullable=False),  # paid | granted
    Column("source", String(16), nullable=False),  # topup | package | bonus | referral | refund | adjustment
    Column("amount", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    _when("created_at"),
    _when("expires_at", nullable=True),
    Column("expired", Boolean, nullable=False, default=False),
    Column("transaction_id", Id, ForeignKey("transactions.id"), nullable=False),
    CheckConstraint("remaining >= 0 and remaining <= amount", name="remaining"),
    CheckConstraint("kind in ('paid', 'granted')", name="kind"),
    integers("amount", "remaining"),
    Index("ix_lots_wallet_open", "wallet_id", "expired", "expires_at"),
)

allocations = Table(
    "allocations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("lot_id", Id, ForeignKey("lots.id"), nullable=False),
    Column("transaction_id", Id, ForeignKey("transactions.id"), nullable=False),
    Column("charge_id", Id, ForeignKey("transactions.id")),  # repayments: whose overdraft they repaid
    Column("kind", String(8), nullable=False),  # charge | repay | expire | refund | adjust
    Column("amount", BigInteger, nullable=False),  # positive takes from the lot, negative puts back
    integers("amount"),
    Index("ix_allocations_lot", "lot_id"),
    Index("ix_allocations_transaction", "transaction_id"),
    Index("ix_allocations_charge", "charge_id"),
)

restorations = Table(
    "restorations",
    metadata,  # what a refund gave back of a charge, lot by lot (a partial refund's memory)
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("refund_id", Id, ForeignKey("transactions.id"), nullable=False),
    Column("charge_id", Id, ForeignKey("transactions.id"), nullable=False),
    Column("source_lot_id", Id, ForeignKey("lots.id")),  # None: the charge's unrepaid overdraft
    Column("credited_lot_id", Id, ForeignKey("lots.id")),  # the source lot, or a new one if it had expired
    Column("amount", BigInteger, nullable=False),
    Index("ix_restorations_charge", "charge_id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("scope", String(ID_MAX), nullable=False),  # the clinic (or "admin" for system operations)
    Column("key", String(KEY_MAX), nullable=False),
    Column("operation", String(32), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("outcome", Text),  # JSON of the result, declines included
    Column("transaction_id", Id, ForeignKey("transactions.id")),
    _when("created_at"),
    UniqueConstraint("scope", "key", name="uq_idempotency_scope_key"),
)

payments = Table(
    "payments",
    metadata,
    Column("id", String(REFERENCE_MAX), primary_key=True),  # the gateway's payment id: one top-up per payment
    Column("clinic_id", String(ID_MAX), ForeignKey("clinics.id"), nullable=False),
    Column("amount", Numeric(18, 4), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("credits", BigInteger, nullable=False),
    Column("package_code", String(CODE_MAX)),
    Column("promo_code", String(CODE_MAX)),
    Column("idempotency_key", String(KEY_MAX), nullable=False),  # the purchase request that made it
    Column("status", String(12), nullable=False),  # pending | succeeded | failed | credited
    Column("failure", Text),
    _when("created_at"),
    _when("settled_at", nullable=True),
    Column("topup_id", Id, ForeignKey("transactions.id"), unique=True),
)

disputes = Table(
    "disputes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("clinic_id", String(ID_MAX), ForeignKey("clinics.id"), nullable=False),
    Column("charge_id", Id, ForeignKey("transactions.id"), nullable=False),
    Column("reason", String(LABEL_MAX), nullable=False),
    Column("status", String(16), nullable=False),  # open | approved | rejected
    Column("decision", String(16)),  # auto_approved | admin_review | rejected
    Column("decision_reason", Text),
    _when("opened_at"),
    _when("decided_at", nullable=True),
    Column("decided_by", String(ACTOR_MAX)),
    Column("note", Text),
    Column("refund_id", Id, ForeignKey("transactions.id"), unique=True),  # at most one refund
    UniqueConstraint("charge_id", name="uq_disputes_charge"),
)

pricebook_versions = Table(
    "pricebook_versions",
    metadata,
    Column("pricebook_id", String(ID_MAX), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("semantic_hash", String(64), nullable=False),
    _when("effective_from"),
    Column("canonical_json", Text, nullable=False),
    Column("original", LargeBinary, nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("file_name", String(NAME_MAX), nullable=False),
    _when("published_at"),
    Column("published_by", String(ACTOR_MAX)),
    UniqueConstraint("pricebook_id", "semantic_hash", name="uq_pricebook_versions_hash"),
)

clinic_pins = Table(
    "clinic_pins",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("clinic_id", String(ID_MAX), ForeignKey("clinics.id"), nullable=False),
    Column("pricebook_id", String(ID_MAX), nullable=False),
    Column("version", Integer, nullable=False),
    _when("pinned_from"),
    _when("pinned_until", nullable=True),
    Column("reason", Text),
    Column("actor", String(ACTOR_MAX)),
    Index("ix_clinic_pins_clinic", "clinic_id"),
)

terms = Table(
    "terms",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("clinic_id", String(ID_MAX), ForeignKey("clinics.id"), nullable=False),
    Column("product", String(16), nullable=False),
    _when("starts_at"),
    _when("ends_at"),
    Column("units", BigInteger, nullable=False, default=0),
    Column("pricebook_id", String(ID_MAX), nullable=False),
    Column("version", Integer, nullable=False),
    UniqueConstraint("clinic_id", "product", "starts_at", name="uq_terms_start"),
)

holdings = Table(
    "holdings",
    metadata,  # packages a clinic bought: their rate applies while they last
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("clinic_id", String(ID_MAX), ForeignKey("clinics.id"), nullable=False),
    Column("product", String(16), nullable=False),
    Column("package_code", String(CODE_MAX), nullable=False),
    _when("starts_at"),
    _when("ends_at"),
    Column("transaction_id", Id, ForeignKey("transactions.id"), nullable=False),
    Index("ix_holdings_clinic", "clinic_id", "ends_at"),
)

promo_uses = Table(
    "promo_uses",
    metadata,  # how often each promotion was given, per clinic and in total ("*")
    Column("pricebook_id", String(ID_MAX), primary_key=True),
    Column("rule_id", String(ID_MAX), primary_key=True),
    Column("clinic_id", String(ID_MAX), primary_key=True),
    Column("uses", Integer, nullable=False, default=0),
)

referrals = Table(
    "referrals",
    metadata,
    Column("referrer_id", String(ID_MAX), ForeignKey("clinics.id"), primary_key=True),
    Column("referred_id", String(ID_MAX), ForeignKey("clinics.id"), primary_key=True),
    Column("rewarded_id", Id, ForeignKey("transactions.id"), unique=True),
    _when("rewarded_at", nullable=True),
)

perks = Table(
    "perks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("clinic_id", String(ID_MAX), ForeignKey("clinics.id"), nullable=False),
    Column("perk", String(CODE_MAX), nullable=False),
    Column("rule_id", String(ID_MAX), nullable=False),
    _when("starts_at"),
    _when("until"),
    Column("transaction_id", Id, ForeignKey("transactions.id"), nullable=False),
)

# -- the notification outbox (storage/outbox.py) ---------------------------------------------------

events = Table(
    "events",
    metadata,  # what happened, written in the same transaction as the change that caused it
    Column("id", String(32), primary_key=True),  # a uuid4 in hex: what receivers de-duplicate on
    Column("clinic_id", String(ID_MAX), ForeignKey("clinics.id")),  # None: about the whole company
    Column("kind", String(LABEL_MAX), nullable=False),
    Column("payload", Text, nullable=False),  # JSON
    _when("created_at"),
    Index("ix_events_clinic", "clinic_id", "created_at"),
)

notification_endpoints = Table(
    "notification_endpoints",
    metadata,  # where events go: a clinic's (or, with no clinic, every clinic's) webhook or e-mail
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("clinic_id", String(ID_MAX), ForeignKey("clinics.id")),
    Column("channel", String(LABEL_MAX), nullable=False),  # webhook | email
    Column("target", String(URL_MAX), nullable=False),  # the URL or the e-mail address
    Column("secret", String(KEY_MAX)),  # a webhook's signing secret (HMAC-SHA256)
    Column("kinds", Text, nullable=False),  # JSON list of the event kinds it receives; [] = all
    Column("active", Boolean, nullable=False, default=True),
    _when("created_at"),
    Index("ix_notification_endpoints_clinic", "clinic_id"),
)

deliveries = Table(
    "deliveries",
    metadata,  # one event to one endpoint: delivered at least once, or dead after every retry
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(32), ForeignKey("events.id"), nullable=False),
    Column("endpoint_id", Id, ForeignKey("notification_endpoints.id"), nullable=False),
    Column("status", String(LABEL_MAX), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False, default=0),
    _when("next_attempt_at"),
    _when("leased_until", nullable=True),  # a worker is sending it until then (a killed one's lease lapses)
    Column("last_error", Text),
    _when("delivered_at", nullable=True),
    UniqueConstraint("event_id", "endpoint_id", name="uq_deliveries_event_endpoint"),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
)

alert_states = Table(
    "alert_states",
    metadata,  # whether an alert's condition holds for a clinic: one event per crossing, not per charge
    Column("clinic_id", String(ID_MAX), ForeignKey("clinics.id"), primary_key=True),
    Column("kind", String(LABEL_MAX), primary_key=True),
    Column("active", Boolean, nullable=False),
    _when("changed_at"),
)

SYSTEM_ACCOUNTS = ("cash", "usage_revenue", "promotion_expense", "expired", "adjustments")
