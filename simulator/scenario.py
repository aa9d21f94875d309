"""A what-if scenario: every assumption of a simulation, in one document analysts save and share.

Each uncertain quantity is a `Range` (low, most likely, high): every simulated clinic draws its own
value from a triangular distribution, and months vary around it (`monthly_variation`). The defaults
come from the design notes: the practice note's clinic sizes, shares, appointments and clients (§6.1),
its reminder habits (3 per appointment, a birthday message per client: §6.5), and the lead note's
package-price tiers. A scenario is saved as YAML or JSON; `load` reads either.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

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


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Model):
    """An uncertain quantity: each clinic draws one value, triangular between low and high,
    most likely at `mode` (the middle when not given)."""

    low: float = Field(ge=0)
    high: float = Field(ge=0)
    mode: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) is below low ({self.low})")
        if self.mode is not None and not self.low <= self.mode <= self.high:
            raise ValueError(f"mode ({self.mode}) is outside {self.low}..{self.high}")
        return self

    @property
    def likely(self) -> float:
        return self.mode if self.mode is not None else (self.low + self.high) / 2

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
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
    package_price_median: float = Field(gt=0)  # rupees
    package_price_spread: float = Field(default=0.6, ge=0, le=3)  # lognormal sigma


class InUsage(_Model):
    specialties: dict[str, Specialty]
    cities: dict[str, float]  # city → share of clinics
    call_share: float = Field(default=0.5, ge=0, le=1)


class TopUps(_Model):
    """How clinics buy credits when they run short: blocks of this many credits (bonus rules apply
    to each purchase, from the pricebook in force that month), with an optional promotion code."""

    block_credits: int = Field(gt=0)
    promo_code: str | None = None


class Costs(_Model):
    """What each unit costs us upstream (practice note §6.4: Twilio's pay-as-you-go list prices)."""

    sms_segment: Decimal = Decimal("0.0083")
    voice_minute: Decimal = Decimal("0.0140")
    lead: Decimal = Decimal("0")


class Scenario(_Model):
    name: str = "Scenario"
    market: Literal["US", "IN"]
    pricebooks: tuple[str, ...] = Field(min_length=1)  # workbook paths; several versions: the month picks
    start: date = date(2026, 1, 1)
    months: int = Field(default=12, ge=1, le=36)
    clinics: int = Field(default=10_000, ge=1, le=1_000_000)
    seed: int = 2026
    plan: Plan = "cheapest"
    monthly_variation: float = Field(default=0.25, ge=0, le=2)  # lognormal sigma of month-to-month usage
    sizes: dict[str, SizeProfile] = Field(default_factory=dict)
    us: UsUsage | None = None
    india: InUsage | None = None
    topups: TopUps
    costs: Costs = Costs()

    @model_validator(mode="after")
    def _market_fields(self) -> Scenario:
        if self.market == "US" and (self.us is None or not self.sizes):
            raise ValueError("a US scenario needs `sizes` and `us` usage")
        if self.market == "IN" and self.india is None:
            raise ValueError("an Indian scenario needs `india` usage")
        return self

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
    def from_text(cls, text: str) -> Scenario:
        data = yaml.safe_load(text)  # JSON is YAML
        if not isinstance(data, dict):
            raise ValueError("a scenario is a mapping of fields (YAML or JSON)")
        return cls.model_validate(data)

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        return cls.from_text(Path(path).read_text(encoding="utf-8"))


def _normalised(shares: dict[str, float], what: str) -> tuple[list[str], np.ndarray, str | None]:
    names = list(shares)
    values = np.array([shares[n] for n in names], dtype=float)
    total = values.sum()
    if total <= 0:
        raise ValueError(f"the shares of {what} add up to 0")
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
    return Scenario.model_validate({**base.dump(), **changes}) if changes else base


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
    return Scenario.model_validate({**base.dump(), **changes}) if changes else base
