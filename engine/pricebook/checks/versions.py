"""A new version against the previous one (--previous): same pricebook, later version, later
effective_from, and something priced actually differs (DOMAIN §10)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.pricebook.findings import Collector, Severity
from engine.pricebook.model import CompiledPricebook


def check_against_previous(
    collector: Collector,
    meta: dict[str, Any],
    meta_cells: dict[str, tuple[int, int]],
    current: CompiledPricebook | None,
    previous_meta: dict[str, Any],
    previous: CompiledPricebook | None,
) -> None:
    def add(code: str, severity: Severity, key: str, message: str, hint: str, value: Any = None) -> None:
        row, col = meta_cells.get(key, (0, 0))
        collector.add(
            code,
            severity,
            message,
            hint,
            sheet="Meta",
            row=row,
            col=col,
            column=key,
            value=meta.get(key) if value is None else value,
        )

    pid, old_pid = meta.get("pricebook_id"), previous_meta.get("pricebook_id")
    if isinstance(pid, str) and isinstance(old_pid, str) and pid != old_pid:
        add(
            "D08",
            Severity.ERROR,
            "pricebook_id",
            f"The previous workbook is the pricebook {old_pid!r}, this one is {pid!r}.",
            "Compare versions of the same pricebook, or correct pricebook_id.",
        )
        return
    version, old_version = meta.get("version"), previous_meta.get("version")
    if isinstance(version, int) and isinstance(old_version, int):
        if version <= old_version:
            add(
                "D05",
                Severity.ERROR,
                "version",
                f"Version {version} is not after the previous version {old_version}.",
                f"Type {old_version + 1}.",
            )
        elif version != old_version + 1:
            add(
                "D05",
                Severity.WARNING,
                "version",
                f"Version {version} skips from {old_version}; the next version would be {old_version + 1}.",
                f"Type {old_version + 1} unless a version was skipped on purpose.",
            )
        superseded = meta.get("supersedes_version")
        if isinstance(superseded, int) and superseded != old_version:
            add(
                "D05",
                Severity.WARNING,
                "supersedes_version",
                f"supersedes_version says {superseded}, but the previous workbook is version {old_version}.",
                f"Type {old_version}.",
            )
    start, old_start = meta.get("effective_from"), previous_meta.get("effective_from")
    if isinstance(start, datetime) and isinstance(old_start, datetime) and start <= old_start:
        add(
            "D04",
            Severity.ERROR,
            "effective_from",
            f"effective_from {start:%Y-%m-%d %H:%M} is not after the previous version's {old_start:%Y-%m-%d %H:%M}.",
            "A new version must take effect later than the one it replaces; prices already charged never change.",
        )
    if current is not None and previous is not None and current.semantic_hash == previous.semantic_hash:
        add(
            "D06",
            Severity.WARNING,
            "version",
            "Nothing priced differs from the previous version (same "
            f"semantic hash {current.short_hash}); publishing it would be refused.",
            "Change a price or rule, or keep the previous version.",
        )
