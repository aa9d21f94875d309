"""A what-if scenario: every assumption of a simulation, in one document analysts save and share.

Each uncertain quantity is a `Range` (low, most likely, high): every simulated clinic draws its own
value from a triangular distribution, and months vary around it (`monthly_variation`). The defaults
come from the design notes: the practice note's clinic sizes, shares, appointments and clients (§6.1),
its reminder habits (3 per appointment, a birthday message per client: §6.5), and the lead note's
package-price tiers. Where a default is our assumption rather than the notes', `ASSUMPTION_NOTES`
says so, and the exports print it beside the value.

A scenario file is hostile input until validated: `load` and `from_text` refuse files over
`MAX_FILE_BYTES`, anything that is not a regular file (a FIFO, /dev/zero), YAML whose aliases would
expand past `MAX_NODES` nodes, keys given twice, and every value outside its documented bounds (NaN,
infinities, negative or enormous numbers, months past the calendar, NUL and control characters,
look-alike or over-long names). Every refusal is one `ScenarioError` whose message is bounded in
length and never quotes the input wholesale. `estimate` says, before anything is allocated, how
much memory and work a scenario needs; `simulate` refuses one over its budget, naming the fields to
reduce.
"""

from __future__ import annotations

import json
import math
import os
import stat
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.bounds import YEAR_MAX, YEAR_MIN, check_text
from engine.errors import CreditbookError, InvalidInput

if TYPE_CHECKING:
    import numpy as np

    from engine.pricebook.model import CompiledPricebook

ROOT = Path(__file__).resolve().parent.parent
PLANS = ("payg", "payg_bundle", "package", "package_bundle")
PLAN_LABELS = {
    "payg": "Pay-as-you-go",
    "payg_bundle": "Pay-as-you-go + SMS/voice bundle",
    "package": "Size's monthly packages",
    "package_bundle": "Size's packages + bundle",
    "cheapest": "Each clinic's cheapest",
}
Plan = Literal["payg", "payg_bundle", "package", "package_bundle", "cheapest"]

# -- bounds ------------------------------------------------------------------------------------------
MAX_FILE_BYTES = 256 * 1024  # a scenario is a few kilobytes; the shipped examples are under 3 KB
MAX_NODES = 20_000  # YAML nodes after alias expansion (the examples have about 200)
MAX_DEPTH = 40  # nesting of mappings and lists
MAX_ERROR_CHARS = 1_500  # an error message never grows past this, whatever the input
MAX_QUANTITY = 1e9  # any Range: appointments, messages, minutes, leads (per year or month)
MAX_MONTHLY_UNITS = 1e7  # a clinic-month's SMS segments or voice minutes at the highest rates ($83,000)
MAX_MONTHLY_LEADS = 1e5  # a clinic-month's leads at the highest rate
MAX_NAME = 120  # the scenario's name
MAX_KEY = 60  # a size, specialty or city name
MAX_PATH = 1_024
FIRST_START = date(YEAR_MIN, 1, 1)
LAST_START = date(YEAR_MAX - 2, 1, 1)  # its 36th month is still in a year the ledger stores
DEFAULT_MEMORY_BUDGET = 1536 * 2**20  # bytes; CREDITBOOK_SIM_MEMORY_MB overrides
MAX_LEADS = 1_000_000_000  # expected leads in one simulation (about a minute of work)

# What is our assumption rather than the notes' (the exports print these beside the values).
ASSUMPTION_NOTES = {
    "costs.sms_segment": "Twilio's US pay-as-you-go list price per SMS segment (practice note §6.4)",
    "costs.voice_minute": "Twilio's US pay-as-you-go list price per voice minute (practice note §6.4)",
    "costs.lead": (
        "assumption, not from the notes: what a lead costs us to buy from paid search and social ads "
        "in Indian healthcare, commonly ₹100–₹600; ₹200 is a middle value. Replace it with the real cost"
    ),
    "india.call_share": "assumption: half of the leads are calls (the lead note gives no split)",
}
DEFAULT_COSTS = {
    "US": {"sms_segment": "0.0083", "voice_minute": "0.0140"},
    "IN": {"lead": "200"},
}


