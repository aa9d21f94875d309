"""Typo finder: one-typo mutations of the shipped workbooks, and where the validator puts the blame.

Every numeric cell that a cross-check reads (tier bounds, prices, quantities, stated totals, price
ranges, package units and rates, promotion figures, the Tests sheet's examples) is mistyped once
the way people mistype (a digit left out, an extra digit, two digits swapped, a digit typed twice,
the number typed as text with a unit); a fixed-seed sample of those, the kinds taking turns, is
validated in memory with the Tests sheet priced (tests/pricebook/mutations.py).

Printed beside the validator before the typo finder, measured on the same sample with the same
generator at commit bbafc72 (kept here: that code no longer exists to re-run). Goals: the
mistyped cell named by an error in at least 90% of caught typos; well under one error per typo
at a correct cell. Times are per validation and noisy on a shared machine.
"""

from __future__ import annotations

import time
from collections import defaultdict

from bench.common import table

SIZE, SEED = 2000, 2026
#: bbafc72, the validator before the typo finder, on sample(SIZE, SEED): measured 2026-12-01
#: (80.7 ms per typo then, on a machine busy with other work; 14 ms when quiet).
BASELINE = {"caught": 90.8, "blamed": 45.7, "elsewhere": 0.775}


def run() -> None:
    from tests.pricebook import mutations

    workbooks = mutations.shipped()
    sample = mutations.sample(workbooks, SIZE, SEED)
    total = mutations.Score()
    by_kind: dict[str, mutations.Score] = defaultdict(mutations.Score)
    slowest = 0.0
    started = time.perf_counter()
    for mutation in sample:
        began = time.perf_counter()
        report = mutations.validate_in_memory(mutations.apply(workbooks[mutation.workbook], mutation))
        slowest = max(slowest, time.perf_counter() - began)
        total.add(mutation, report)
        by_kind[mutation.kind].add(mutation, report)
    per_typo_ms = (time.perf_counter() - started) / len(sample) * 1000
    print(f"typos: {len(sample)} one-typo mutations of {', '.join(sorted(workbooks))} (seed {SEED})")
    print(
        table(
            ["", "caught", "mistyped cell blamed", "errors at correct cells per typo"],
            [
                [
                    "validator before the finder (bbafc72)",
                    f"{BASELINE['caught']:.1f}%",
                    f"{BASELINE['blamed']:.1f}%",
                    f"{BASELINE['elsewhere']:.3f}",
                ],
                [
                    "with the typo finder",
                    f"{total.caught_pct:.1f}%",
                    f"{total.blamed_right_pct:.1f}%",
                    f"{total.errors_elsewhere_per_typo:.3f}",
                ],
                ["goal", "", "≥ 90%", "well under 1"],
            ],
        )
    )
    print()
    print(
        table(
            ["kind of typo", "typos", "caught", "blamed", "errors elsewhere"],
            [
                [
                    kind,
                    str(score.typos),
                    f"{score.caught_pct:.1f}%",
                    f"{score.blamed_right_pct:.1f}%",
                    f"{score.errors_elsewhere_per_typo:.3f}",
                ]
                for kind, score in sorted(by_kind.items())
            ],
        )
    )
    print(f"\n{per_typo_ms:.1f} ms per validation on average, slowest {slowest * 1000:.0f} ms (noisy: shared machine)")
    for mutation, findings in total.misses[:10]:
        print(f"  not blamed: {mutation.describe()} → {', '.join(f'{f.code} {f.location}' for f in findings)}")
