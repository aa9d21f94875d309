"""The random part of a simulation: who the clinics are and what they use each month.

Everything random is drawn here from the scenario's seed; pricing (simulator/bills.py) is
deterministic. So two pricebooks, or a scenario with one assumption swung, are compared on the
same draws (common random numbers): their difference is the prices', not noise.

Clinics are drawn in fixed blocks of DRAW_BLOCK clinics, each from its own streams derived from
the seed and the block's index (`numpy.random.SeedSequence(seed, spawn_key=(block,))`). A clinic's
draws therefore depend on the seed and its position only: the simulation walks the population in
chunks of whole blocks (`chunks`), holding one chunk at a time, and gives the same results whatever
the chunk size. Indian leads are drawn a block and a month at a time (`lead_batches`), so even a
chunk's leads are never all in memory at once.

Changing DRAW_BLOCK, the order of the streams or the order of the draws inside a block changes
every simulated number for a given seed: treat them as part of the results' definition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np

from simulator.scenario import Scenario

DRAW_BLOCK = 2_048  # clinics drawn from one set of streams
CHUNK_CELLS = 120_000  # clinic-months priced at once (about 40 MB of working arrays; smaller chunks stay in cache)
_WHO, _RATES, _MONTHS, _LEADS = range(4)  # the streams of a block


def draw_block() -> int:
    return DRAW_BLOCK


def chunk_size(scenario: Scenario) -> int:
    """Clinics per chunk: whole draw blocks, about CHUNK_CELLS clinic-months."""
    return max(1, CHUNK_CELLS // (scenario.months * DRAW_BLOCK)) * DRAW_BLOCK


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


def notes(scenario: Scenario) -> list[str]:
    """What the draws had to adjust (shares that did not add up to 100%)."""
    if scenario.market == "US":
        mixes = [scenario.size_shares()]
    else:
        mixes = [scenario.specialty_shares(), scenario.city_shares()]
    return [note for _, _, note in mixes if note]


@dataclass
class Leads:
    """Every lead of a population, flat (for checks and small populations; the simulation itself
    walks `Population.lead_batches`)."""

    clinic: np.ndarray  # int64 clinic index within the population
    month: np.ndarray  # int64 month index
    call: np.ndarray  # bool: a call lead (else chat)
    specialty: list[str]  # names, indexed by the clinic's specialty code
    city: list[str]
    specialty_of_clinic: np.ndarray
    city_of_clinic: np.ndarray
    package_price: np.ndarray  # rupees, float64, to the paisa


@dataclass
class LeadBatch:
    """The leads of one block of clinics in one month, in clinic order."""

    rows: slice  # the block's clinics, as rows of the population
    month: int
    counts: np.ndarray  # leads of each clinic of the block this month
    call: np.ndarray  # bool per lead: a call (else a chat)
    paise: np.ndarray  # int64 per lead: the treatment package's price, in paise (₹0.01)

    @property
    def clinic(self) -> np.ndarray:
        """Each lead's clinic, as a row of the block."""
        return np.repeat(np.arange(len(self.counts)), self.counts)

    @property
    def package_price(self) -> np.ndarray:
        """Each lead's package price in rupees (float, exact to the paisa once rounded)."""
        return self.paise / 100


