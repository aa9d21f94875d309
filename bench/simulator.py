"""Simulator benchmark, each figure beside its baseline from the same run:

- 100,000 US clinic-years × 12 months (graduated SMS and voice under all four plans, then each
  clinic's cheapest) through the vectorised path, beside a pure-Python loop over the scalar quote
  path on a sample of the same clinic-months, scaled to the same size (target: < 1 s, ≥ 50×);
- 1,000,000 US clinic-years beside 100,000, each in a fresh process reporting its own peak memory
  (VmHWM) (target: ≤ 12× the 100,000 time and < 1 GB);
- the app's 10,000-clinic rerun, US (target: < 1 s), and the Indian lead market at the same size
  beside it (target: as fast as the US), at the US settings (100,000 clinics × 36 months) and its
  tornado.

Timings on a shared machine are noisy: compare figures within one run, not across runs; CPU
seconds are shown in brackets beside wall seconds (a busy machine stretches wall time more).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.common import measure, table

SAMPLE = 150  # clinics priced through the scalar path
_BOOKS: dict[str, list[Any]] = {}


def warm() -> None:
    """Before the clock: imports, both markets' pricebooks compiled, their tables built."""
    from simulator import in_default, load_pricebooks, simulate, us_default

    for market, default in (("US", us_default), ("IN", in_default)):
        scenario = default(clinics=100)
        _BOOKS[market] = load_pricebooks(scenario.pricebook_paths())
        simulate(scenario, _BOOKS[market])


def clinic_years(spec: str) -> dict[str, Any]:
    """Probe (run in a fresh process): simulate `market,clinics,months`."""
    from simulator import in_default, simulate, us_default

    market, clinics, months = spec.split(",")
    scenario = (us_default if market == "US" else in_default)(clinics=int(clinics), months=int(months))
    results = simulate(scenario, _BOOKS[market])
    return {"billed": results.summary()["billed"]}


CPU: dict[float, float] = {}  # wall seconds measured by _best → CPU seconds of the same runs


def _best(run: Callable[[], object], repeat: int = 3) -> float:
    """Median wall seconds of `repeat` runs (the median CPU seconds are kept in CPU)."""
    times, cpus = [], []
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        run()
        times.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    wall = statistics.median(times)
    CPU[wall] = statistics.median(cpus)
    return wall


def _seconds(wall: float) -> str:
    return f"{wall:.2f} ({CPU[wall]:.2f})"


def scalar_loop(scenario: Any, books: list[Any], population: Any) -> float:
    """Seconds to price SAMPLE clinics' months under every plan with engine.quote, one by one."""
    from engine.pricing.quote import quote
    from engine.pricing.requests import QuoteContext, Usage
    from simulator import PLANS
    from simulator.bills import _size_plans, term_versions, versions

    started = time.perf_counter()
    for plan in PLANS:
        package = plan.startswith("package")
        by_month = (versions if package else term_versions)(books, population)
        for n in range(SAMPLE):
            size = population.groups[population.group[n]]
            plans = _size_plans(by_month[0], size) if package else ("PAYG",)
            for m, at in enumerate(population.months):
                pairs: tuple[tuple[Any, Any], ...] = (("sms", population.sms), ("voice", population.voice))
                for product, units in pairs:
                    used = int(units[n, m - m % 12 : m].sum())
                    context = QuoteContext(
                        at=at, plan=plans, bundle=plan.endswith("bundle"), term_usage={product: used}
                    )
                    quote(by_month[m], Usage(product=product, units=int(units[n, m])), context)
    return time.perf_counter() - started


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "below"


def run() -> None:
    from simulator import in_default, load_pricebooks, simulate, tornado, us_default
    from simulator.population import draw

    print("== simulator: vectorised Monte-Carlo beside the scalar quote path ==")
    big = us_default(clinics=100_000, plan="cheapest")
    books = load_pricebooks(big.pricebook_paths())
    simulate(us_default(clinics=1_000), books)  # warm: tables compiled, vectors built
    vectorised = _best(lambda: simulate(big, books))
    sample = scalar_loop(big, books, draw(big, 0, SAMPLE))
    scaled = sample * big.clinics / SAMPLE
    rerun = _best(lambda: simulate(us_default(clinics=10_000), books), repeat=5)
    india = in_default(clinics=10_000)
    india_books = load_pricebooks(india.pricebook_paths())
    simulate(in_default(clinics=100), india_books)
    leads = _best(lambda: simulate(india, india_books), repeat=5)
    carried = _best(lambda: simulate(in_default(clinics=100_000, months=36), india_books), repeat=1)
    carried_us = _best(lambda: simulate(us_default(clinics=100_000, months=36), books), repeat=1)
    frame = tornado(india, india_books)
    swings = _best(lambda: tornado(india, india_books), repeat=1)
    runs = 1 + 2 * int((frame.no_effect == "").sum())
    small = measure("clinic_years", "US,100000,12", repeat=3, module="bench.simulator")
    large = measure("clinic_years", "US,1000000,12", repeat=2, module="bench.simulator")
    growth = float(large["seconds"]) / float(small["seconds"])
    ratio = scaled / vectorised
    print(
        table(
            ["run", "seconds (CPU)", "peak MB", "baseline", "ratio", "target", "verdict"],
            [
                (
                    "100,000 US clinic-years × 12 months, 4 plans + cheapest",
                    _seconds(vectorised),
                    "",
                    f"scalar quote loop {scaled:,.0f} s (sample of {SAMPLE}, scaled)",
                    f"{ratio:,.0f}×",
                    "< 1 s, ≥ 50×",
                    _verdict(vectorised < 1 and ratio >= 50),
                ),
                (
                    "1,000,000 US clinic-years (fresh process)",
                    f"{large['seconds']:.2f} ({large['cpu_seconds']:.2f})",
                    f"{large['peak_mb']:.0f}",
                    f"100,000 in a fresh process: {small['seconds']:.2f} s ({small['cpu_seconds']:.2f} CPU), "
                    f"{small['peak_mb']:.0f} MB (start {small['start_mb']:.0f} MB)",
                    f"{growth:.1f}×",
                    "≤ 12×, < 1,024 MB",
                    _verdict(growth <= 12 and float(large["peak_mb"]) < 1024),
                ),
                ("app rerun: 10,000 US clinics", _seconds(rerun), "", "", "", "< 1 s", _verdict(rerun < 1)),
                (
                    "10,000 Indian clinics × 12 months (leads)",
                    _seconds(leads),
                    "",
                    f"10,000 US clinics {_seconds(rerun)} s",
                    f"{leads / rerun:.1f}×",
                    "≤ 1.5× the US",
                    _verdict(leads <= 1.5 * rerun),
                ),
                (
                    "100,000 Indian clinics × 36 months (the US settings)",
                    _seconds(carried),
                    "",
                    f"100,000 US clinics × 36 months {_seconds(carried_us)} s",
                    f"{carried / carried_us:.1f}×",
                    "≤ 1.5× the US",
                    _verdict(carried <= 1.5 * carried_us),
                ),
                (
                    f"tornado, 10,000 Indian clinics ({runs} runs; inputs with no effect skipped)",
                    _seconds(swings),
                    "",
                    f"{runs} × one 10,000-clinic run: {runs * leads:.2f} s",
                    f"{swings / (runs * leads):.1f}×",
                    "(informational)",
                    "",
                ),
            ],
        )
    )