class ScenarioError(CreditbookError, ValueError):
    """A scenario (or a scenario file) that cannot be simulated; the message says why in one
    bounded paragraph and names the fields to change. (A ValueError too, for callers that caught
    the validation errors of old.)"""

    code = "scenario_invalid"
    status = 422

    def __init__(self, message: str):
        super().__init__(_bounded(message, MAX_ERROR_CHARS))


def _bounded(text: str, limit: int) -> str:
    """Text safe to show: control characters escaped, cut to `limit` characters."""
    shown = "".join(c if c.isprintable() or c == "\n" else repr(c)[1:-1] for c in text[: limit + 1])
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


# -- text -----------------------------------------------------------------------------------------------
_FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}  # controls, bidi/zero-width, surrogates
_CONFUSABLE_SCRIPTS = ({"LATIN"}, {"CYRILLIC", "GREEK"})


def _script(char: str) -> str:
    return unicodedata.name(char, "?").split(" ")[0]


def _checked_text(value: str, limit: int, what: str) -> str:
    """engine.bounds' text rules (length, controls, surrogates, bidirectional controls), and for
    names also: no invisible format characters, no white space at the ends, NFC, one script."""
    try:
        check_text(what, value, limit)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None
    for char in value:
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            raise ValueError(f"{what} contains the control or invisible character U+{ord(char):04X}")
    if value != value.strip():
        raise ValueError(f"{what} starts or ends with white space")
    if unicodedata.normalize("NFC", value) != value:
        raise ValueError(f"{what} is not in Unicode normal form NFC (it may look like another name)")
    scripts = {_script(c) for c in value if c.isalpha()}
    if all(scripts & group for group in _CONFUSABLE_SCRIPTS):
        raise ValueError(f"{what} mixes Latin letters with Cyrillic or Greek ones (a look-alike name)")
    return value


def _name(value: str) -> str:
    if not value:
        raise ValueError("the name is empty")
    return _checked_text(value, MAX_NAME, "the name")


def _code(value: str | None) -> str | None:
    if value == "":
        raise ValueError("the promotion code is empty (leave it out for none)")
    return None if value is None else _checked_text(value, MAX_KEY, "the promotion code")


def _path(value: str) -> str:
    if not value:
        raise ValueError("a pricebook path is empty")
    return _checked_text(value, MAX_PATH, "a pricebook path")


def _keys(shares: dict[str, Any]) -> dict[str, Any]:
    """Names of sizes, specialties and cities: short, printable, and not two that look alike."""
    seen: dict[str, str] = {}
    for key in shares:
        if not key:
            raise ValueError("a name is empty")
        _checked_text(key, MAX_KEY, f"the name {key[:MAX_KEY]!r}")
        folded = unicodedata.normalize("NFKC", key).casefold()
        if folded in seen:
            raise ValueError(f"the names {seen[folded]!r} and {key!r} differ only in case or form")
        seen[folded] = key
    return shares