@dataclass
class Population:
    """A slice of the simulated clinics (the whole population when small), from clinic `first` on."""

    scenario: Scenario
    months: list[datetime]
    groups: list[str]  # US: sizes; IN: specialties
    group: np.ndarray  # each clinic's group index
    first: int = 0
    sms: np.ndarray | None = None  # (clinics, months) SMS segments
    voice: np.ndarray | None = None  # (clinics, months) voice minutes
    counts: np.ndarray | None = None  # (clinics, months) leads (IN)
    cities: list[str] = field(default_factory=list)
    city: np.ndarray | None = None  # each clinic's city index (IN)
    notes: list[str] = field(default_factory=list)
    _memo: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def size(self) -> int:
        return len(self.group)

    def remember(self, name: str, build: Callable[[], np.ndarray]) -> np.ndarray:
        """`build()`, computed once per population (what every plan's pricing reads alike)."""
        found = self._memo.get(name)
        if found is None:
            found = self._memo[name] = build()
        return found

    def lead_counts(self) -> np.ndarray:
        """(clinics, months) number of leads."""
        assert self.counts is not None
        return self.counts

    def lead_batches(self) -> Iterator[LeadBatch]:
        """Every lead, a month at a time and within it a draw block at a time. Each call starts the
        blocks' lead streams afresh, so the leads are the same every time they are walked."""
        india = self.scenario.india
        assert india is not None and self.counts is not None and self.city is not None
        medians = np.array([india.specialties[s].package_price_median * 100 for s in self.groups])[self.group]
        spreads = np.array([india.specialties[s].package_price_spread for s in self.groups])[self.group]
        starts = range(0, self.size, DRAW_BLOCK)
        streams = [_streams(self.scenario, (self.first + start) // DRAW_BLOCK)[_LEADS] for start in starts]
        for month in range(len(self.months)):
            for start, rng in zip(starts, streams, strict=True):
                rows = slice(start, min(start + DRAW_BLOCK, self.size))
                counts = self.counts[rows, month]
                leads = int(counts.sum())
                # lognormal around the specialty's median, to the paisa (capped far beyond any price)
                paise = rng.standard_normal(leads)  # in place from here on: one array per batch
                paise *= np.repeat(spreads[rows], counts)
                np.exp(paise, out=paise)
                paise *= np.repeat(medians[rows], counts)
                np.minimum(paise, 2.0**62, out=paise)
                paise = np.rint(paise, out=paise).astype(np.int64)
                call = rng.random(leads) < india.call_share
                yield LeadBatch(rows, month, counts, call, paise)

    @property
    def leads(self) -> Leads:
        """All leads at once (small populations: checks, tests)."""
        assert self.city is not None
        batches = list(self.lead_batches())
        clinic = [batch.clinic + batch.rows.start for batch in batches]
        return Leads(
            clinic=np.concatenate(clinic) if clinic else np.zeros(0, dtype=np.int64),
            month=np.concatenate([np.full(len(b.clinic), b.month) for b in batches]) if batches else np.zeros(0),
            call=np.concatenate([b.call for b in batches]) if batches else np.zeros(0, dtype=bool),
            specialty=self.groups,
            city=self.cities,
            specialty_of_clinic=self.group,
            city_of_clinic=self.city,
            package_price=np.concatenate([b.package_price for b in batches]) if batches else np.zeros(0),
        )


def _streams(scenario: Scenario, block: int) -> list[np.random.Generator]:
    """The independent streams of one draw block: who the clinics are, their rates, their months,
    their leads."""
    sequence = np.random.SeedSequence(scenario.seed, spawn_key=(block,))
    return [np.random.default_rng(child) for child in sequence.spawn(4)]


def draw(scenario: Scenario, first: int = 0, clinics: int | None = None) -> Population:
    """Clinics `first` .. `first + clinics` (default: all) of the scenario's population; `first`
    is a multiple of DRAW_BLOCK."""
    if first % DRAW_BLOCK:
        raise ValueError(f"a population slice starts at a multiple of {DRAW_BLOCK} clinics")
    stop = scenario.clinics if clinics is None else min(scenario.clinics, first + clinics)
    months = month_starts(scenario.start, scenario.months)
    parts = [
        (_draw_us if scenario.market == "US" else _draw_in)(
            scenario, start // DRAW_BLOCK, min(DRAW_BLOCK, stop - start)
        )
        for start in range(first, stop, DRAW_BLOCK)
    ]
    joined = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    if scenario.market == "US":
        names = list(scenario.sizes)
        return Population(scenario, months, names, joined["group"], first, sms=joined["sms"], voice=joined["voice"])
    assert scenario.india is not None
    return Population(
        scenario,
        months,
        list(scenario.india.specialties),
        joined["group"],
        first,
        counts=joined["counts"],
        cities=list(scenario.india.cities),
        city=joined["city"],
    )


def chunks(scenario: Scenario, clinics: int | None = None) -> Iterator[Population]:
    """The population in slices of `clinics` (rounded up to whole draw blocks; default
    `chunk_size`), one at a time."""
    size = chunk_size(scenario) if clinics is None else -(-max(1, clinics) // DRAW_BLOCK) * DRAW_BLOCK
    for first in range(0, scenario.clinics, size):
        yield draw(scenario, first, size)


def _noise(rng: np.random.Generator, sigma: float, shape: tuple[int, int]) -> np.ndarray:
    """Month-to-month variation around a clinic's own rate: lognormal with mean 1."""
    if sigma == 0:
        return np.ones(shape)
    return rng.lognormal(-(sigma**2) / 2, sigma, shape)


def _by_group(draws: Mapping[str, object], group: np.ndarray, rng: np.random.Generator, attribute: str) -> np.ndarray:
    """Each clinic's draw from its group's Range `attribute`."""
    out = np.empty(len(group))
    for k, profile in enumerate(draws.values()):
        chosen = group == k
        out[chosen] = getattr(profile, attribute).draw(rng, int(chosen.sum()))
    return out


def _draw_us(scenario: Scenario, block: int, n: int) -> dict[str, np.ndarray]:
    assert scenario.us is not None
    who, rates, months, _ = _streams(scenario, block)
    _, shares, _ = scenario.size_shares()
    group = who.choice(len(shares), size=n, p=shares)
    appointments = _by_group(scenario.sizes, group, rates, "appointments_per_year")
    clients = _by_group(scenario.sizes, group, rates, "clients_per_year")
    usage = scenario.us
    reminders = usage.reminders_per_appointment.draw(rates, n)
    segments = usage.segments_per_message.draw(rates, n)
    birthdays = usage.birthday_messages_per_client.draw(rates, n)
    campaigns = usage.campaign_messages_per_client.draw(rates, n)
    voicemail = usage.voicemail_minutes_per_appointment.draw(rates, n)
    sms_rate = (appointments * reminders + clients * (birthdays + campaigns)) * segments / 12
    voice_rate = appointments * voicemail / 12
    shape = (n, scenario.months)
    sms = np.rint(sms_rate[:, None] * _noise(months, scenario.monthly_variation, shape)).astype(np.int64)
    voice = np.rint(voice_rate[:, None] * _noise(months, scenario.monthly_variation, shape)).astype(np.int64)
    return {"group": group, "sms": sms, "voice": voice}


def _draw_in(scenario: Scenario, block: int, n: int) -> dict[str, np.ndarray]:
    india = scenario.india
    assert india is not None
    who, rates, months, _ = _streams(scenario, block)
    _, specialty_shares, _ = scenario.specialty_shares()
    _, city_shares, _ = scenario.city_shares()
    group = who.choice(len(specialty_shares), size=n, p=specialty_shares)
    city = who.choice(len(city_shares), size=n, p=city_shares)
    rate = _by_group(india.specialties, group, rates, "leads_per_month")
    counts = months.poisson(rate[:, None] * _noise(months, scenario.monthly_variation, (n, scenario.months)))
    return {"group": group, "city": city, "counts": counts.astype(np.int64)}
