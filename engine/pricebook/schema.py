"""The pricebook workbook format, declared once.

Every sheet and column the pricing team edits is described here: its type, whether it is required,
its bounds, the dropdown list it draws from, and the help text that becomes the header comment and
the README glossary. The reader, the validator, the template writer, the annotator, the diff and
the dump all read this one declaration, so the format cannot drift between them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from engine.bounds import (
    ACTOR_MAX,
    BALANCE_MAX,
    DAYS_MAX,
    ID_MAX,
    INT64_MAX,
    MONEY_MAX,
    NAME_MAX,
    OPERATION_CREDITS_MAX,
    UNITS_MAX,
)
from engine.vocabulary import (
    WORKBOOK_ROUNDINGS,
    AlertKind,
    AppliesTo,
    Beneficiary,
    Channel,
    Direction,
    DisputeMode,
    DisputeReason,
    Market,
    NumberType,
    Plan,
    PricingMode,
    Product,
    PromoType,
    Rounding,
    Segment,
    TimeWindow,
    Unit,
)

SCHEMA_VERSION = 1

# The largest value of each kind of number a workbook may hold: what the ledger stores and what
# later date and credit arithmetic can take (engine/bounds.py); a number above its column's
# maximum is a C10 finding at its cell.
CREDITS_MAX = Decimal(OPERATION_CREDITS_MAX)  # a price or a fee: one unit within one operation
WALLET_MAX = Decimal(BALANCE_MAX)  # a limit, threshold or stated total: within what a wallet holds
UNITS = Decimal(UNITS_MAX)
DAYS = Decimal(DAYS_MAX)
SECONDS = Decimal(DAYS_MAX * 86_400)
MONEY = MONEY_MAX
COUNT = Decimal(INT64_MAX)
#: versions are stored in INTEGER columns (32-bit on PostgreSQL)
VERSION_MAX = 2**31 - 1


class Kind(StrEnum):
    ID = "id"  # rule_id / case_id: unique across the workbook
    TEXT = "text"  # free text
    CODE = "code"  # identifier such as a package or promo code: trimmed, upper case, no spaces
    ENUM = "enum"  # one value from a list
    ENUM_LIST = "enum_list"  # several values from a list, comma separated
    CONDITION = "condition"  # '-' (any), a value, 'a, b', or 'not(a, b)'
    INT = "int"  # whole number
    DECIMAL = "decimal"  # exact number (credits may be fractional)
    MONEY = "money"  # an amount of the pricebook's currency (not credits)
    PCT = "pct"  # a fraction 0-1 shown as a percentage
    STATED = "stated"  # a human-typed cross-check total; 42.5K and 1.25M are understood
    DATE = "date"  # a date or date-time in the pricebook's time zone
    BOOL = "bool"  # yes / no


@dataclass(frozen=True)
class Column:
    """One column of a data sheet."""

    name: str
    kind: Kind
    help_text: str  # may hold CREDITS, which the template fills with the market's '1 credit = ...'
    required: bool = False
    list_name: str | None = None
    minimum: Decimal | None = None  # inclusive lower bound
    positive: bool = False  # strictly above zero
    maximum: Decimal | None = None  # inclusive upper bound (numbers)
    max_length: int | None = None  # longest text; None: by kind (engine/pricebook/cells.py)
    max_decimals: int = 4
    default: object = None
    price: bool = False  # a price: diffs show its percentage change
    width: int = 14
    number_format: str | None = None
    verbatim: bool = False  # kept exactly as typed (notes, SMS bodies): no tidying

    @property
    def is_notes(self) -> bool:
        return self.name == "notes"

    @property
    def help(self) -> str:
        """The column's help as findings quote it, naming no market: the template writes the
        market's own '1 credit = $0.0001' in place of CREDITS instead."""
        return self.help_text.replace(CREDITS, "1 credit = the Meta sheet's money_per_credit")


