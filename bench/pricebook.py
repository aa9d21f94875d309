"""Pricebook benchmark: validate+compile of the shipped workbooks and of a generated workbook with a
100,000-row LeadPrices table, beside a raw python-calamine read of the same file in the same run.

Target on this machine: the 100,000-row workbook validated and compiled in under 5 s and 500 MB.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

from bench.common import CACHE, ROOT, measure, table

CHANNELS = ("chat", "call")
RANGES = ((0, 5000), (5000, 10000), (10000, 20000), (20000, 50000), (50000, None))
SPECIALTIES = tuple(f"specialty_{i:02d}" for i in range(50))
CITIES = tuple(f"City {i:03d}" for i in range(200))
TARGET_SECONDS, TARGET_MB = 5.0, 500.0


def large_leads_workbook(rows_wanted: int = 100_000) -> Path:
    """A realistic large pricebook: every channel × specialty × city × price range, plus defaults.
    Written once with the project's own template writer and cached under .bench-cache/."""
    from engine.pricebook.template import write_workbook

    per_combo = len(RANGES)
    combos = rows_wanted // per_combo
    key = hashlib.sha256(f"v2|{rows_wanted}".encode()).hexdigest()[:10]
    path = CACHE / f"leads-{rows_wanted // 1000}k-{key}.xlsx"
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    rows = []
    n = 0
    for channel in CHANNELS:
        for specialty in SPECIALTIES:
            for city in CITIES:
                if n >= combos:
                    break
                for lo, hi in RANGES:
                    base = 100 + 40 * RANGES.index((lo, hi)) + (n % 7) * 5
                    rows.append(
                        {
                            "rule_id": f"LP-{len(rows) + 1:06d}",
                            "channel": channel,
                            "specialty": specialty,
                            "city": city,
                            "pkg_price_from": lo,
                            "pkg_price_to": hi,
                            "lead_price_credits": base,
                        }
                    )
                n += 1
    for i, (lo, hi) in enumerate(RANGES):
        rows.append(
            {
                "rule_id": f"LP-DEFAULT-{i + 1}",
                "channel": "-",
                "specialty": "-",
                "city": "-",
                "pkg_price_from": lo,
                "pkg_price_to": hi,
                "lead_price_credits": Decimal(100 + 50 * i),
            }
        )
    shipped = ROOT / "pricebooks" / "in" / "in-clinic-leads-v2.xlsx"
    from engine import load_pricebook

    pb = load_pricebook(shipped)
    dump = lambda model: [m.model_dump(exclude_none=True) for m in model]  # noqa: E731
    write_workbook(
        path,
        "IN",
        meta={
            "pricebook_id": "in-bench-large",
            "version": 1,
            "effective_from": pb.effective_from_local().replace(tzinfo=None),
            "title": "Generated 100k-row lead pricebook",
            "topup_min_credits": 1000,
        },
        lists={"specialty": list(SPECIALTIES), "city": list(CITIES), "perk": ["featured_placement"]},
        rows={
            "Products": dump(pb.products),
            "LeadPrices": rows,
            "Overdraft": dump(pb.overdraft),
            "Alerts": dump(pb.alerts),
            "Disputes": [{**d, "products": ", ".join(d["products"])} for d in dump(pb.disputes)],
        },
    )
    return path


def run() -> None:
    print("== pricebook: validate + compile, beside a raw python-calamine read of the same file ==")
    files = sorted((ROOT / "pricebooks").glob("*/*.xlsx"))
    print("generating the 100,000-row workbook (cached after the first run)...", flush=True)
    large = large_leads_workbook()
    results = []
    for path in [*files, large]:
        ours = measure("validate_compile", path)
        base = measure("calamine_read", path)
        results.append((path, ours, base))
    print(
        table(
            ["workbook", "rows", "validate+compile", "peak RSS", "calamine read", "peak RSS", "× calamine"],
            [
                [
                    p.name,
                    f"{o['info']['rows']:,}",
                    f"{o['seconds']:.3f} s",
                    f"{o['peak_mb']:.0f} MB",
                    f"{b['seconds']:.3f} s",
                    f"{b['peak_mb']:.0f} MB",
                    f"{o['seconds'] / b['seconds']:.1f}",
                ]
                for p, o, b in results
            ],
        )
    )
    _, ours, _ = results[-1]
    verdict = "PASS" if ours["seconds"] < TARGET_SECONDS and ours["peak_mb"] < TARGET_MB else "FAIL"
    print(
        f"target: 100,000-row workbook in < {TARGET_SECONDS:.0f} s and < {TARGET_MB:.0f} MB → {verdict} "
        f"({ours['seconds']:.2f} s, {ours['peak_mb']:.0f} MB; medians of 3 fresh processes; "
        f"file {large.stat().st_size / 1e6:.1f} MB)"
    )
