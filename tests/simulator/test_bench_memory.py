"""The benchmarks' peak memory is each measured process's own: a child started by a parent that
holds 600 MB reports its own small peak (ru_maxrss would have carried the parent's)."""

from __future__ import annotations

from tests.simulator.scripts import run_script

_PARENT = """
import json
import numpy as np
from bench.common import measure, memory_mb
held = np.ones(600 * 2**20 // 8)  # touched: 600 MB resident in the parent
child = measure("memory_mb", "VmRSS", repeat=1, module="bench.common")
print(json.dumps({"parent_peak_mb": memory_mb("VmHWM"), "child_peak_mb": child["peak_mb"]}))
"""


def test_a_child_reports_its_own_peak_not_its_parents() -> None:
    figures = run_script(_PARENT, timeout=120)
    assert figures["parent_peak_mb"] > 600
    assert figures["child_peak_mb"] < 200, figures