@dataclass(frozen=True)
class SheetSpec:
    """One data sheet: an Excel Table named tbl_<name> at A1."""

    name: str
    purpose: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()  # natural key that must be unique besides rule_id
    required_for: frozenset[str] = frozenset()  # markets whose workbook must have this sheet
    in_template_for: frozenset[str] = frozenset({"US", "IN"})
    compiled_as: str | None = None  # the CompiledPricebook field its rows become (None: not compiled)

    @property
    def table_name(self) -> str:
        return f"tbl_{self.name}"

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


@dataclass(frozen=True)
class ListSpec:
    """A dropdown list on the Lists sheet. Fixed lists are the engine's vocabulary; the others
    (cities, specialties, clinic sizes, perks) belong to the pricing team."""

    name: str
    help: str
    fixed: tuple[str, ...] = ()
    editable: bool = False
    case_sensitive_display: bool = False

    @property
    def range_name(self) -> str:
        return f"lst_{self.name}"


@dataclass(frozen=True)
class MetaKey:
    name: str
    kind: Kind
    help: str
    required: bool = False
    list_name: str | None = None
    identity: bool = False  # names the version rather than its prices; left out of the semantic hash
    default: object = None
    positive: bool = False
    maximum: Decimal | None = None
    max_length: int | None = None


# ----------------------------------------------------------------------------------------------
# Lists
# ----------------------------------------------------------------------------------------------


