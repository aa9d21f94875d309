"""Benchmark plumbing: run a measurement in a fresh subprocess that reports its own peak memory
(VmHWM), repeat it, and print figures side by side with the baseline measured in the same run."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".bench-cache"

_CHILD = r"""
import importlib, json, sys, time
module, kind, path = sys.argv[1], sys.argv[2], sys.argv[3]
from bench.common import memory_mb
probes = importlib.import_module(module)
fn = getattr(probes, kind)
fn.__globals__.get("warm", lambda: None)()
start_mb = memory_mb("VmRSS")
started, cpu = time.perf_counter(), time.process_time()
info = fn(path)
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
peak_mb = memory_mb("VmHWM")
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_mb": peak_mb, "start_mb": start_mb, "info": info}))
"""


def memory_mb(field: str = "VmHWM") -> float:
    """This process's own memory from /proc/self/status, in MB: VmHWM (peak resident set) or VmRSS.

    Not `ru_maxrss`: on Linux a child inherits its parent's high-water mark through fork and keeps
    it through exec, so every child of a large parent reported the parent's peak. VmHWM belongs to
    the process's own address space, which exec replaces. Elsewhere, ru_maxrss is the fallback."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def measure(kind: str, path: Path | str, repeat: int = 3, module: str = "bench.probes") -> dict[str, float | str]:
    """Median wall seconds, CPU seconds and peak resident memory (VmHWM) of `<module>.<kind>(path)`
    over `repeat` fresh processes; `start_mb` is the process's resident memory before the measured
    call. (On a busy machine wall time stretches with the load; CPU time much less.)"""
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, module, kind, str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        if out.returncode:
            tail = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(f"benchmark child {module}.{kind}({path}) failed: {tail}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
        "peak_mb": statistics.median(r["peak_mb"] for r in runs),
        "start_mb": statistics.median(r["start_mb"] for r in runs),
        "info": runs[-1]["info"],
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append(
            "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
