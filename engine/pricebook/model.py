"""The compiled pricebook: immutable, typed, and the only thing pricing, rules and the ledger read.

It mirrors the workbook sheet by sheet, row by row, with every value typed (Decimal credits,
int quantities, UTC datetimes, canonical condition text) and rows sorted by rule_id, so its
canonical JSON — and the semantic hash taken of it — does not change when an editor re-saves the
file, reorders rows or edits notes. Fields that name a version rather than price anything
(version, effective_from, author, ...) sit in ``meta`` but are left out of the hash: two versions
with the same prices have the same hash, which is how publishing refuses a no-op version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC as UTC_ZONE
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, PlainSerializer, PrivateAttr, ValidationError

from engine.errors import CreditbookError
from engine.money import decimal_text, format_credits
from engine.pricebook.conditions import Condition, condition_from_text
from engine.pricebook.schema import IDENTITY_KEYS, SHEETS, meta_default_int, meta_default_text
from engine.vocabulary import (
    AlertKind,
    AppliesTo,
    Beneficiary,
    DisputeMode,
    DisputeReason,
    Market,
    PricingMode,
    Product,
    PromoType,
    Rounding,
    Segment,
    Unit,
)

D = TypeVar("D")  # what a derived index of a pricebook version is


def _decimal_json(value: Decimal) -> str:
    """Canonical text of a Decimal: '85', '74.7', '0.0001' (never '85.0' or '1E+2')."""
    text = str(value)
    if "E" in text or "e" in text or ("." in text and text.endswith("0")):
        return decimal_text(value)
    return text


def _instant_json(value: datetime) -> str:
    """Canonical text of an instant: '2026-01-01T05:00:00Z', always with a four-digit year (strftime's
    %Y writes year 1 as '1', which no ISO 8601 reader takes back)."""
    value = value.astimezone(UTC_ZONE)
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:{value.second:02d}Z"


Dec = Annotated[Decimal, PlainSerializer(_decimal_json, return_type=str, when_used="json")]
UTC = Annotated[AwareDatetime, PlainSerializer(_instant_json, return_type=str, when_used="json")]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PricebookMeta(Frozen):
    schema_version: int
    pricebook_id: str
    title: str | None = None
    market: Market
    version: int
    effective_from: UTC
    timezone: str
    currency: str
    money_per_credit: Dec
    # defaults: the Meta sheet's, declared once in engine/pricebook/schema.py
    rounding: Rounding = Rounding(meta_default_text("rounding"))
    topup_min_credits: int = meta_default_int("topup_min_credits")
    topup_validity_days: int | None = None
    sms_gsm7_single: int = meta_default_int("sms_gsm7_single")
    sms_gsm7_part: int = meta_default_int("sms_gsm7_part")
    sms_ucs2_single: int = meta_default_int("sms_ucs2_single")
    sms_ucs2_part: int = meta_default_int("sms_ucs2_part")
    sms_max_body_chars: int = meta_default_int("sms_max_body_chars")
    supersedes_version: int | None = None
    existing_customers_effective_from: UTC | None = None
    change_summary: str | None = None
    author: str | None = None


IDENTITY_FIELDS = IDENTITY_KEYS


class ProductRule(Frozen):
    rule_id: str
    product: Product
    unit: Unit
    pricing: PricingMode
    term_days: int | None = None
    billing_increment_s: int | None = None
    min_billable_s: int | None = None
    package_size: int | None = None
    free_units: int = 0


class UsageTier(Frozen):
    rule_id: str
    product: Product
    number_type: str = "-"
    direction: str = "-"
    time_window: str = "-"
    up_to: int | None = None
    unit_price_credits: Dec
    flat_fee_credits: Dec = Decimal(0)

    @property
    def conditions(self) -> tuple[Condition, Condition, Condition]:
        return (
            condition_from_text(self.number_type),
            condition_from_text(self.direction),
            condition_from_text(self.time_window),
        )


class PackageRule(Frozen):
    rule_id: str
    package_code: str
    clinic_size: str
    product: Product
    included_units: int
    unit_price_credits: Dec
    period_days: int

    @property
    def total_credits(self) -> Decimal:
        return self.included_units * self.unit_price_credits


class BundleRule(Frozen):
    rule_id: str
    bundle_code: str
    components: tuple[Product, ...]
    applies_to: AppliesTo
    discount_pct: Dec
    stackable: bool = False


class LeadPrice(Frozen):
    rule_id: str
    channel: str = "-"
    specialty: str = "-"
    city: str = "-"
    pkg_price_from: Dec = Decimal(0)
    pkg_price_to: Dec | None = None
    lead_price_credits: Dec


class TopUpPromo(Frozen):
    rule_id: str
    promo_code: str | None = None
    promo_type: PromoType
    paid_from: int = 0
    paid_to: int | None = None
    bonus_credits: int | None = None
    bonus_pct: Dec | None = None
    bonus_cap_credits: int | None = None
    perk: str | None = None
    perk_days: int | None = None
    beneficiary: Beneficiary
    valid_from: UTC
    valid_to: UTC | None = None  # exclusive instant
    bonus_expiry_days: int | None = None
    max_per_clinic: int | None = None
    max_total: int | None = None
    stackable: bool = False


class OverdraftRule(Frozen):
    rule_id: str
    segment: Segment
    max_negative_credits: int


class DisputeRule(Frozen):
    rule_id: str
    reason: DisputeReason
    products: tuple[Product, ...]
    window_days: int
    decision: DisputeMode = DisputeMode.REVIEW
    duplicate_window_days: int | None = None


class AlertRule(Frozen):
    rule_id: str
    alert: AlertKind
    threshold: int


class NamedList(Frozen):
    name: str
    values: tuple[str, ...]


#: compiled field → workbook sheet, in workbook order
SHEET_OF_FIELD: dict[str, str] = {spec.compiled_as: spec.name for spec in SHEETS if spec.compiled_as}


class CompiledPricebook(Frozen):
    """A validated pricebook version. Build it with engine.load_pricebook; never by hand."""

    meta: PricebookMeta
    lists: tuple[NamedList, ...] = ()
    products: tuple[ProductRule, ...] = ()
    usage_tiers: tuple[UsageTier, ...] = ()
    packages: tuple[PackageRule, ...] = ()
    bundles: tuple[BundleRule, ...] = ()
    lead_prices: tuple[LeadPrice, ...] = ()
    topup_promos: tuple[TopUpPromo, ...] = ()
    overdraft: tuple[OverdraftRule, ...] = ()
    disputes: tuple[DisputeRule, ...] = ()
    alerts: tuple[AlertRule, ...] = ()
    semantic_hash: str = ""
    # Indexes that later layers derive from this version (pricing tables, rulesets), built once per
    # object. Not a field: no part of the pricebook's content, its JSON or its hash.
    _derived: dict[str, Any] = PrivateAttr(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        """Equal when the content and identity are; caches of derived indexes do not count."""
        if not isinstance(other, CompiledPricebook):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in type(self).model_fields)

    def __hash__(self) -> int:
        return hash((self.meta.pricebook_id, self.meta.version, self.semantic_hash))

    def derived(self, name: str, build: Callable[[CompiledPricebook], D]) -> D:
        """The cached result of `build(self)` under `name` (one builder per name)."""
        # read directly (a hot path); pydantic types __pydantic_private__ as Optional, but a model with a
        # private attribute always has it
        cache: dict[str, Any] = self.__pydantic_private__["_derived"]  # type: ignore[index]
        found = cache.get(name)
        if found is None:
            found = cache.setdefault(name, build(self))
        return found

    # -- identity ---------------------------------------------------------------------------------
    @property
    def pricebook_id(self) -> str:
        return self.meta.pricebook_id

    @property
    def version(self) -> int:
        return self.meta.version

    @property
    def short_hash(self) -> str:
        return self.semantic_hash[:12]

    @property
    def label(self) -> str:
        return f"{self.meta.pricebook_id} v{self.meta.version} ({self.short_hash})"

    # -- lookups ----------------------------------------------------------------------------------
    def list_values(self, name: str) -> tuple[str, ...]:
        for named in self.lists:
            if named.name == name:
                return named.values
        return ()

    def product(self, name: str) -> ProductRule | None:
        return next((p for p in self.products if p.product == name), None)

    def rule_ids(self) -> set[str]:
        ids: set[str] = set()
        for field in SHEET_OF_FIELD:
            ids.update(row.rule_id for row in getattr(self, field))
        return ids

    def format_credits(self, credits: int | Decimal) -> str:
        """'85 credits ($0.0085)' in this pricebook's currency."""
        return format_credits(credits, self.meta.money_per_credit, self.meta.currency)

    def effective_from_local(self) -> datetime:
        from zoneinfo import ZoneInfo

        return self.meta.effective_from.astimezone(ZoneInfo(self.meta.timezone))

    # -- canonical forms --------------------------------------------------------------------------
    def content(self) -> dict[str, Any]:
        """Everything that prices, as JSON-ready data: what the semantic hash covers."""
        data = self.model_dump(mode="json", exclude={"semantic_hash"})
        data["meta"] = {k: v for k, v in data["meta"].items() if k not in IDENTITY_FIELDS}
        return data

    def identity(self) -> dict[str, Any]:
        meta = self.meta.model_dump(mode="json")
        return {k: meta[k] for k in sorted(IDENTITY_FIELDS | {"pricebook_id"}) if k in meta}

    def canonical_json(self) -> str:
        """Stable JSON of the whole compiled pricebook (identity, content and hash)."""
        document = {"identity": self.identity(), "content": self.content(), "semantic_hash": self.semantic_hash}
        return canonical_dumps(document)


