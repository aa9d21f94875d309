"""What every table check sees: the typed rows of each sheet, Meta, the lists, and one way to
report a finding at a row's cell."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from engine.money import decimal_text, format_money, format_number, format_percent
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
    meta_cells: dict[str, tuple[int, int]] = field(default_factory=dict)  # Meta key → (row, col) of its value

    def sheet(self, name: str) -> list[Row]:
        return self.rows.get(name, [])

    def add(  # noqa: PLR0913  error/warn/info's one body: Collector.add's fields, located by a row and column
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
    @property
    def currency(self) -> str | None:
        return None if self.money is None else self.money.currency

    def count(self, value: Decimal | int) -> str:
        """A number of credits or units as the market groups digits (12,34,567 in India), without
        money: for quantities and for the figure an editor typed."""
        return format_number(value, self.currency)

    def percent(self, fraction: Decimal) -> str:
        return percent_text(fraction, self.currency)

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


def percent_text(fraction: Decimal, currency: str | None = None) -> str:
    """A fraction as the percentage it is, with the decimals it has: 0.2 → 20%, 0.125 → 12.5%."""
    exponent = (Decimal(fraction) * 100).normalize().as_tuple().exponent
    places = max(0, -exponent) if isinstance(exponent, int) else 0
    return format_percent(fraction, currency, places=min(places, 6))


def valid(value: Any) -> bool:
    return value is not None and value is not INVALID