def _values(members: Iterable[StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in members)


LISTS: tuple[ListSpec, ...] = (
    ListSpec("product", "What is sold: SMS segments, voice minutes, chat or call leads.", _values(Product)),
    ListSpec("unit", "How a product is counted.", _values(Unit)),
    ListSpec(
        "pricing",
        "How usage is priced: graduated tiers, volume tiers, packages of units, or the lead table.",
        _values(PricingMode),
    ),
    ListSpec("channel", "How a lead reached the clinic.", _values(Channel)),
    ListSpec(
        "number_type", "The number a message or call is sent from (sender type / caller ID).", _values(NumberType)
    ),
    ListSpec("direction", "Outbound (clinic to patient) or inbound.", _values(Direction)),
    ListSpec("time_window", "When a call or message is sent.", _values(TimeWindow)),
    ListSpec("segment", "Customer segment; decides the overdraft limit.", _values(Segment)),
    ListSpec(
        "promo_type",
        "Kind of top-up promotion: a fixed bonus, a percentage bonus, or a referral bonus.",
        _values(PromoType),
    ),
    ListSpec(
        "beneficiary",
        "Who receives a promotion's bonus: the paying clinic, the referring clinic, or both.",
        _values(Beneficiary),
    ),
    ListSpec("applies_to", "Which plans a bundle discount applies to.", _values(AppliesTo)),
    ListSpec("dispute_reason", "Why a clinic disputes a charge.", _values(DisputeReason)),
    ListSpec("decision", "How a dispute is decided.", _values(DisputeMode)),
    ListSpec("alert", "Which alert a threshold sets.", _values(AlertKind)),
    ListSpec("yes_no", "Yes or no.", ("yes", "no")),
    ListSpec("rounding", "How a charge is rounded to whole credits.", _values(WORKBOOK_ROUNDINGS)),
    ListSpec("market", "Market of the pricebook.", _values(Market), case_sensitive_display=True),
    ListSpec("clinic_size", "Clinic sizes that packages are made for.", editable=True),
    ListSpec("specialty", "Medical specialties a lead can be for.", editable=True),
    ListSpec(
        "city",
        "Cities a lead can come from (type Title Case, e.g. Mumbai).",
        editable=True,
        case_sensitive_display=True,
    ),
    ListSpec("perk", "Perks a promotion can grant (not credits).", editable=True),
)

LIST_BY_NAME: dict[str, ListSpec] = {spec.name: spec for spec in LISTS}

# ----------------------------------------------------------------------------------------------
# Meta
# ----------------------------------------------------------------------------------------------

META_KEYS: tuple[MetaKey, ...] = (
    MetaKey(
        "schema_version",
        Kind.INT,
        "Version of this workbook format. Leave as 1.",
        required=True,
        maximum=Decimal(VERSION_MAX),
    ),
    MetaKey(
        "pricebook_id",
        Kind.TEXT,
        "Stable name of this pricebook, e.g. us-audiology. Never changes between versions.",
        required=True,
        max_length=ID_MAX,
    ),
    MetaKey("title", Kind.TEXT, "A readable title shown in reports.", identity=True, max_length=NAME_MAX),
    MetaKey("market", Kind.ENUM, "US or IN.", required=True, list_name="market"),
    MetaKey(
        "version",
        Kind.INT,
        "Version number: the previous version + 1.",
        required=True,
        identity=True,
        positive=True,
        maximum=Decimal(VERSION_MAX),
    ),
    MetaKey(
        "effective_from",
        Kind.DATE,
        "When these prices start to apply, in the time zone below. Must be later than the previous version's.",
        required=True,
        identity=True,
    ),
    MetaKey(
        "timezone",
        Kind.TEXT,
        "IANA time zone for every date in this workbook, e.g. America/New_York or Asia/Kolkata.",
        required=True,
        max_length=ID_MAX,
    ),
    MetaKey("currency", Kind.TEXT, "ISO currency code: USD or INR.", required=True, max_length=ID_MAX),
    MetaKey(
        "money_per_credit",
        Kind.DECIMAL,
        "What one credit is worth in the currency: 0.0001 for US (so $0.0085 = 85 credits), 1 for India.",
        required=True,
        positive=True,
        maximum=MONEY,
    ),
    MetaKey(
        "rounding",
        Kind.ENUM,
        "How each charge line is rounded to whole credits (once per line).",
        list_name="rounding",
        default=Rounding.HALF_UP.value,
    ),
    MetaKey(
        "topup_min_credits",
        Kind.INT,
        "Smallest pay-as-you-go top-up, in credits.",
        default=1,
        positive=True,
        maximum=CREDITS_MAX,
    ),
    MetaKey(
        "topup_validity_days",
        Kind.INT,
        "Days purchased top-up credits stay usable. Empty = they never expire.",
        positive=True,
        maximum=DAYS,
    ),
    MetaKey(
        "sms_gsm7_single", Kind.INT, "Characters in a one-segment GSM-7 SMS.", default=160, positive=True, maximum=COUNT
    ),
    MetaKey(
        "sms_gsm7_part",
        Kind.INT,
        "Characters per segment of a longer GSM-7 SMS.",
        default=153,
        positive=True,
        maximum=COUNT,
    ),
    MetaKey(
        "sms_ucs2_single",
        Kind.INT,
        "Characters in a one-segment Unicode (UCS-2) SMS.",
        default=70,
        positive=True,
        maximum=COUNT,
    ),
    MetaKey(
        "sms_ucs2_part",
        Kind.INT,
        "Characters per segment of a longer Unicode SMS.",
        default=67,
        positive=True,
        maximum=COUNT,
    ),
    MetaKey(
        "sms_max_body_chars",
        Kind.INT,
        "Longest SMS body accepted, in characters.",
        default=1600,
        positive=True,
        maximum=COUNT,
    ),
    MetaKey(
        "supersedes_version",
        Kind.INT,
        "The version this one replaces (empty for the first).",
        identity=True,
        positive=True,
        maximum=Decimal(VERSION_MAX),
    ),
    MetaKey(
        "existing_customers_effective_from",
        Kind.DATE,
        "Optional: when clinics that started on an earlier version move to these prices. Empty = at their next term.",
        identity=True,
    ),
    MetaKey("change_summary", Kind.TEXT, "What changed in this version, in a sentence.", identity=True),
    MetaKey("author", Kind.TEXT, "Who prepared this version.", identity=True, max_length=ACTOR_MAX),
)

META_BY_NAME: dict[str, MetaKey] = {key.name: key for key in META_KEYS}
#: the Meta keys that name a version rather than price anything (left out of the semantic hash)
IDENTITY_KEYS: frozenset[str] = frozenset(key.name for key in META_KEYS if key.identity)
#: what an optional Meta key is when the workbook leaves it out
META_DEFAULTS: dict[str, object] = {key.name: key.default for key in META_KEYS if key.default is not None}


def meta_default_int(name: str) -> int:
    """The declared default of a whole-number Meta key (a TypeError names a key declared otherwise)."""
    value = META_DEFAULTS[name]
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"the Meta default of {name} is {value!r}, not a whole number")
    return value


