"""The random part of a simulation: who the clinics are and what they use each month.

Everything random is drawn here, once, from the scenario's seed; pricing (simulator/bills.py) is
deterministic. So two pricebooks, or a scenario with one assumption swung, are compared on the
same draws (common random numbers): their difference is the prices', not noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np

from simulator.scenario import Scenario


def month_starts(start: date, months: int) -> list[datetime]:
    """The first day of each simulated month (noon UTC, clear of every time zone's midnight)."""
    out = []
    year, month = start.year, start.month
    for _ in range(months):
        out.append(datetime(year, month, 1, 12, tzinfo=UTC))
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return out


@dataclass
class Leads:
    """Every simulated lead, flat: which clinic and month it belongs to, and what it is."""

    clinic: np.ndarray  # int64 clinic index
    month: np.ndarray  # int64 month index
    call: np.ndarray  # bool: a call lead (else chat)
    specialty: list[str]  # names, indexed by the clinic's specialty code
    city: list[str]
    specialty_of_clinic: np.ndarray
    city_of_clinic: np.ndarray
    package_price: np.ndarray  # rupees, float64


@dataclass
class Population:
    scenario: Scenario
    months: list[datetime]
    groups: list[str]  # US: sizes; IN: specialties
    group: np.ndarray  # each clinic's group index
    sms: np.ndarray | None = None  # (clinics, months) SMS segments
    voice: np.ndarray | None = None  # (clinics, months) voice minutes
    leads: Leads | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.group)

    def lead_counts(self) -> np.ndarray:
        """(clinics, months) number of leads."""
        assert self.leads is not None
        counts = np.zeros((self.size, len(self.months)), dtype=np.int64)
        np.add.at(counts, (self.leads.clinic, self.leads.month), 1)
        return counts


def draw(scenario: Scenario) -> Population:
    rng = np.random.default_rng(scenario.seed)
    months = month_starts(scenario.start, scenario.months)
    if scenario.market == "US":
        return _draw_us(scenario, rng, months)
    return _draw_in(scenario, rng, months)


def _noise(rng: np.random.Generator, sigma: float, shape: tuple[int, int]) -> np.ndarray:
    """Month-to-month variation around a clinic's own rate: lognormal with mean 1."""
    if sigma == 0:
        return np.ones(shape)
    return rng.lognormal(-(sigma**2) / 2, sigma, shape)


def _draw_us(scenario: Scenario, rng: np.random.Generator, months: list[datetime]) -> Population:
    assert scenario.us is not None
    n, m = scenario.clinics, scenario.months
    names, shares, note = scenario.size_shares()
    group = rng.choice(len(names), size=n, p=shares)
    appointments, clients = np.empty(n), np.empty(n)
    for k, name in enumerate(names):
        chosen = group == k
        profile = scenario.sizes[name]
        appointments[chosen] = profile.appointments_per_year.draw(rng, int(chosen.sum()))
        clients[chosen] = profile.clients_per_year.draw(rng, int(chosen.sum()))
    usage = scenario.us
    reminders = usage.reminders_per_appointment.draw(rng, n)
    segments = usage.segments_per_message.draw(rng, n)
    birthdays = usage.birthday_messages_per_client.draw(rng, n)
    campaigns = usage.campaign_messages_per_client.draw(rng, n)
    voicemail = usage.voicemail_minutes_per_appointment.draw(rng, n)
    sms_rate = (appointments * reminders + clients * (birthdays + campaigns)) * segments / 12
    voice_rate = appointments * voicemail / 12
    sms = np.rint(sms_rate[:, None] * _noise(rng, scenario.monthly_variation, (n, m))).astype(np.int64)
    voice = np.rint(voice_rate[:, None] * _noise(rng, scenario.monthly_variation, (n, m))).astype(np.int64)
    return Population(scenario, months, names, group, sms=sms, voice=voice, notes=[note] if note else [])


def _draw_in(scenario: Scenario, rng: np.random.Generator, months: list[datetime]) -> Population:
    assert scenario.india is not None
    n, m = scenario.clinics, scenario.months
    specialties, spec_shares, note_s = scenario.specialty_shares()
    cities, city_shares, note_c = scenario.city_shares()
    group = rng.choice(len(specialties), size=n, p=spec_shares)
    city = rng.choice(len(cities), size=n, p=city_shares)
    rate = np.empty(n)
    for k, name in enumerate(specialties):
        chosen = group == k
        rate[chosen] = scenario.india.specialties[name].leads_per_month.draw(rng, int(chosen.sum()))
    counts = rng.poisson(rate[:, None] * _noise(rng, scenario.monthly_variation, (n, m)))
    flat_clinic = np.repeat(np.repeat(np.arange(n), m), counts.ravel())
    flat_month = np.repeat(np.tile(np.arange(m), n), counts.ravel())
    total = len(flat_clinic)
    medians = np.array([scenario.india.specialties[s].package_price_median for s in specialties])
    spreads = np.array([scenario.india.specialties[s].package_price_spread for s in specialties])
    spec = group[flat_clinic]
    price = np.round(medians[spec] * np.exp(rng.normal(0, 1, total) * spreads[spec]), 2)
    leads = Leads(
        clinic=flat_clinic,
        month=flat_month,
        call=rng.random(total) < scenario.india.call_share,
        specialty=specialties,
        city=cities,
        specialty_of_clinic=group,
        city_of_clinic=city,
        package_price=price,
    )
    notes = [note for note in (note_s, note_c) if note]
    return Population(scenario, months, specialties, group, leads=leads, notes=notes)
