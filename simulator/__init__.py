"""What-if simulations over the pricing engine: scenarios, a vectorised Monte-Carlo, break-even
usage, pricebook A against B, sensitivity, exports. The Streamlit app (simulator/app) sits on top.

    from simulator import Scenario, simulate, us_default
    results = simulate(us_default(clinics=10_000))
    results.summary(), results.by_group_and_plan(), results.cheapest_by_group()

Long work (simulate, compare, tornado) takes `progress(step, fraction)`; a scenario that cannot be
simulated (a hostile file, sizes over the memory budget) raises `ScenarioError`, one bounded message;
`results.inert` lists the inputs the pricebooks in force cannot react to.
"""

from typing import TYPE_CHECKING

_EXPORTS = {
    "BreakEven": "simulator.breakeven",
    "break_evens": "simulator.breakeven",
    "Comparison": "simulator.montecarlo",
    "Results": "simulator.montecarlo",
    "compare": "simulator.montecarlo",
    "load_pricebooks": "simulator.montecarlo",
    "simulate": "simulator.montecarlo",
    "tornado": "simulator.montecarlo",
    "PLAN_LABELS": "simulator.scenario",
    "PLANS": "simulator.scenario",
    "Inert": "simulator.scenario",
    "Range": "simulator.scenario",
    "Scenario": "simulator.scenario",
    "ScenarioError": "simulator.scenario",
    "Progress": "simulator.montecarlo",
    "in_default": "simulator.scenario",
    "us_default": "simulator.scenario",
}


if TYPE_CHECKING:  # what the lazy names are, for type checkers
    from simulator.breakeven import BreakEven, break_evens
    from simulator.montecarlo import Comparison, Progress, Results, compare, load_pricebooks, simulate, tornado
    from simulator.scenario import PLAN_LABELS, PLANS, Inert, Range, Scenario, ScenarioError, in_default, us_default


def __getattr__(name: str) -> object:
    """Loaded on first use (numpy, pandas and the engine), so `simulator.cli` and the CLI start fast."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'simulator' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "PLANS",
    "PLAN_LABELS",
    "BreakEven",
    "Comparison",
    "Inert",
    "Progress",
    "Range",
    "Results",
    "Scenario",
    "ScenarioError",
    "break_evens",
    "compare",
    "in_default",
    "load_pricebooks",
    "simulate",
    "tornado",
    "us_default",
]