def meta_default_text(name: str) -> str:
    """The declared default of a text Meta key (a TypeError names a key declared otherwise)."""
    value = META_DEFAULTS[name]
    if not isinstance(value, str):
        raise TypeError(f"the Meta default of {name} is {value!r}, not text")
    return value


# ----------------------------------------------------------------------------------------------
# Data sheets
# ----------------------------------------------------------------------------------------------

ZERO = Decimal(0)
CREDITS = "{credit}"  # replaced by '1 credit = $0.0001' or '1 credit = ₹1' when the template is written


def _rule_id(example: str) -> Column:
    return Column(
        "rule_id",
        Kind.ID,
        f"Stable id of this row, unique in the workbook (e.g. {example}). "
        "Ledger entries and diffs point to it: keep it when you change a price.",
        required=True,
        width=14,
    )


NOTES = Column("notes", Kind.TEXT, "Free notes. Ignored by pricing, the hash and diffs.", width=60, verbatim=True)


def _condition(name: str, list_name: str, what: str, required: bool = True) -> Column:
    """A condition column. When the column is absent every row reads '-'; when it is present a blank
    cell is an error (an empty cell must never silently mean 'any')."""
    hint = "Type - for any" if required else "Empty or - for any"
    return Column(
        name,
        Kind.CONDITION,
        f"{what} {hint}, a value from the list, several values separated by commas, or not(a, b) to exclude.",
        required=required,
        list_name=list_name,
        default="-",
        width=16,
    )


PRODUCTS = SheetSpec(
    "Products",
    "One row per product: how it is counted and how its usage is priced.",
    (
        _rule_id("PR-SMS"),
        Column("product", Kind.ENUM, "The product.", required=True, list_name="product"),
        Column(
            "unit",
            Kind.ENUM,
            "Unit of the product: segment for sms, minute for voice, lead for leads.",
            required=True,
            list_name="unit",
        ),
        Column(
            "pricing",
            Kind.ENUM,
            "graduated: each tier prices its own slice of the term's usage; "
            "volume: the tier reached prices every unit; lead_table: priced by LeadPrices.",
            required=True,
            list_name="pricing",
        ),
        Column(
            "term_days",
            Kind.INT,
            "Days over which graduated usage accumulates (365 for pay-as-you-go). Empty = each charge stands alone.",
            positive=True,
            maximum=DAYS,
        ),
        Column(
            "billing_increment_s",
            Kind.INT,
            "Voice only: each call is rounded up to this many seconds.",
            positive=True,
            maximum=SECONDS,
        ),
        Column(
            "min_billable_s",
            Kind.INT,
            "Voice only: shortest billed completed call, in seconds.",
            positive=True,
            maximum=SECONDS,
        ),
        Column(
            "package_size",
            Kind.INT,
            "pricing = package only: units per package; a started package is charged in full.",
            positive=True,
            maximum=UNITS,
        ),
        Column(
            "free_units",
            Kind.INT,
            "pricing = package only: units free before packages are counted.",
            minimum=ZERO,
            maximum=UNITS,
        ),
        NOTES,
    ),
    key=("product",),
    required_for=frozenset({"US", "IN"}),
    compiled_as="products",
)

