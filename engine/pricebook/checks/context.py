"""What every table check sees: the typed rows of each sheet, Meta, the lists, and one way to
report a finding at a row's cell."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from engine.money import decimal_text, format_money
from engine.pricebook.cells import INVALID, Domain, MoneyContext
from engine.pricebook.excel_tables import Row
from engine.pricebook.findings import Collector, Severity


@dataclass
class CheckContext:
    collector: Collector
    meta: dict[str, Any]
    domains: dict[str, Domain]
    rows: dict[str, list[Row]] = field(default_factory=dict)
    money: MoneyContext | None = None

    def sheet(self, name: str) -> list[Row]:
        return self.rows.get(name, [])

    def add(
        self,
        code: str,
        severity: Severity,
        row: Row | None,
        column: str,
        message: str,
        hint: str = "",
        value: Any = None,
        *,
        sheet: str = "",
    ) -> None:
        if row is None:
            self.collector.add(code, severity, message, hint, sheet=sheet, column=column, value=value)
            return
        self.collector.add(
            code,
            severity,
            message,
            hint,
            sheet=row.sheet,
            row=row.row,
            col=row.cols.get(column, 1),
            column=column,
            rule_id=row.rule_id,
            value=row.raw(column) if value is None else value,
        )

    def error(
        self, code: str, row: Row | None, column: str, message: str, hint: str = "", value: Any = None, **kw: Any
    ) -> None:
        self.add(code, Severity.ERROR, row, column, message, hint, value, **kw)

    def warn(
        self, code: str, row: Row | None, column: str, message: str, hint: str = "", value: Any = None, **kw: Any
    ) -> None:
        self.add(code, Severity.WARNING, row, column, message, hint, value, **kw)

    def info(
        self, code: str, row: Row | None, column: str, message: str, hint: str = "", value: Any = None, **kw: Any
    ) -> None:
        self.add(code, Severity.INFO, row, column, message, hint, value, **kw)

    # -- formatting in the editor's terms --------------------------------------------------------
    def count(self, value: Decimal | int) -> str:
        """A number of credits or units as the market groups digits (no money: for quantities and
        for the figure an editor typed)."""
        return decimal_text(value, grouping=True)

    def credits(self, amount: Decimal | int) -> str:
        if self.money is None:
            return f"{decimal_text(amount, grouping=True)} credits"
        return self.money.credits(amount)

    def money_text(self, amount: Decimal | int) -> str:
        if self.money is None:
            return decimal_text(amount, grouping=True)
        return format_money(Decimal(amount), self.money.currency, self.money.money_per_credit)

    @property
    def zone(self) -> ZoneInfo | None:
        name = self.meta.get("timezone")
        return ZoneInfo(name) if isinstance(name, str) else None

    @property
    def effective_from(self) -> datetime | None:
        value = self.meta.get("effective_from")
        return value if isinstance(value, datetime) else None

    def product_rows(self) -> dict[str, Row]:
        """Products by name (first row wins; duplicates are reported elsewhere)."""
        out: dict[str, Row] = {}
        for row in self.sheet("Products"):
            product = row.get("product")
            if isinstance(product, str) and product not in out:
                out[product] = row
        return out


def valid(value: Any) -> bool:
    return value is not None and value is not INVALID
