"""Start-up benchmark: how long `creditbook --help`, each command's `--help`, git's textconv
(`creditbook pricebook dump`) and `import engine` take in a fresh process, beside `python -c pass`
and `import typer` (the command line's framework) measured in the same run. Median of RUNS
processes each.

Target (issue 16): every `--help` and `import engine` under 0.3 s. What `--help` costs beyond
`import typer` is the command line's own; `simulate --help` also loads rich (simulator/cli.py).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, table

RUNS = 9
TARGET_S = 0.3
SCRIPT = str(Path(sys.executable).parent / "creditbook")
US = str(ROOT / "pricebooks" / "us" / "us-audiology-v1.xlsx")

CASES: list[tuple[str, list[str], bool]] = [  # (what, command, held to the target)
    ("python -c pass (baseline)", [sys.executable, "-c", "pass"], False),
    ("python -c 'import typer' (floor)", [sys.executable, "-c", "import typer"], False),
    ("python -c 'import engine'", [sys.executable, "-c", "import engine"], True),
    ("creditbook --help", [SCRIPT, "--help"], True),
    ("creditbook pricebook --help", [SCRIPT, "pricebook", "--help"], True),
    ("creditbook pricebook validate --help", [SCRIPT, "pricebook", "validate", "--help"], True),
    ("creditbook quote --help", [SCRIPT, "quote", "--help"], True),
    ("creditbook ledger balance --help", [SCRIPT, "ledger", "balance", "--help"], True),
    ("creditbook demo seed --help", [SCRIPT, "demo", "seed", "--help"], True),
    ("creditbook simulate --help", [SCRIPT, "simulate", "--help"], True),
    ("creditbook pricebook dump (git textconv)", [SCRIPT, "pricebook", "dump", US], False),
]


def wall_seconds(command: list[str], runs: int = RUNS) -> tuple[float, float]:
    """Median and fastest wall time of `runs` fresh processes (one warm-up run first)."""
    subprocess.run(command, capture_output=True, cwd=ROOT, check=True)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, cwd=ROOT, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times)


def run() -> None:
    print(f"== startup: fresh processes, median of {RUNS}, beside python -c pass in the same run ==")
    baseline = None
    rows = []
    for what, command, targeted in CASES:
        median, fastest = wall_seconds(command)
        baseline = median if baseline is None else baseline
        verdict = ("ok" if median < TARGET_S else "OVER") if targeted else ""
        rows.append((what, f"{median:.3f}", f"{fastest:.3f}", f"+{median - baseline:.3f}", verdict))
    print(table(["process", "median s", "fastest s", "over python", f"< {TARGET_S} s"], rows))


if __name__ == "__main__":
    run()