USAGE_TIERS = SheetSpec(
    "UsageTiers",
    "Pay-as-you-go tiers. up_to is the cumulative usage where a tier ends (inclusive); "
    "the last tier has an empty up_to.",
    (
        _rule_id("SMS-1"),
        Column("product", Kind.ENUM, "Product these tiers price.", required=True, list_name="product"),
        _condition("number_type", "number_type", "Sender type or caller ID this tier table is for."),
        _condition("direction", "direction", "Direction this tier table is for."),
        _condition("time_window", "time_window", "Time window this tier table is for."),
        Column(
            "up_to",
            Kind.INT,
            "Cumulative units (over the term) where this tier ends, inclusive. "
            "Empty on the last tier = no upper limit.",
            positive=True,
            maximum=UNITS,
            number_format="#,##0",
        ),
        Column(
            "unit_price_credits",
            Kind.DECIMAL,
            f"Price of one unit in this tier, in credits ({CREDITS}). Up to 4 decimals.",
            required=True,
            minimum=ZERO,
            maximum=CREDITS_MAX,
            price=True,
            width=18,
        ),
        Column(
            "flat_fee_credits",
            Kind.DECIMAL,
            f"Optional fee charged once when a term enters this tier, in credits ({CREDITS}).",
            minimum=ZERO,
            maximum=CREDITS_MAX,
            default=ZERO,
            price=True,
            width=16,
        ),
        Column(
            "stated_tier_credits",
            Kind.STATED,
            "Optional cross-check: credits for the whole tier "
            "(tier size × unit price) as written in the brief. 42.5K and 1.25M are understood.",
            maximum=WALLET_MAX,
            width=18,
        ),
        NOTES,
    ),
    required_for=frozenset({"US"}),
    in_template_for=frozenset({"US"}),
    compiled_as="usage_tiers",
)

PACKAGES = SheetSpec(
    "Packages",
    "Monthly packages by clinic size: a purchase of credits at a package rate.",
    (
        _rule_id("PK-SOLO-SMS"),
        Column(
            "package_code", Kind.CODE, "Code a clinic buys, e.g. SOLO-SMS. One row per code and product.", required=True
        ),
        Column(
            "clinic_size", Kind.ENUM, "Clinic size the package is made for.", required=True, list_name="clinic_size"
        ),
        Column("product", Kind.ENUM, "Product the package covers.", required=True, list_name="product"),
        Column(
            "included_units",
            Kind.INT,
            "Units the package's credits buy at its rate.",
            required=True,
            positive=True,
            maximum=UNITS,
            number_format="#,##0",
        ),
        Column(
            "unit_price_credits",
            Kind.DECIMAL,
            f"Rate per unit while on this package, in credits ({CREDITS}).",
            required=True,
            minimum=ZERO,
            maximum=CREDITS_MAX,
            price=True,
            width=18,
        ),
        Column(
            "stated_total_credits",
            Kind.STATED,
            "Optional cross-check: credits of the package (included units × rate) as written in the brief.",
            maximum=WALLET_MAX,
            width=18,
        ),
        Column(
            "period_days",
            Kind.INT,
            "Days the package lasts and its credits stay usable.",
            required=True,
            positive=True,
            maximum=DAYS,
            default=30,
        ),
        NOTES,
    ),
    key=("package_code", "product"),
    in_template_for=frozenset({"US"}),
    compiled_as="packages",
)

BUNDLES = SheetSpec(
    "Bundles",
    "Discounts for clinics that hold several products at once.",
    (
        _rule_id("BN-SMS-VOICE"),
        Column("bundle_code", Kind.CODE, "Code of the bundle, e.g. SMS-VOICE.", required=True),
        Column(
            "components",
            Kind.ENUM_LIST,
            "Products the clinic must hold, comma separated (sms, voice).",
            required=True,
            list_name="product",
            width=18,
        ),
        Column(
            "applies_to",
            Kind.ENUM,
            "Plans the discount applies to: payg, packages or both.",
            required=True,
            list_name="applies_to",
        ),
        Column(
            "discount_pct",
            Kind.PCT,
            "Discount on the unit rate of every component, as a percentage (type 10%).",
            required=True,
            price=True,
            number_format="0.0%",
            max_decimals=6,
        ),
        Column(
            "stackable",
            Kind.BOOL,
            "yes: adds to other bundle discounts; no: the best single discount applies.",
            default=False,
        ),
        NOTES,
    ),
    key=("bundle_code",),
    in_template_for=frozenset({"US"}),
    compiled_as="bundles",
)

