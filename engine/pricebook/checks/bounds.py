"""Bounds that span cells: figures made of several cells, and dates as the instants the ledger
stores.

Each cell was already read within its own column's maximum (engine/pricebook/schema.py, from
engine/bounds.py). What remains is what only a combination can exceed:

- a package's total (included_units × unit_price_credits) is bought in one purchase, so it must not
  pass OPERATION_CREDITS_MAX;
- an alert threshold counts credits or days depending on the alert: a days alert is at most
  DAYS_MAX;
- a date typed in the pricebook's time zone becomes a UTC instant in the compiled pricebook and
  the ledger, and that instant must lie in DATE_MIN..DATE_MAX (1970-01-01 00:00 in Kolkata is
  still 1969 in UTC).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from engine.bounds import DATE_MAX, DATE_MIN, DAYS_MAX, OPERATION_CREDITS_MAX
from engine.money import decimal_text
from engine.pricebook.cells import INVALID
from engine.pricebook.checks.context import CheckContext, valid
from engine.pricebook.compile import to_utc
from engine.pricebook.findings import Severity
from engine.vocabulary import AlertKind

#: date cells of the data sheets (Meta's are checked through ctx.meta)
DATE_COLUMNS = {"TopUpPromos": ("valid_from", "valid_to")}
META_DATES = ("effective_from", "existing_customers_effective_from")


def check_bounds(ctx: CheckContext) -> None:
    _package_totals(ctx)
    _alert_days(ctx)
    _instants(ctx)


def _package_totals(ctx: CheckContext) -> None:
    for row in ctx.sheet("Packages"):
        units, price = row.get("included_units"), row.get("unit_price_credits")
        if valid(units) and valid(price) and units * price > OPERATION_CREDITS_MAX:
            ctx.error(
                "C10",
                row,
                "included_units",
                f"The package costs {decimal_text(units, grouping=True)} × {decimal_text(price)} = "
                f"{decimal_text(units * price, grouping=True)} credits, more than one purchase may move "
                f"({decimal_text(Decimal(OPERATION_CREDITS_MAX), grouping=True)} credits).",
                "Check included_units and the rate: a package is bought in one purchase.",
            )


def _alert_days(ctx: CheckContext) -> None:
    days = {AlertKind.LOW_BALANCE_RUNWAY_DAYS, AlertKind.EXPIRING_CREDITS_DAYS}
    for row in ctx.sheet("Alerts"):
        threshold = row.get("threshold")
        if row.get("alert") in days and valid(threshold) and threshold > DAYS_MAX:
            ctx.error(
                "C10",
                row,
                "threshold",
                f"The {row.get('alert')} threshold is {decimal_text(threshold, grouping=True)} days; creditbook "
                f"handles durations up to {DAYS_MAX:,} days.",
                "Type a number of days.",
            )


def _outside(when: datetime) -> bool:
    return not DATE_MIN <= when <= DATE_MAX


def _instants(ctx: CheckContext) -> None:
    zone = ctx.zone
    if zone is None:
        return
    hint = f"Type a date between {DATE_MIN:%Y-%m-%d} and {DATE_MAX:%Y-%m-%d} in the pricebook's time zone."
    for key in META_DATES:
        when = ctx.meta.get(key)
        instant = to_utc(when, zone) if isinstance(when, datetime) else None
        if instant is not None and _outside(instant):
            meta_row, col = ctx.meta_cells.get(key, (0, 0))
            ctx.collector.add(
                "C11",
                Severity.ERROR,
                f"{key} {when:%Y-%m-%d %H:%M} is {instant:%Y-%m-%d %H:%M} in UTC, outside the instants "
                "creditbook stores.",
                hint,
                sheet="Meta",
                row=meta_row,
                col=col,
                column=key,
                value=str(when),
            )
            ctx.meta[key] = INVALID
    for sheet, columns in DATE_COLUMNS.items():
        for row in ctx.sheet(sheet):
            for column in columns:
                when = row.get(column)
                instant = to_utc(when, zone) if isinstance(when, datetime) else None
                if instant is not None and _outside(instant):
                    ctx.error(
                        "C11",
                        row,
                        column,
                        f"{column} {when:%Y-%m-%d %H:%M} is {instant:%Y-%m-%d %H:%M} in UTC, outside the instants "
                        "creditbook stores.",
                        hint,
                    )
                    row.values[column] = INVALID
