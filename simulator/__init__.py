"""What-if simulations over the pricing engine: scenarios, a vectorised Monte-Carlo, break-even
usage, pricebook A against B, sensitivity, exports. The Streamlit app (simulator/app) sits on top.

    from simulator import Scenario, simulate, us_default
    results = simulate(us_default(clinics=10_000))
    results.summary(), results.by_group_and_plan(), results.cheapest_by_group()
"""

from simulator.breakeven import BreakEven, break_evens
from simulator.montecarlo import Comparison, Results, compare, load_pricebooks, simulate, tornado
from simulator.scenario import PLAN_LABELS, PLANS, Range, Scenario, in_default, us_default

__all__ = [
    "PLANS",
    "PLAN_LABELS",
    "BreakEven",
    "Comparison",
    "Range",
    "Results",
    "Scenario",
    "break_evens",
    "compare",
    "in_default",
    "load_pricebooks",
    "simulate",
    "tornado",
    "us_default",
]