LEAD_PRICES = SheetSpec(
    "LeadPrices",
    "Price of one lead. The most specific matching row wins; a row of - everywhere is the default.",
    (
        _rule_id("LP-001"),
        _condition("channel", "channel", "Lead channel."),
        _condition("specialty", "specialty", "Specialty of the clinic's treatment."),
        _condition("city", "city", "City of the clinic."),
        Column(
            "pkg_price_from",
            Kind.MONEY,
            "Treatment package price from (inclusive), in currency (not credits). 0 = from the start.",
            required=True,
            minimum=ZERO,
            maximum=MONEY,
            default=ZERO,
            number_format="#,##0",
        ),
        Column(
            "pkg_price_to",
            Kind.MONEY,
            "Treatment package price up to (exclusive), in currency. Empty = no upper limit.",
            minimum=ZERO,
            maximum=MONEY,
            number_format="#,##0",
        ),
        Column(
            "lead_price_credits",
            Kind.DECIMAL,
            f"Price of one lead, in credits ({CREDITS}).",
            required=True,
            minimum=ZERO,
            maximum=CREDITS_MAX,
            price=True,
            width=18,
            number_format="#,##0",
        ),
        NOTES,
    ),
    required_for=frozenset({"IN"}),
    in_template_for=frozenset({"IN"}),
    compiled_as="lead_prices",
)

TOPUP_PROMOS = SheetSpec(
    "TopUpPromos",
    "Bonuses on top-ups and referrals. Bonus credits are granted credits: no cash value.",
    (
        _rule_id("PROMO-01"),
        Column("promo_code", Kind.CODE, "Code the clinic types. Empty = applied automatically.", width=16),
        Column("promo_type", Kind.ENUM, "fixed_bonus, pct_bonus or referral.", required=True, list_name="promo_type"),
        Column(
            "paid_from",
            Kind.INT,
            f"Smallest paid top-up that qualifies, in credits ({CREDITS}).",
            required=True,
            minimum=ZERO,
            maximum=CREDITS_MAX,
            default=0,
            number_format="#,##0",
        ),
        Column(
            "paid_to",
            Kind.INT,
            "Paid top-ups from this amount on no longer qualify, in credits. Empty = no upper limit.",
            positive=True,
            maximum=CREDITS_MAX,
            number_format="#,##0",
        ),
        Column(
            "bonus_credits",
            Kind.INT,
            "Bonus credits granted (fixed_bonus and referral).",
            minimum=ZERO,
            maximum=CREDITS_MAX,
            price=True,
            number_format="#,##0",
        ),
        Column(
            "bonus_pct",
            Kind.PCT,
            "Bonus as a percentage of the paid credits (pct_bonus), e.g. 20%.",
            price=True,
            number_format="0.0%",
            max_decimals=6,
        ),
        Column(
            "bonus_cap_credits",
            Kind.INT,
            "Largest bonus of a pct_bonus promotion, in credits.",
            positive=True,
            maximum=CREDITS_MAX,
            number_format="#,##0",
        ),
        Column(
            "perk",
            Kind.ENUM,
            "Optional perk granted with the bonus, e.g. featured_placement.",
            list_name="perk",
            width=18,
        ),
        Column("perk_days", Kind.INT, "How long the perk lasts, in days.", positive=True, maximum=DAYS),
        Column(
            "beneficiary",
            Kind.ENUM,
            "payer: the clinic that tops up; referrer: the clinic that referred "
            "it; both: each gets bonus_credits (referrals).",
            required=True,
            list_name="beneficiary",
        ),
        Column(
            "stated_total_credits",
            Kind.STATED,
            "Optional cross-check: paid_from + bonus as written in "
            "the offer (e.g. 10,000 for 'pay ₹5,000, get 10,000 credits').",
            maximum=WALLET_MAX,
            width=18,
        ),
        Column(
            "valid_from",
            Kind.DATE,
            "First day of the offer (pricebook time zone).",
            required=True,
            number_format="yyyy-mm-dd",
        ),
        Column("valid_to", Kind.DATE, "Last day of the offer, inclusive. Empty = no end.", number_format="yyyy-mm-dd"),
        Column(
            "bonus_expiry_days",
            Kind.INT,
            "Days the bonus credits stay usable. Empty = like paid credits.",
            positive=True,
            maximum=DAYS,
        ),
        Column(
            "max_per_clinic",
            Kind.INT,
            "Times one clinic can receive it. Empty = no limit.",
            positive=True,
            maximum=COUNT,
        ),
        Column(
            "max_total", Kind.INT, "Times it can be received in total. Empty = no limit.", positive=True, maximum=COUNT
        ),
        Column(
            "stackable",
            Kind.BOOL,
            "yes: adds to other promotions; no: the clinic gets the best single non-stackable promotion.",
            default=False,
        ),
        NOTES,
    ),
    compiled_as="topup_promos",
)