Name = Annotated[str, AfterValidator(_name)]
Code = Annotated[str | None, AfterValidator(_code)]
PricebookPath = Annotated[str, AfterValidator(_path)]
Count = Annotated[int, Field(strict=True)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Range(_Model):
    """An uncertain quantity: each clinic draws one value, triangular between low and high,
    most likely at `mode` (the middle when not given)."""

    low: float = Field(ge=0, le=MAX_QUANTITY)
    high: float = Field(ge=0, le=MAX_QUANTITY)
    mode: float | None = Field(default=None, ge=0, le=MAX_QUANTITY)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.high < self.low:
            raise ValueError(f"high ({self.high:g}) is below low ({self.low:g})")
        if self.mode is not None and not self.low <= self.mode <= self.high:
            raise ValueError(f"mode ({self.mode:g}) is outside {self.low:g}..{self.high:g}")
        return self

    @property
    def likely(self) -> float:
        return self.mode if self.mode is not None else (self.low + self.high) / 2

    @property
    def mean(self) -> float:
        """The mean of the triangular distribution."""
        return (self.low + self.likely + self.high) / 3

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        import numpy as np

        if self.high == self.low:
            return np.full(n, self.low)
        return rng.triangular(self.low, self.likely, self.high, n)

    def scaled(self, factor: float) -> Range:
        return Range(
            low=self.low * factor, high=self.high * factor, mode=None if self.mode is None else self.mode * factor
        )


class SizeProfile(_Model):
    """One US clinic size (practice note §6.1)."""

    share: float = Field(ge=0, le=1)
    appointments_per_year: Range
    clients_per_year: Range


class UsUsage(_Model):
    """How a US practice messages its patients. Per appointment, per client and per year."""

    reminders_per_appointment: Range = Range(low=1, mode=2, high=3)
    segments_per_message: Range = Range(low=1, mode=1.3, high=2)
    birthday_messages_per_client: Range = Range(low=0.5, mode=1, high=1)
    campaign_messages_per_client: Range = Range(low=0, mode=2, high=6)
    voicemail_minutes_per_appointment: Range = Range(low=0.1, mode=0.4, high=1)


class Specialty(_Model):
    """Leads of one specialty in the Indian market (lead note)."""

    share: float = Field(ge=0, le=1)
    leads_per_month: Range
    package_price_median: float = Field(gt=0, le=1e8)  # rupees (₹10 crore at most)
    package_price_spread: float = Field(default=0.6, ge=0, le=3)  # lognormal sigma


class InUsage(_Model):
    specialties: Annotated[dict[str, Specialty], AfterValidator(_keys)] = Field(min_length=1, max_length=50)
    cities: Annotated[dict[str, Annotated[float, Field(ge=0, le=1)]], AfterValidator(_keys)] = Field(
        min_length=1, max_length=500
    )  # city → share of clinics
    call_share: float = Field(default=0.5, ge=0, le=1)


class TopUps(_Model):
    """How clinics buy credits when they run short: blocks of this many credits (bonus rules apply
    to each purchase, from the pricebook in force that month), with an optional promotion code."""

    block_credits: Count = Field(gt=0, le=10**12)
    promo_code: Code = None


Cost = Annotated[Decimal, Field(ge=0, le=Decimal(10**6), decimal_places=8)]


class Costs(_Model):
    """What each unit costs us upstream, in the pricebook's currency. The market's defaults
    (`DEFAULT_COSTS`) fill what a scenario leaves out; see `ASSUMPTION_NOTES` for their sources."""

    sms_segment: Cost | None = None
    voice_minute: Cost | None = None
    lead: Cost | None = None


@dataclass(frozen=True)
class Inert:
    """An input that cannot change any figure under the pricebooks in force (so the app can say so)."""

    field: str  # the scenario's field path, e.g. "india.call_share"
    label: str  # how analysts name it
    reason: str  # which pricebook and why

    def sentence(self) -> str:
        return f"{self.label} has no effect: {self.reason}"


@dataclass(frozen=True)
class Estimate:
    """What a scenario will cost before it runs: bytes held at the peak, expected leads."""

    peak_bytes: int
    kept_bytes: int  # results kept for every clinic (the rest is one chunk's working set)
    leads: float
    chunk_clinics: int

    def refusal(self, budget: int, scenario: Scenario) -> str | None:
        """Why the scenario is refused under `budget` bytes, naming the fields to reduce; None if it fits."""
        fields = "clinics or months" + (", or india.specialties.*.leads_per_month" if scenario.market == "IN" else "")
        if self.leads > MAX_LEADS:
            return (
                f"this scenario would simulate about {self.leads:,.0f} leads (at most {MAX_LEADS:,}): reduce {fields}"
            )
        if self.peak_bytes > budget:
            return (
                f"this scenario needs about {self.peak_bytes / 2**20:,.0f} MB "
                f"({scenario.clinics:,} clinics × {scenario.months} months), over the budget of "
                f"{budget / 2**20:,.0f} MB: reduce {fields} (or raise CREDITBOOK_SIM_MEMORY_MB)"
            )
        return None


def memory_budget() -> int:
    """The simulator's memory budget in bytes: CREDITBOOK_SIM_MEMORY_MB, else DEFAULT_MEMORY_BUDGET."""
    configured = os.environ.get("CREDITBOOK_SIM_MEMORY_MB", "").strip()
    if not configured:
        return DEFAULT_MEMORY_BUDGET
    try:
        megabytes = float(configured)
    except ValueError:
        raise ScenarioError(f"CREDITBOOK_SIM_MEMORY_MB is {configured[:40]!r}, not a number of megabytes") from None
    if not math.isfinite(megabytes) or megabytes <= 0:
        raise ScenarioError("CREDITBOOK_SIM_MEMORY_MB must be a positive number of megabytes")
    return int(min(megabytes, 2**40) * 2**20)


class Scenario(_Model):
    name: Name = "Scenario"
    market: Literal["US", "IN"]
    pricebooks: tuple[PricebookPath, ...] = Field(min_length=1, max_length=20)  # several versions: the month picks
    start: date = date(2026, 1, 1)
    months: Count = Field(default=12, ge=1, le=36)
    clinics: Count = Field(default=10_000, ge=1, le=1_000_000)
    seed: Count = Field(default=2026, ge=0, le=2**63 - 1)
    plan: Plan = "cheapest"
    monthly_variation: float = Field(default=0.25, ge=0, le=2)  # lognormal sigma of month-to-month usage
    sizes: Annotated[dict[str, SizeProfile], AfterValidator(_keys)] = Field(default_factory=dict, max_length=20)
    us: UsUsage | None = None
    india: InUsage | None = None
    topups: TopUps
    costs: Costs = Costs()

    @model_validator(mode="before")
    @classmethod
    def _market_costs(cls, data: Any) -> Any:
        """The market's upstream costs fill whatever the scenario leaves out."""
        if isinstance(data, dict) and data.get("market") in DEFAULT_COSTS:
            given = data.get("costs") or {}
            if isinstance(given, Costs):
                given = given.model_dump(exclude_none=True)
            if isinstance(given, dict):
                data = {**data, "costs": {**DEFAULT_COSTS[data["market"]], **given}}
        return data

    @model_validator(mode="after")
    def _market_fields(self) -> Scenario:
        if self.market == "US" and (self.us is None or not self.sizes):
            raise ValueError("a US scenario needs `sizes` and `us` usage")
        if self.market == "IN" and self.india is None:
            raise ValueError("an Indian scenario needs `india` usage")
        if not FIRST_START <= self.start <= LAST_START:
            raise ValueError(f"start must be between {FIRST_START} and {LAST_START}")
        if self.market == "US":
            mixes = {"sizes": {k: v.share for k, v in self.sizes.items()}}
            self._check_us_rates()
        else:
            assert self.india is not None
            specialties = {k: v.share for k, v in self.india.specialties.items()}
            mixes = {"india.specialties": specialties, "india.cities": dict(self.india.cities)}
            self._check_lead_rates()
        for where, shares in mixes.items():
            if not sum(shares.values()) > 0:
                raise ValueError(f"the shares of {where} add up to 0")
        return self

    def _check_us_rates(self) -> None:
        """The highest monthly usage any clinic can draw (before month-to-month variation) stays
        within MAX_MONTHLY_UNITS, so credits stay exact integers."""
        assert self.us is not None
        usage = self.us
        per_client = usage.birthday_messages_per_client.high + usage.campaign_messages_per_client.high
        for size, profile in self.sizes.items():
            appointments, clients = profile.appointments_per_year.high, profile.clients_per_year.high
            sms = appointments * usage.reminders_per_appointment.high + clients * per_client
            sms *= usage.segments_per_message.high / 12
            voice = appointments * usage.voicemail_minutes_per_appointment.high / 12
            if max(sms, voice) > MAX_MONTHLY_UNITS:
                raise ValueError(
                    f"a {size} clinic could use {max(sms, voice):,.0f} SMS segments or voice minutes a month "
                    f"(at most {MAX_MONTHLY_UNITS:,.0f}): reduce sizes.{size} or the us usage ranges"
                )

    def _check_lead_rates(self) -> None:
        assert self.india is not None
        for name, specialty in self.india.specialties.items():
            if specialty.leads_per_month.high > MAX_MONTHLY_LEADS:
                raise ValueError(
                    f"india.specialties.{name}.leads_per_month.high is above {MAX_MONTHLY_LEADS:,.0f} leads a month"
                )

    # -- mixes ----------------------------------------------------------------------------------------
    def size_shares(self) -> tuple[list[str], np.ndarray, str | None]:
        """Sizes and their shares, normalised to 1; a note when the shares given did not add up."""
        return _normalised({name: profile.share for name, profile in self.sizes.items()}, "clinic sizes")

    def specialty_shares(self) -> tuple[list[str], np.ndarray, str | None]:
        assert self.india is not None
        return _normalised({k: v.share for k, v in self.india.specialties.items()}, "specialties")

    def city_shares(self) -> tuple[list[str], np.ndarray, str | None]:
        assert self.india is not None
        return _normalised(dict(self.india.cities), "cities")

    def pricebook_paths(self) -> list[Path]:
        return [path if path.is_absolute() else ROOT / path for path in map(Path, self.pricebooks)]

    # -- what it will cost, what has no effect --------------------------------------------------------
    def mean_leads_per_clinic_month(self) -> float:
        """Expected leads of one clinic-month over the specialty mix (0 outside India)."""
        if self.india is None:
            return 0.0
        _, shares, _ = self.specialty_shares()
        rates = [s.leads_per_month.mean for s in self.india.specialties.values()]
        return float(sum(share * rate for share, rate in zip(shares, rates, strict=True)))

    def estimate(self, runs: int = 1) -> Estimate:
        """Bytes the simulation holds at its peak and the leads it draws, from the fields alone
        (nothing is allocated). `runs`: pricebook sets priced on the same draws (2 for A against B)."""
        from simulator.population import chunk_size, draw_block

        plans = len(PLANS) if self.market == "US" else 1
        chunk = chunk_size(self)
        cells = self.clinics * self.months
        # kept for every clinic, per run: one cost per plan and month of the chosen plan, the chosen
        # plan's six totals, units and upstream cost, group and plan picked
        kept = runs * (self.clinics * (plans + 10) * 8 + cells * 8)
        # one chunk's working set: the draws (per clinic-month), every plan's bills, settlement
        per_cell = 8 * (10 + runs * plans * 9)
        working = chunk * self.months * per_cell
        leads = cells * self.mean_leads_per_clinic_month()
        # leads are drawn and priced one block of clinics and one month at a time (~80 bytes each)
        working += int(min(self.clinics, draw_block()) * self.mean_leads_per_clinic_month() * 80 * 3)
        working += 32 * 2**20  # tables, caches, allocator slack: measured at 200,000 clinics, below this
        return Estimate(kept + working, kept, leads, chunk)

    def check_budget(self, budget: int | None = None, runs: int = 1) -> Estimate:
        """The estimate, or ScenarioError when it is over `budget` bytes (default: `memory_budget()`)."""
        estimate = self.estimate(runs)
        refusal = estimate.refusal(memory_budget() if budget is None else budget, self)
        if refusal:
            raise ScenarioError(refusal)
        return estimate

    def inert_inputs(self, pricebooks: list[CompiledPricebook]) -> list[Inert]:
        """Inputs no pricebook in force during the scenario's months can react to, found from the
        pricebooks' own tables: no lead row distinguishes chat from call leads (the call share),
        or cities (the city mix), or package prices (treatment package prices); no promotion has
        the top-up promotion code."""
        from engine.pricing.leads import LeadRule
        from simulator.bills import versions_in_force
        from simulator.population import month_starts

        books = versions_in_force(pricebooks, month_starts(self.start, self.months))
        labels = ", ".join(dict.fromkeys(book.label for book in books))
        out: list[Inert] = []
        if self.india is not None:
            rules = [LeadRule.of(row) for book in books for row in book.lead_prices]
            dimensions = (
                (0, "india.call_share", "The share of call leads", "differs between chat and call leads"),
                (2, "india.cities", "The city mix", "depends on the city"),
            )
            for dim, field, label, what in dimensions:
                if all(rule.conditions[dim].is_any for rule in rules):
                    out.append(Inert(field, label, f"no lead price in {labels} {what}"))
            if all(rule.lo == 0 and rule.hi is None for rule in rules):
                out.append(
                    Inert(
                        "india.specialties.*.package_price_median",
                        "Treatment package prices",
                        f"no lead price in {labels} depends on the treatment package price",
                    )
                )
        code = self.topups.promo_code
        if code is not None and not any(
            (promo.promo_code or "").casefold() == code.casefold() for book in books for promo in book.topup_promos
        ):
            out.append(Inert("topups.promo_code", "The promotion code", f"no promotion in {labels} has this code"))
        return out

    # -- files ------------------------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        data = self.dump()
        if path.suffix.lower() == ".json":
            path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        else:
            path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        return path

    @classmethod
    def validated(cls, data: Any) -> Scenario:
        """`model_validate` with the errors as one bounded ScenarioError (never the input itself)."""
        if not isinstance(data, dict):
            raise ScenarioError("a scenario is a mapping of fields (YAML or JSON)")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ScenarioError(describe(exc)) from None

    @classmethod
    def from_text(cls, text: str | bytes) -> Scenario:
        """A scenario from YAML or JSON text, checked as hostile input (see the module's docstring)."""
        return cls.validated(parse(text))

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        return cls.from_text(read_file(path, MAX_FILE_BYTES, "scenario"))


def describe(exc: ValidationError, limit: int = 8) -> str:
    """A validation error as short lines `field: problem`, without the values that failed."""
    lines = []
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    for error in errors[:limit]:
        where = ".".join(_bounded(str(part), MAX_KEY) for part in error["loc"]) or "scenario"
        lines.append(f"{where}: {_bounded(error['msg'].removeprefix('Value error, '), 300)}")
    if len(errors) > limit:
        lines.append(f"(and {len(errors) - limit} more)")
    return "\n".join(lines)


def read_file(path: str | Path, limit: int, what: str) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; ScenarioError for anything else (a
    folder, a FIFO or device that would block or never end, a missing or unreadable file)."""
    shown = _bounded(str(path), 200)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ScenarioError(f"cannot read the {what} {shown}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ScenarioError(f"the {what} {shown} is not a regular file")
        if info.st_size > limit:
            raise ScenarioError(f"the {what} {shown} is {info.st_size:,} bytes; at most {limit:,} are read")
        with os.fdopen(fd, "rb", closefd=False) as stream:
            data = stream.read(limit + 1)
    except OSError as exc:
        raise ScenarioError(f"cannot read the {what} {shown}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ScenarioError(f"the {what} {shown} is over {limit:,} bytes")
    return data


def parse(text: str | bytes) -> Any:
    """YAML or JSON text as Python data, within MAX_FILE_BYTES, MAX_NODES and MAX_DEPTH."""
    if isinstance(text, bytes):
        if len(text) > MAX_FILE_BYTES:
            raise ScenarioError(f"the scenario is {len(text):,} bytes; at most {MAX_FILE_BYTES:,} are read")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ScenarioError(f"the scenario is not UTF-8 text (byte {exc.start:,})") from None
    if len(text) > MAX_FILE_BYTES:
        raise ScenarioError(f"the scenario is {len(text):,} characters; at most {MAX_FILE_BYTES:,} are read")
    if "\x00" in text:
        raise ScenarioError("the scenario contains a NUL character")
    loader = _Loader(text)
    try:
        _check_depth(text)
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError("the scenario is empty")
        _check_nodes(node)
        try:
            return loader.construct_document(node)
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. a date like 2026-02-30
            raise ScenarioError(f"the scenario holds a value that cannot be read: {_bounded(str(exc), 200)}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML or JSON"
        raise ScenarioError(f"the scenario cannot be read{where}: {_bounded(str(problem), 200)}") from None
    except RecursionError:
        raise ScenarioError(f"the scenario is nested more than {MAX_DEPTH} levels deep") from None
    finally:
        loader.dispose()


_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _check_depth(text: str) -> None:
    """Refuse nesting past MAX_DEPTH from the parser's event stream (iterative), before anything
    recursive (composing nodes, building objects) sees the document."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ScenarioError(f"the scenario is nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _check_nodes(root: yaml.Node) -> None:
    """Count the nodes the document expands to (an alias counts as everything it repeats), refuse
    cycles, depth past MAX_DEPTH, and a key given twice in one mapping."""
    _NodeCounter().size(root, 0)


@dataclass
class _NodeCounter:
    """`_check_nodes`' walk: each node's expanded size, remembered (aliases share a node)."""

    sizes: dict[int, int] = field(default_factory=dict)
    visiting: set[int] = field(default_factory=set)

    def size(self, node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in self.sizes:
            return self.sizes[key]
        if depth > MAX_DEPTH:
            raise ScenarioError(f"the scenario is nested more than {MAX_DEPTH} levels deep")
        if key in self.visiting:
            raise ScenarioError("the scenario refers to itself (a recursive YAML alias)")
        self.visiting.add(key)
        total = 1
        for child in _children(node):
            total += self.size(child, depth + 1)
            if total > MAX_NODES:
                break
        self.visiting.discard(key)
        if total > MAX_NODES:
            raise ScenarioError(f"the scenario expands to more than {MAX_NODES:,} values (YAML aliases?)")
        self.sizes[key] = total
        return total


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    """A mapping's keys and values in order (refusing a key given twice), a sequence's items."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    raise ScenarioError(f"the key {_bounded(key_node.value, MAX_KEY)!r} is given twice")
                seen.add(key_node.value)
            yield key_node
            yield value_node
    elif isinstance(node, yaml.SequenceNode):
        yield from node.value


def _normalised(shares: dict[str, float], what: str) -> tuple[list[str], np.ndarray, str | None]:
    import numpy as np

    names = list(shares)
    values = np.array([shares[n] for n in names], dtype=float)
    total = values.sum()
    if total <= 0:
        raise ScenarioError(f"the shares of {what} add up to 0")
    note = None if abs(total - 1) < 1e-9 else f"the shares of {what} added up to {total:.0%}: scaled to 100%"
    return names, values / total, note


def us_default(**changes: Any) -> Scenario:
    """The practice note's population: sizes, shares, appointments and clients (§6.1)."""
    sizes = {
        "solo": SizeProfile(
            share=0.45,
            appointments_per_year=Range(low=300, mode=400, high=500),
            clients_per_year=Range(low=150, mode=200, high=250),
        ),
        "small": SizeProfile(
            share=0.325,
            appointments_per_year=Range(low=800, mode=1000, high=1200),
            clients_per_year=Range(low=400, mode=500, high=600),
        ),
        "medium": SizeProfile(
            share=0.175,
            appointments_per_year=Range(low=1600, mode=2000, high=2400),
            clients_per_year=Range(low=800, mode=1000, high=1200),
        ),
        "large": SizeProfile(
            share=0.05,
            appointments_per_year=Range(low=3200, mode=4000, high=4800),
            clients_per_year=Range(low=1600, mode=2000, high=2400),
        ),
    }
    base = Scenario(
        name="US audiology practices",
        market="US",
        pricebooks=("pricebooks/us/us-audiology-v1.xlsx",),
        sizes=sizes,
        us=UsUsage(),
        topups=TopUps(block_credits=500_000),  # $50 at a time
    )
    return Scenario.validated({**base.dump(), **changes}) if changes else base


def in_default(**changes: Any) -> Scenario:
    """Indian clinics buying leads: specialties, lead volumes and treatment prices around the lead
    note's tiers (< ₹5,000 to ₹100,000+)."""
    specialties = {
        "dental": Specialty(share=0.30, leads_per_month=Range(low=5, mode=15, high=40), package_price_median=8_000),
        "dermatology": Specialty(
            share=0.20, leads_per_month=Range(low=5, mode=12, high=30), package_price_median=12_000
        ),
        "hair_transplant": Specialty(
            share=0.10, leads_per_month=Range(low=3, mode=8, high=20), package_price_median=60_000
        ),
        "ivf": Specialty(share=0.10, leads_per_month=Range(low=2, mode=6, high=15), package_price_median=150_000),
        "orthopedics": Specialty(
            share=0.15, leads_per_month=Range(low=3, mode=8, high=20), package_price_median=40_000
        ),
        "ophthalmology": Specialty(
            share=0.15, leads_per_month=Range(low=3, mode=10, high=25), package_price_median=25_000
        ),
    }
    cities = {
        "Mumbai": 0.2,
        "Delhi": 0.2,
        "Bengaluru": 0.15,
        "Pune": 0.1,
        "Hyderabad": 0.1,
        "Chennai": 0.1,
        "Kolkata": 0.1,
        "Ahmedabad": 0.05,
    }
    base = Scenario(
        name="Indian clinics buying leads",
        market="IN",
        pricebooks=("pricebooks/in/in-clinic-leads-v1.xlsx", "pricebooks/in/in-clinic-leads-v2.xlsx"),
        india=InUsage(specialties=specialties, cities=cities),
        topups=TopUps(block_credits=10_000),  # ₹10,000 at a time: the 20% bonus tier
        plan="payg",
    )
    return Scenario.validated({**base.dump(), **changes}) if changes else base
