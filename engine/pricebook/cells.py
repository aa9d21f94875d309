"""Turn what an editor typed into typed values, or into findings that say what is wrong.

Excel hands us floats for every number, strings with smart quotes and no-break spaces, dates
as dates or as text, percentages typed as 10 meaning 10%. This module normalises the harmless
cases (with a warning when that changed the value) and reports the rest at the cell, with a hint
in the editor's terms ("$0.0085 is 85 credits; type 85").
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from engine.money import decimal_text, format_credits
from engine.pricebook.conditions import ANY_CONDITION, Condition, ConditionSyntaxError, parse_condition, split_values
from engine.pricebook.findings import Collector, Severity
from engine.pricebook.schema import LIST_BY_NAME, Column, Kind


class _Invalid:
    """Marker for a cell whose value could not be read (a finding was already recorded)."""

    def __repr__(self) -> str:
        return "INVALID"

    def __bool__(self) -> bool:
        return False


INVALID: Any = _Invalid()
SLOW: Any = object()  # a fast reader's "not the common case: read it carefully"

_TIDY = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2033": '"',
        "\u00a0": " ",
        "\u2007": " ",
        "\u202f": " ",
        "\u2009": " ",
        "\u200a": " ",
        "\u3000": " ",
        "\u200b": "",
        "\ufeff": "",
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\t": " ",
        "\r": " ",
        "\n": " ",
    }
)
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")
_EUROPEAN_NUMBER = re.compile(r"^[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?$|^[+-]?\d+,\d{1,2}$")
_WITH_UNIT = re.compile(r"^([+-]?[\d,]*\.?\d+)\s*(credits?|cr|segments?|mins?|minutes?|leads?|msgs?)$", re.I)
_MONEY_TEXT = re.compile(
    r"^(?:(?P<cur>[$₹€£]|usd|inr|rs\.?)\s*(?P<a>[\d,]*\.?\d+)|(?P<b>[\d,]*\.?\d+)\s*"
    r"(?P<cur2>[$₹€£]|usd|inr|rs\.?))$",
    re.I,
)
_STATED = re.compile(r"^([0-9][0-9,]*(?:\.[0-9]+)?)\s*([kKmM])?\s*(?:credits?|cr)?\.?$")
_PCT_TEXT = re.compile(r"^([+-]?\d+(?:\.\d+)?)\s*%$")
_FORMULA_LIKE = re.compile(r"^(?:[=+@]|-[^\s-])")
_EXCEL_EPOCH = datetime(1899, 12, 30)
_TRUE = {"yes", "y", "true", "1", "x"}
_FALSE = {"no", "n", "false", "0"}


def tidy_text(text: str) -> str:
    """Straight quotes, plain spaces, single spaces, no leading or trailing space."""
    if text.isascii() and text.isprintable() and "  " not in text and text == text.strip():
        return text
    return " ".join(text.translate(_TIDY).split())


@dataclass(frozen=True)
class Loc:
    """Where a value sits: used to put findings on the right cell."""

    sheet: str
    row: int
    col: int
    column: str
    rule_id: str = ""


@dataclass(frozen=True)
class MoneyContext:
    money_per_credit: Decimal
    currency: str

    def credits(self, credits: Decimal | int) -> str:
        return format_credits(credits, self.money_per_credit, self.currency)


class Domain:
    """The allowed values of one list, matched without regard to case or spacing."""

    def __init__(self, name: str, values: tuple[str, ...], closed: bool):
        self.name = name
        self.values = values
        self.closed = closed
        self.frozen = frozenset(values)
        self.exact = {v: v for v in values}
        self.folded = {v.casefold(): v for v in values}

    def nearest(self, value: str) -> str | None:
        match = difflib.get_close_matches(value.casefold(), list(self.folded), n=1, cutoff=0.6)
        return self.folded[match[0]] if match else None


class CellReader:
    """Reads cells of one workbook; findings go to the collector, values come back typed."""

    def __init__(self, collector: Collector, domains: dict[str, Domain], money: MoneyContext | None = None):
        self.collector = collector
        self.domains = domains
        self.money = money
        self.zone: ZoneInfo | None = None  # set once Meta is read; aware date-times are converted to it
        self._conditions: dict[tuple[str, str], Condition] = {}

    # -- findings -------------------------------------------------------------------------------
    def _add(self, code: str, severity: Severity, loc: Loc, message: str, hint: str, value: Any) -> None:
        self.collector.add(
            code,
            severity,
            message,
            hint,
            sheet=loc.sheet,
            row=loc.row,
            col=loc.col,
            column=loc.column,
            rule_id=loc.rule_id,
            value=value,
        )

    def error(self, code: str, loc: Loc, message: str, hint: str = "", value: Any = None) -> Any:
        self._add(code, Severity.ERROR, loc, message, hint, value)
        return INVALID

    def warn(self, code: str, loc: Loc, message: str, hint: str = "", value: Any = None) -> None:
        self._add(code, Severity.WARNING, loc, message, hint, value)

    # -- fast path ------------------------------------------------------------------------------
    def fast(self, column: Column) -> Callable[[Any], Any]:
        """A reader for the clean, common case of `column` (a plain number, an exact list value);
        it returns SLOW for anything else, which then goes through `read` and its findings. Large
        tables are 100,000 rows of clean cells, so this is where their time goes."""
        kind = column.kind
        if kind in (Kind.DECIMAL, Kind.MONEY, Kind.INT):
            low = -math.inf if column.minimum is None else column.minimum
            high = math.inf if column.maximum is None else column.maximum
            positive, as_int = column.positive, kind is Kind.INT

            def number(raw: Any) -> Any:
                if type(raw) is float and raw.is_integer():
                    value = int(raw)
                    if (value > 0 or not positive) and low <= value <= high:
                        return value if as_int else Decimal(value)
                return SLOW

            return number
        if kind is Kind.ENUM:
            exact = self._domain(column).exact
            return lambda raw: exact.get(raw, SLOW) if type(raw) is str else SLOW
        if kind is Kind.CONDITION:
            domain = self._domain(column)
            cache = self._conditions

            def condition(raw: Any) -> Any:
                if type(raw) is not str:
                    return SLOW
                if raw == "-":
                    return ANY_CONDITION
                found = cache.get((domain.name, raw))
                if found is None and raw in domain.exact:
                    found = cache[(domain.name, raw)] = Condition(frozenset((raw,)))
                return SLOW if found is None else found

            return condition
        if kind is Kind.TEXT and column.verbatim:
            return lambda raw: raw if type(raw) is str and raw.strip() and not _FORMULA_LIKE.match(raw) else SLOW
        if kind in (Kind.ID, Kind.TEXT, Kind.CODE):
            limit = 64 if kind is Kind.ID else 1 << 20

            def text(raw: Any) -> Any:
                if (
                    type(raw) is str
                    and raw
                    and raw.isascii()
                    and raw.isprintable()
                    and raw == raw.strip()
                    and "  " not in raw
                    and len(raw) <= limit
                    and not _FORMULA_LIKE.match(raw)
                ):
                    if kind is Kind.ID and "," in raw:
                        return SLOW
                    if kind is Kind.CODE:
                        return SLOW if " " in raw else raw.upper()
                    return raw
                return SLOW

            return text
        return lambda raw: SLOW

    # -- entry point ----------------------------------------------------------------------------
    def read(self, column: Column, raw: Any, loc: Loc) -> Any:
        """The typed value of a cell, its default when blank, or INVALID after recording a finding."""
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if column.required:
                hint = column.help
                if column.kind is Kind.CONDITION:
                    hint = "Type - if this row applies to any value. " + column.help
                return self.error("C01", loc, f"{column.name} is empty, but it is required.", hint)
            if column.kind is Kind.CONDITION:
                return ANY_CONDITION
            if column.kind in (Kind.DECIMAL, Kind.MONEY, Kind.PCT) and column.default is not None:
                return Decimal(str(column.default))
            return column.default
        reader = getattr(self, f"_read_{column.kind.value}")
        return reader(column, raw, loc)

    # -- text kinds -----------------------------------------------------------------------------
    def _text(self, column: Column, raw: Any, loc: Loc) -> str:
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        if isinstance(raw, datetime | date):
            raw = raw.isoformat()
        text = str(raw)
        if column.verbatim:
            return text
        tidy = tidy_text(text)
        if tidy != text and tidy.strip() != text.strip():
            self.warn(
                "C08",
                loc,
                f"Curly quotes, special spaces or dashes in {column.name} were replaced "
                f"by plain ones: read as {tidy!r}.",
                "Nothing to do unless the meaning changed.",
                text,
            )
        return tidy

    def _check_formula_like(self, text: str, column: Column, loc: Loc) -> None:
        if _FORMULA_LIKE.match(text):
            self.warn(
                "C09",
                loc,
                f"{column.name} starts with {text[0]!r}, which spreadsheets read as the start "
                "of a formula when the text is exported.",
                "Start the text with a letter or a digit.",
                text,
            )

    def _read_text(self, column: Column, raw: Any, loc: Loc) -> str:
        text = self._text(column, raw, loc)
        self._check_formula_like(text, column, loc)
        return text

    def _read_id(self, column: Column, raw: Any, loc: Loc) -> Any:
        text = self._text(column, raw, loc)
        if "," in text or len(text) > 64:
            return self.error(
                "C02",
                loc,
                f"{column.name} {text!r} cannot contain commas or be longer than 64 characters.",
                "Use short ids like SMS-1 or LP-014.",
                text,
            )
        self._check_formula_like(text, column, loc)
        return text

    def _read_code(self, column: Column, raw: Any, loc: Loc) -> Any:
        text = self._text(column, raw, loc)
        if " " in text:
            return self.error(
                "C02",
                loc,
                f"{column.name} {text!r} contains spaces.",
                f"Use dashes instead: {text.replace(' ', '-').upper()}.",
                text,
            )
        self._check_formula_like(text, column, loc)
        return text.upper()

    # -- lists ----------------------------------------------------------------------------------
    def _lookup(self, domain: Domain, text: str, column: Column, loc: Loc, raw: Any) -> Any:
        found = domain.exact.get(text)
        if found is not None:
            return found
        found = domain.folded.get(text.casefold())
        if found is not None:
            if found != text:
                self.warn(
                    "C08",
                    loc,
                    f"{text!r} was read as {found!r} (the spelling on the Lists sheet).",
                    "Pick the value from the dropdown to avoid this note.",
                    raw,
                )
            return found
        nearest = domain.nearest(text)
        guess = f"Did you mean {nearest!r}? " if nearest else ""
        if domain.name in LIST_BY_NAME and LIST_BY_NAME[domain.name].editable:
            where = f"pick one from the dropdown, or add {text!r} to the {domain.name} column of the Lists sheet."
        else:
            where = f"the allowed values are: {', '.join(domain.values)}."
        return self.error(
            "C06", loc, f"{text!r} is not a known {domain.name}.", guess + where[0].upper() + where[1:], raw
        )

    def _domain(self, column: Column) -> Domain:
        return self.domains[column.list_name or column.name]

    def _read_enum(self, column: Column, raw: Any, loc: Loc) -> Any:
        domain = self._domain(column)
        if isinstance(raw, str):
            found = domain.exact.get(raw)
            if found is not None:
                return found
        text = self._text(column, raw, loc)
        return self._lookup(domain, text, column, loc, raw)

    def _read_enum_list(self, column: Column, raw: Any, loc: Loc) -> Any:
        domain = self._domain(column)
        text = self._text(column, raw, loc)
        parts = split_values(text)
        if any(not part for part in parts):
            return self.error(
                "C07",
                loc,
                f"{column.name} {text!r} has an empty value between commas.",
                "Separate values with single commas, like: sms, voice.",
                raw,
            )
        values = [self._lookup(domain, part, column, loc, raw) for part in parts]
        if any(v is INVALID for v in values):
            return INVALID
        return tuple(values)

    def _read_condition(self, column: Column, raw: Any, loc: Loc) -> Any:
        domain = self._domain(column)
        if isinstance(raw, str):
            cached = self._conditions.get((domain.name, raw))
            if cached is not None:
                return cached
        text = self._text(column, raw, loc)
        try:
            values, negated = parse_condition(text)
        except ConditionSyntaxError as exc:
            return self.error(
                "C07",
                loc,
                f"The condition {text!r} in {column.name} cannot be read: {exc}.",
                "Write - (any), a value, values separated by commas, or not(a, b).",
                raw,
            )
        if not values:
            if text != "-":
                self.warn("C08", loc, f"{text!r} was read as - (any value).", "Type - for any value.", raw)
            condition = ANY_CONDITION
        else:
            looked = [self._lookup(domain, value, column, loc, raw) for value in values]
            if any(v is INVALID for v in looked):
                return INVALID
            condition = Condition(frozenset(looked), negated)
        if isinstance(raw, str) and raw == text:
            self._conditions[(domain.name, raw)] = condition
        return condition

    # -- numbers --------------------------------------------------------------------------------
    def _number_from_text(self, column: Column, text: str, loc: Loc, raw: Any) -> Any:
        """Numbers typed as text: accepted with a warning when unambiguous, else explained."""
        compact = text.strip()
        if _PLAIN_NUMBER.match(compact):
            value = Decimal(compact.replace(",", ""))
            self.warn(
                "C08",
                loc,
                f"{column.name} holds the number {compact} as text; it was read as "
                f"{decimal_text(value, grouping=True)}.",
                "Format the cell as a number.",
                raw,
            )
            return value
        if _EUROPEAN_NUMBER.match(compact):
            return self.error(
                "C02",
                loc,
                f"{column.name} {compact!r} looks like a number written with a comma for decimals.",
                "Use a point for decimals and no thousands dots, e.g. 1000.50.",
                raw,
            )
        unit = _WITH_UNIT.match(compact)
        if unit:
            return self.error(
                "C02",
                loc,
                f"{column.name} must be a number, but the cell holds {compact!r}.",
                f"Type just the number: {unit.group(1)}.",
                raw,
            )
        money = _MONEY_TEXT.match(compact)
        if money:
            amount = Decimal((money.group("a") or money.group("b")).replace(",", ""))
            if column.kind is Kind.MONEY:
                self.warn(
                    "C08",
                    loc,
                    f"The currency sign in {compact!r} was dropped: read as {decimal_text(amount, grouping=True)}.",
                    "Type just the amount.",
                    raw,
                )
                return amount
            hint = "Type the number of credits."
            if self.money and self.money.money_per_credit:
                credits = amount / self.money.money_per_credit
                hint = f"{compact} is {self.money.credits(credits)}; type {decimal_text(credits)}."
            return self.error(
                "C02",
                loc,
                f"{column.name} is in credits, but the cell holds the amount of money {compact!r}.",
                hint,
                raw,
            )
        if _PCT_TEXT.match(compact):
            return self.error(
                "C02",
                loc,
                f"{column.name} is not a percentage column but holds {compact!r}.",
                "Type a plain number.",
                raw,
            )
        return self.error(
            "C02", loc, f"{column.name} must be a number, but the cell holds the text {compact!r}.", column.help, raw
        )

    def _to_decimal(self, column: Column, raw: Any, loc: Loc) -> Any:
        if isinstance(raw, bool):
            return self.error("C02", loc, f"{column.name} must be a number, not TRUE/FALSE.", column.help, raw)
        if isinstance(raw, float):
            return Decimal(int(raw)) if raw.is_integer() else Decimal(repr(raw))
        if isinstance(raw, int):
            return Decimal(raw)
        if isinstance(raw, datetime | date):
            return self.error(
                "C02",
                loc,
                f"{column.name} must be a number, but the cell holds a date.",
                "Format the cell as a number (Home > Number Format > General).",
                str(raw),
            )
        return self._number_from_text(column, str(raw), loc, raw)

    def _bounds(self, column: Column, value: Decimal, loc: Loc, raw: Any) -> Any:
        if column.positive and value <= 0:
            return self.error(
                "C04", loc, f"{column.name} must be above zero, but it is {decimal_text(value)}.", column.help, raw
            )
        if column.minimum is not None and value < column.minimum:
            return self.error(
                "C04", loc, f"{column.name} cannot be negative ({decimal_text(value)}).", column.help, raw
            )
        if column.maximum is not None and value > column.maximum:
            return self.error(
                "C04",
                loc,
                f"{column.name} is {decimal_text(value)}, above its maximum of {decimal_text(column.maximum)}.",
                column.help,
                raw,
            )
        return value

    @staticmethod
    def _places(value: Decimal) -> int:
        exponent = value.normalize().as_tuple().exponent
        return max(0, -exponent) if isinstance(exponent, int) else 0

    def _read_decimal(self, column: Column, raw: Any, loc: Loc) -> Any:
        value = self._to_decimal(column, raw, loc)
        if value is INVALID:
            return INVALID
        limit = min(column.max_decimals, 2) if column.kind is Kind.MONEY else column.max_decimals
        if self._places(value) > limit:
            rounded = value.quantize(Decimal(1).scaleb(-limit))
            return self.error(
                "C03",
                loc,
                f"{column.name} has more than {limit} decimals "
                f"({decimal_text(value)}), often the trace of a formula or a pasted float.",
                f"Type the exact value, e.g. {decimal_text(rounded)}.",
                raw,
            )
        return self._bounds(column, value, loc, raw)

    _read_money = _read_decimal

    def _read_int(self, column: Column, raw: Any, loc: Loc) -> Any:
        if type(raw) is float and raw.is_integer():
            value: Any = Decimal(int(raw))
        else:
            value = self._to_decimal(column, raw, loc)
            if value is INVALID:
                return INVALID
            if value != value.to_integral_value():
                return self.error(
                    "C03",
                    loc,
                    f"{column.name} must be a whole number, but it is {decimal_text(value)}.",
                    "Type a whole number.",
                    raw,
                )
        checked = self._bounds(column, value, loc, raw)
        return INVALID if checked is INVALID else int(checked)

    def _read_pct(self, column: Column, raw: Any, loc: Loc) -> Any:
        if isinstance(raw, str):
            match = _PCT_TEXT.match(raw.strip())
            if match:
                value = Decimal(match.group(1)) / 100
                self.warn(
                    "C08",
                    loc,
                    f"{column.name} holds {raw.strip()!r} as text; read as {value:%}.",
                    "Format the cell as a percentage.",
                    raw,
                )
                raw = float(value)
        value = self._to_decimal(column, raw, loc)
        if value is INVALID:
            return INVALID
        if value < 0:
            return self.error(
                "C04", loc, f"{column.name} cannot be negative ({decimal_text(value)}).", column.help, raw
            )
        if value > 1:
            if value <= 100:
                return self.error(
                    "C05",
                    loc,
                    f"{column.name} is {decimal_text(value)}, which would mean "
                    f"{decimal_text(value * 100)}%. Percentages are fractions here.",
                    f"If you meant {decimal_text(value)}%, type {decimal_text(value)}% "
                    f"(or {decimal_text(value / 100)}).",
                    raw,
                )
            return self.error(
                "C05",
                loc,
                f"{column.name} is {decimal_text(value)}; a percentage runs from 0% to 100%.",
                column.help,
                raw,
            )
        if self._places(value) > column.max_decimals:
            return self.error(
                "C03",
                loc,
                f"{column.name} has too many decimals ({decimal_text(value)}).",
                "Type the percentage exactly, e.g. 12.5%.",
                raw,
            )
        return value

    def _read_stated(self, column: Column, raw: Any, loc: Loc) -> Any:
        if isinstance(raw, str):
            match = _STATED.match(raw.strip())
            if match:
                number = Decimal(match.group(1).replace(",", ""))
                scale = {"k": 1000, "m": 1_000_000}.get((match.group(2) or "").lower(), 1)
                return number * scale
        value = self._to_decimal(column, raw, loc)
        return value if value is INVALID else self._bounds(column, value, loc, raw)

    # -- dates and booleans ---------------------------------------------------------------------
    def _read_date(self, column: Column, raw: Any, loc: Loc) -> Any:
        if isinstance(raw, datetime):
            return self._local(raw)
        if isinstance(raw, date):
            return datetime(raw.year, raw.month, raw.day)
        if isinstance(raw, float | int) and not isinstance(raw, bool):
            guess = ""
            if 1 <= raw < 200_000:
                guess = f" (as a date it would be {(_EXCEL_EPOCH + timedelta(days=float(raw))).date()})"
            return self.error(
                "C02",
                loc,
                f"{column.name} holds the number {raw}, not a date{guess}.",
                "Format the cell as a date (yyyy-mm-dd).",
                raw,
            )
        text = tidy_text(str(raw))
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return self.error(
                "C02",
                loc,
                f"{column.name} {text!r} is not a date that can be read safely.",
                "Type dates as year-month-day, e.g. 2026-01-31 (or 2026-01-31 09:00).",
                raw,
            )
        self.warn(
            "C08",
            loc,
            f"{column.name} holds a date as text; read as {parsed.isoformat(' ')}.",
            "Format the cell as a date.",
            raw,
        )
        return self._local(parsed)

    def _local(self, value: datetime) -> datetime:
        """Date-times are kept as local wall time of the pricebook; an explicit offset is converted."""
        if value.tzinfo is None or self.zone is None:
            return value
        return value.astimezone(self.zone).replace(tzinfo=None)

    def _read_bool(self, column: Column, raw: Any, loc: Loc) -> Any:
        if isinstance(raw, bool):
            return raw
        text = tidy_text(str(int(raw) if isinstance(raw, float) and raw.is_integer() else raw)).casefold()
        if text in _TRUE or text in _FALSE:
            if text not in ("yes", "no"):
                self.warn(
                    "C08",
                    loc,
                    f"{column.name} {raw!r} was read as {'yes' if text in _TRUE else 'no'}.",
                    "Pick yes or no from the dropdown.",
                    raw,
                )
            return text in _TRUE
        return self.error(
            "C02", loc, f"{column.name} must be yes or no, not {raw!r}.", "Pick yes or no from the dropdown.", raw
        )


def decimal_or_none(value: Any) -> Decimal | None:
    """Helper for checks: a Decimal, or None for blank/invalid cells."""
    if value is None or value is INVALID:
        return None
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError):
        return None