OVERDRAFT = SheetSpec(
    "Overdraft",
    "How far below zero a clinic's balance may go, by segment. Always a number: there is no unlimited.",
    (
        _rule_id("OD-STANDARD"),
        Column("segment", Kind.ENUM, "Customer segment.", required=True, list_name="segment"),
        Column(
            "max_negative_credits",
            Kind.INT,
            f"Largest negative balance allowed, in credits ({CREDITS}). 0 = no overdraft.",
            required=True,
            minimum=ZERO,
            maximum=WALLET_MAX,
            price=True,
            width=20,
            number_format="#,##0",
        ),
        NOTES,
    ),
    key=("segment",),
    required_for=frozenset({"US", "IN"}),
    compiled_as="overdraft",
)

DISPUTES = SheetSpec(
    "Disputes",
    "Reasons a clinic may dispute a charge, the window to do it, and how it is decided.",
    (
        _rule_id("DS-DUP"),
        Column("reason", Kind.ENUM, "Dispute reason.", required=True, list_name="dispute_reason", width=20),
        Column(
            "products",
            Kind.ENUM_LIST,
            "Products whose charges can be disputed for this reason.",
            required=True,
            list_name="product",
            width=20,
        ),
        Column(
            "window_days",
            Kind.INT,
            "Days after the charge during which a dispute can be opened.",
            required=True,
            positive=True,
            maximum=DAYS,
        ),
        Column(
            "decision",
            Kind.ENUM,
            "review: an admin decides; auto_approve_duplicate: approved at once "
            "when the same patient was charged within duplicate_window_days.",
            required=True,
            list_name="decision",
            default="review",
            width=22,
        ),
        Column(
            "duplicate_window_days",
            Kind.INT,
            "For auto_approve_duplicate: days within which a second charge for the same patient is a duplicate.",
            positive=True,
            maximum=DAYS,
        ),
        NOTES,
    ),
    key=("reason",),
    required_for=frozenset({"US", "IN"}),
    compiled_as="disputes",
)

ALERTS = SheetSpec(
    "Alerts",
    "Thresholds for the clinic's low-balance and expiring-credit alerts.",
    (
        _rule_id("AL-LOW"),
        Column("alert", Kind.ENUM, "Which alert.", required=True, list_name="alert", width=24),
        Column(
            "threshold",
            Kind.INT,
            "low_balance_credits: credits; low_balance_runway_days and expiring_credits_days: days.",
            required=True,
            minimum=ZERO,
            maximum=WALLET_MAX,
            number_format="#,##0",
        ),
        NOTES,
    ),
    key=("alert",),
    required_for=frozenset({"US", "IN"}),
    compiled_as="alerts",
)

