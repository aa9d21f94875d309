"""How the pages show amounts: headline metrics that always fit, tables whose every numeric column
says its unit, and charts whose axes read like the tables beside them (₹12,34,567 in India). The
words and digits come from engine.money (babel); this module only places them in Streamlit."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import streamlit as st

from engine.money import (
    ColumnKind,
    d3_number_locale,
    format_column,
    format_credits,
    format_money,
    format_money_compact,
    format_number,
    locale_for,
)

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

Chart = TypeVar("Chart", bound="alt.TopLevelMixin")  # an altair chart of any kind, kept as its kind

# Streamlit's metric value is 2.25rem; 1.6rem keeps "₹12,34,56,789" whole in a quarter of the main
# area at 1280 px with the sidebar open (the browser test measures it).
PAGE_CSS = """<style>
[data-testid="stMetricValue"] { font-size: 1.6rem; }
</style>"""
LONGEST_VALUE = 11  # characters a metric value may have before it is written compactly


def page_style() -> None:
    st.html(PAGE_CSS)


def compact_credits(credits: int | float | Decimal, currency: str) -> str:
    """'12.3L credits' (India), '1.2M credits' (US), in full below 1,00,000 / 100,000."""
    from babel.numbers import format_compact_decimal

    number = Decimal(str(credits))
    if not number.is_finite():
        return "— credits"
    if abs(number) < 100_000:
        return f"{format_number(number, currency, places=0)} credits"
    return f"{format_compact_decimal(number, locale=locale_for(currency), fraction_digits=1)} credits"


def short_money(amount: float | Decimal, currency: str, places: int = 2) -> str:
    """The money itself when it fits a metric, its compact form (₹12.35L, $1.23M) when not."""
    full = format_money(amount, currency, places=places)
    return full if len(full) <= LONGEST_VALUE else format_money_compact(amount, currency)


def money_metric(
    column: Any, label: str, amount: float | Decimal, currency: str, *, help: str | None = None, places: int = 2
) -> None:
    """A money figure: short enough never to be cut, its full value in the help."""
    full = format_money(amount, currency, places=places)
    detail = full if help is None else f"{full} · {help}"
    column.metric(label, short_money(amount, currency, places), help=detail)


def credit_metric(column: Any, label: str, credits: int, money_per_credit: Decimal, currency: str) -> None:
    """Credits and their money: the money as the value, the credits in a line under it (which wraps,
    where a label would be cut), both in full in the help."""
    money = credits * money_per_credit
    column.metric(
        label,
        short_money(money, currency, places=0 if money_per_credit >= 1 else 2),
        help=format_credits(credits, money_per_credit, currency),
    )
    column.caption(compact_credits(credits, currency))


MOST_CREDITS = 10**12  # what a credits field accepts; far below int64, far above any real top-up


def credits_field(
    column: Any, text: str, money_per_credit: Decimal, currency: str, *, value: int, key: str, **options: Any
) -> int:
    """A credits input that says what one credit is worth in its label (so nobody types rupees
    into a dollar clinic's field), bounded to ±MOST_CREDITS unless `min_value` says otherwise."""
    one = format_money(money_per_credit, currency, money_per_credit)
    options.setdefault("min_value", -MOST_CREDITS)
    return int(
        column.number_input(f"{text} (1 credit = {one})", max_value=MOST_CREDITS, value=value, key=key, **options)
    )


def metric_rows(count: int, per_row: int = 4) -> list[Any]:
    """Columns for `count` metrics, at most `per_row` side by side (so each gets a quarter of the page)."""
    cells: list[Any] = []
    for start in range(0, count, per_row):
        cells.extend(st.columns(per_row)[: min(per_row, count - start)])
    return cells


@dataclass(frozen=True)
class Column:
    """A table column as people read it: its header (with the unit) and how its values are written."""

    header: str
    kind: ColumnKind | None = None  # None: shown as it is
    places: int | None = None


def table(
    frame: pd.DataFrame,
    columns: Mapping[str, Column],
    currency: str | None = None,
    money_per_credit: Decimal | None = None,
) -> pd.DataFrame:
    """`frame`'s `columns`, renamed to their headers and written in the market's conventions."""
    import pandas as pd

    out: dict[str, Sequence[Any]] = {}
    for name, column in columns.items():
        values = frame[name].tolist()
        out[column.header] = (
            values
            if column.kind is None
            else format_column(values, column.kind, currency, money_per_credit=money_per_credit, places=column.places)
        )
    return pd.DataFrame(out)


def localized(chart: Chart, currency: str) -> Chart:
    """A chart whose number and currency formats follow the market (Vega's config.locale)."""
    return (
        chart.configure(locale={"number": d3_number_locale(currency)})
        .configure_axis(labelLimit=400)
        .configure_legend(labelLimit=0)
    )


MONEY_AXIS = "$,.2~f"  # d3: the locale's currency symbol and grouping, at most cents, no trailing zeros
COUNT_AXIS = ",.0f"


def log_ticks(low: float, high: float) -> list[float]:
    """1-2-5 ticks from below `low` to above `high` (₹100, ₹200, ₹500, ₹1,000, …): few, round, readable."""
    ticks, decade = [], 10 ** math.floor(math.log10(max(low, 1e-9)))
    while decade <= high * 10:
        ticks += [decade * step for step in (1, 2, 5)]
        decade *= 10
    inside = [t for t in ticks if low / 2 <= t <= high * 2]
    return inside or ticks
