"""The simulator prices exactly as the quote engine and the ledger do: clinic by clinic, month by
month, plan by plan, on a small scenario that crosses a term boundary and a new pricebook version."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from engine.billing import Billing
from engine.pricing.quote import quote
from engine.pricing.requests import LeadRequest, QuoteContext, Usage
from simulator import bills, in_default, us_default
from simulator.montecarlo import load_pricebooks
from simulator.population import draw
from tests.support.paths import IN_V1, IN_V2, US_V1
from tests.support.workbooks import us_version_2


@pytest.fixture(scope="module")
def us_books(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return [US_V1, us_version_2(tmp_path_factory.mktemp("v2"), effective_from=datetime(2026, 6, 1))]


def _scenario(books: list[Path], clinics: int = 8):
    return us_default(clinics=clinics, months=15, start=date(2026, 1, 1), pricebooks=[str(p) for p in books], seed=11)


@pytest.mark.parametrize("plan", ["payg", "payg_bundle", "package", "package_bundle"])
def test_us_usage_credits_equal_the_scalar_quote_for_every_clinic_month(us_books: list[Path], plan: str) -> None:
    scenario = _scenario(us_books)
    books = load_pricebooks(scenario.pricebook_paths())
    population = draw(scenario)
    simulated = bills.usage_credits(books, population, plan)
    by_month = (bills.versions if plan.startswith("package") else bills.term_versions)(books, population)
    assert {b.version for b in by_month} == {1, 2}  # the scenario does cross into v2
    for n in range(population.size):
        size = population.groups[population.group[n]]
        plans = bills._size_plans(by_month[0], size) if plan.startswith("package") else ("PAYG",)
        expected = []
        for m, at in enumerate(population.months):
            total = 0
            for product, units in (("sms", population.sms), ("voice", population.voice)):
                used = int(units[n, m - m % 12 : m].sum())
                context = QuoteContext(at=at, plan=plans, bundle=plan.endswith("bundle"), term_usage={product: used})
                total += quote(by_month[m], Usage(product=product, units=int(units[n, m])), context).credits
            expected.append(total)
        assert simulated[n].tolist() == expected, f"clinic {n} ({size}) on {plan}"


def test_us_simulated_usage_is_what_the_ledger_charges(us_books: list[Path], tmp_path: Path) -> None:
    """Register the simulated clinics in a real ledger, let them use what they drew, month by month:
    the ledger's charges are the simulator's credits (pay-as-you-go, across a term and a version)."""
    scenario = _scenario(us_books, clinics=4)
    books = load_pricebooks(scenario.pricebook_paths())
    population = draw(scenario)
    simulated = bills.usage_credits(books, population, "payg")
    billing = Billing(f"sqlite:///{tmp_path / 'ledger.db'}")
    for path in us_books:
        billing.publish_pricebook(path, actor="sim", key=path.name, at=datetime(2025, 6, 1, tzinfo=UTC))
    for n in range(population.size):
        clinic = f"c{n}"
        billing.register_clinic(clinic, clinic, "US", key="r", at=population.months[0] - timedelta(hours=1))
        for m, at in enumerate(population.months):
            if m % 12 == 0:  # paid credits last 365 days: each term starts with a purchase
                billing.purchase(clinic, 50_000_000, payment_method="card_ok", key=f"fund-{m}", at=at)
            charged = 0
            for product, units in (("sms", population.sms), ("voice", population.voice)):
                result = billing.charge(
                    clinic, Usage(product=product, units=int(units[n, m])), key=f"{product}-{m}", at=at
                )
                assert result.approved
                charged += result.credits
            assert charged == simulated[n, m], f"clinic {n}, month {m}"
    assert billing.reconcile().ok


def test_india_lead_credits_equal_the_scalar_quote_lead_by_lead() -> None:
    scenario = in_default(clinics=40, months=3, seed=5, start=date(2026, 1, 1))
    books = load_pricebooks([IN_V1, IN_V2])
    population = draw(scenario)
    simulated = bills.lead_credits(books, population)
    leads = population.leads
    assert leads is not None and len(leads.clinic) > 100
    expected = np.zeros_like(simulated)
    version = bills.versions(books, population)
    for i in range(len(leads.clinic)):
        n, m = int(leads.clinic[i]), int(leads.month[i])
        request = LeadRequest(
            product="lead_call" if leads.call[i] else "lead_chat",
            specialty=leads.specialty[leads.specialty_of_clinic[n]],
            city=leads.city[leads.city_of_clinic[n]],
            package_price=Decimal(str(leads.package_price[i])),
        )
        expected[n, m] += quote(version[m], request, QuoteContext(at=population.months[m])).credits
    assert (simulated == expected).all()