TESTS = SheetSpec(
    "Tests",
    "Worked examples the pricebook must reproduce. Each is priced whenever the workbook is validated.",
    (
        Column("case_id", Kind.ID, "Id of the example, unique in the workbook.", required=True),
        Column("product", Kind.ENUM, "Product being priced.", required=True, list_name="product"),
        Column(
            "quantity",
            Kind.INT,
            "Units (segments, minutes, leads), or recipients / calls when message_text or call_seconds is given.",
            required=True,
            minimum=ZERO,
            maximum=UNITS,
            default=1,
        ),
        Column(
            "message_text",
            Kind.TEXT,
            "SMS only: a message body; each recipient is charged its segments.",
            width=30,
            verbatim=True,
        ),
        Column(
            "call_seconds",
            Kind.INT,
            "Voice only: duration of each call, rounded up per call.",
            minimum=ZERO,
            maximum=SECONDS,
        ),
        Column("plan", Kind.CODE, "payg or a package_code.", default=Plan.PAYG.value),
        Column("bundle", Kind.BOOL, "yes if the clinic holds the SMS + voice bundle.", default=False),
        Column(
            "used_before", Kind.INT, "Units already used in the current term.", minimum=ZERO, maximum=UNITS, default=0
        ),
        _condition("number_type", "number_type", "Sender type or caller ID of the example.", required=False),
        Column("specialty", Kind.ENUM, "Leads only: specialty.", list_name="specialty"),
        Column("city", Kind.ENUM, "Leads only: city.", list_name="city"),
        Column(
            "package_price",
            Kind.MONEY,
            "Leads only: treatment package price, in currency.",
            minimum=ZERO,
            maximum=MONEY,
            number_format="#,##0",
        ),
        Column(
            "expected_credits",
            Kind.INT,
            "Credits this example must cost.",
            required=True,
            minimum=ZERO,
            maximum=CREDITS_MAX,
            number_format="#,##0",
        ),
        Column("expected_rule_ids", Kind.TEXT, "Optional: rule_ids that must price it, comma separated.", width=22),
        NOTES,
    ),
)

SHEETS: tuple[SheetSpec, ...] = (
    PRODUCTS,
    USAGE_TIERS,
    PACKAGES,
    BUNDLES,
    LEAD_PRICES,
    TOPUP_PROMOS,
    OVERDRAFT,
    DISPUTES,
    ALERTS,
    TESTS,
)
SHEET_BY_NAME: dict[str, SheetSpec] = {spec.name: spec for spec in SHEETS}

#: Sheets in the order they appear in a workbook.
SHEET_ORDER: tuple[str, ...] = ("README", "Meta", "Lists", *(spec.name for spec in SHEETS))
META_SHEET = "Meta"
LISTS_SHEET = "Lists"
README_SHEET = "README"


#: Whole-number columns that count credits without saying so in their name.
CREDIT_COUNTS = frozenset({"paid_from", "paid_to", "topup_min_credits"})


def amount_kind(sheet: str, name: str) -> str:
    """How a number in a column is written for people: 'credits' (with their money), 'money',
    'percent' or 'number'. Meta keys are looked up on sheet 'Meta'."""
    if sheet == META_SHEET:
        key = META_BY_NAME.get(name)
        kind = key.kind if key else None
    else:
        spec = SHEET_BY_NAME.get(sheet)
        column = next((c for c in spec.columns if c.name == name), None) if spec else None
        kind = column.kind if column else None
    if kind is Kind.PCT:
        return "percent"
    if kind is Kind.MONEY or name == "money_per_credit":
        return "money"
    if name.endswith("_credits") or name in CREDIT_COUNTS:
        return "credits"
    return "number"


def sheets_for_market(market: str) -> tuple[SheetSpec, ...]:
    """The data sheets a template for this market contains, in workbook order."""
    return tuple(spec for spec in SHEETS if market in spec.in_template_for)


@dataclass(frozen=True)
class MarketDefaults:
    """Facts a new workbook for a market starts with."""

    market: str
    currency: str
    money_per_credit: Decimal
    timezone: str
    credit_phrase: str
    products: tuple[str, ...]
    extra_lists: dict[str, tuple[str, ...]] = field(default_factory=dict)


MARKETS: dict[str, MarketDefaults] = {
    "US": MarketDefaults(
        "US",
        "USD",
        Decimal("0.0001"),
        "America/New_York",
        "1 credit = $0.0001",
        ("sms", "voice"),
        {"clinic_size": ("solo", "small", "medium", "large")},
    ),
    "IN": MarketDefaults("IN", "INR", Decimal(1), "Asia/Kolkata", "1 credit = ₹1", ("lead_chat", "lead_call")),
}