def canonical_dumps(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def semantic_hash_of(pricebook: CompiledPricebook) -> str:
    return hashlib.sha256(canonical_dumps(pricebook.content()).encode("utf-8")).hexdigest()


class CompiledPricebookError(CreditbookError, ValueError):
    """A stored compiled pricebook that cannot be loaded (damaged JSON, or a hash that does not match)."""

    code = "compiled_pricebook_invalid"
    status = 500


def load_compiled_json(text: str) -> CompiledPricebook:
    """Rebuild a compiled pricebook from its canonical JSON and check its hash; anything else than
    a pricebook whose content hashes to its stored hash raises CompiledPricebookError."""
    try:
        document = json.loads(text)
        content = document["content"]
        stored = document["semantic_hash"]
        meta = {**content["meta"], **document["identity"]}
        pricebook = CompiledPricebook.model_validate({**content, "meta": meta, "semantic_hash": stored})
    except (ValueError, TypeError, KeyError, RecursionError, ValidationError) as exc:
        raise CompiledPricebookError(f"compiled pricebook cannot be read: {str(exc)[:300]}") from exc
    actual = semantic_hash_of(pricebook)
    if actual != stored:
        raise CompiledPricebookError(
            f"compiled pricebook hash mismatch: stored {str(stored)[:12]}, content hashes to {actual[:12]}"
        )
    return pricebook
