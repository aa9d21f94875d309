"""Turn what an editor typed into typed values, or into findings that say what is wrong.

Excel hands us floats for every number, strings with smart quotes and no-break spaces, dates
as dates or as text, percentages typed as 10 meaning 10%. This module normalises the harmless
cases (with a warning when that changed the value) and reports the rest at the cell, with a hint
in the editor's terms ("$0.0085 is 85 credits; type 85").

Whatever a cell holds, reading it ends in a value or a finding, never an exception, and in time
linear in its length: NaN and infinities are C10, a number past its column's maximum (what
creditbook stores and computes with, engine/bounds.py via the schema) is C10 before anything else
is computed from it, a date outside YEAR_MIN..YEAR_MAX is C11, and text with characters an
identifier, a code or stored text may not hold is C12. Number text longer than NUMBER_TEXT_MAX is
never handed to a pattern, and every pattern uses possessive quantifiers (no backtracking).
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

from engine.bounds import CODE_MAX, ID_MAX, IDENTIFIER, INT64_MAX, NOTE_MAX, YEAR_MAX, YEAR_MIN
from engine.money import decimal_text, format_credits, format_money
from engine.pricebook.characters import code_problem, describe, identifier_problem, looks_like, text_problem
from engine.pricebook.conditions import ANY_CONDITION, Condition, ConditionSyntaxError, parse_condition, split_values
from engine.pricebook.findings import Collector, Severity, shown
from engine.pricebook.schema import CREDITS, LIST_BY_NAME, Column, Kind


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
# Number text: every quantifier is possessive (*+, ++, ?+), so no pattern backtracks, and each is
# matched whole (fullmatch) against text of at most NUMBER_TEXT_MAX characters.
_DIGITS = r"(?:[0-9,]++(?:\.[0-9]++)?+|\.[0-9]++)"
_PLAIN_NUMBER = re.compile(r"[+-]?+(?:[0-9]{1,3}+(?:,[0-9]{3}+)++|[0-9]++)(?:\.[0-9]++)?+")
_EUROPEAN_NUMBER = re.compile(r"[+-]?+[0-9]{1,3}+(?:\.[0-9]{3}+)++(?:,[0-9]++)?+|[+-]?+[0-9]++,[0-9]{1,2}+")
_WITH_UNIT = re.compile(rf"([+-]?+{_DIGITS})\s*+(credits?|cr|segments?|mins?|minutes?|leads?|msgs?)", re.I)
_MONEY_TEXT = re.compile(
    rf"(?:(?P<cur>[$₹€£]|usd|inr|rs\.?+)\s*+(?P<a>{_DIGITS})|(?P<b>{_DIGITS})\s*+"
    r"(?P<cur2>[$₹€£]|usd|inr|rs\.?+))",
    re.I,
)
_STATED = re.compile(r"([0-9][0-9,]*+(?:\.[0-9]++)?+)\s*+([kKmM])?+\s*+(?:credits?+|cr)?+\.?+")
_PCT_TEXT = re.compile(r"([+-]?+[0-9]++(?:\.[0-9]++)?+)\s*+%")
_FORMULA_LIKE = re.compile(r"^(?:[=+@]|-[^\s-])")
#: number text longer than this is not handed to any pattern: no price needs 40 characters
NUMBER_TEXT_MAX = 40
#: most listed values compared for a 'Did you mean' hint, and most distinct values guessed per list
SUGGESTIONS_MAX = 2_000
#: the longest text Excel keeps in a cell (longer text cannot come from Excel itself)
EXCEL_TEXT_MAX = 32_767
#: a number shown in a message: positional up to this size, in scientific notation beyond
_POSITIONAL_MAX = Decimal(10) ** 21
_EXCEL_EPOCH = datetime(1899, 12, 30)
_TRUE = {"yes", "y", "true", "1", "x"}
_FALSE = {"no", "n", "false", "0"}


def number_text(value: Decimal) -> str:
    """A number as a message shows it: '1,234.5', or '1.000E+308' when it is too large to write
    out (decimal_text would need more digits than Decimal's context holds)."""
    if value.is_finite() and abs(value) < _POSITIONAL_MAX:
        return decimal_text(value, grouping=True)
    return f"{value:.3E}" if value.is_finite() else str(value)


def places(value: Decimal) -> int:
    """Decimal places of `value` written without trailing zeros, computed from its digits (not
    through normalize(), which rounds to the context's 28 digits and would hide the 29th)."""
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int) or exponent >= 0:
        return 0
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -exponent - trailing)


def _length(column: Column) -> int:
    """The longest text a column takes: its own limit, else by kind."""
    if column.max_length is not None:
        return column.max_length
    if column.kind is Kind.ID:
        return ID_MAX
    if column.kind is Kind.CODE:
        return CODE_MAX
    return EXCEL_TEXT_MAX if column.verbatim else NOTE_MAX


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

        self._guesses: dict[str, str | None] = {}

    def nearest(self, value: str) -> str | None:
        """The listed value `value` most likely misspells, for a 'Did you mean' hint. Each guess
        compares with every listed value, so a long list or text, or more than SUGGESTIONS_MAX
        distinct unknown values, get no guess: a hostile sheet cannot make this quadratic."""
        if value in self._guesses:
            return self._guesses[value]
        if len(self.values) > SUGGESTIONS_MAX or len(value) > NUMBER_TEXT_MAX or len(self._guesses) >= SUGGESTIONS_MAX:
            return None
        match = difflib.get_close_matches(value.casefold(), list(self.folded), n=1, cutoff=0.6)
        self._guesses[value] = guess = self.folded[match[0]] if match else None
        return guess


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

    def help(self, column: Column) -> str:
        """A column's help text as the editor reads it, saying what one credit is worth in this workbook
        (the generic wording while the Meta sheet's money_per_credit is unknown)."""
        if CREDITS not in column.help_text or self.money is None:
            return column.help
        one = format_money(self.money.money_per_credit, self.money.currency, self.money.money_per_credit)
        return column.help_text.replace(CREDITS, f"1 credit = {one}")

    # -- fast path ------------------------------------------------------------------------------
    def fast(self, column: Column) -> Callable[[Any], Any]:
        """A reader for the clean, common case of `column` (a plain number, an exact list value);
        it returns SLOW for anything else, which then goes through `read` and its findings. Large
        tables are 100,000 rows of clean cells, so this is where their time goes."""
        kind = column.kind
        if kind in (Kind.DECIMAL, Kind.MONEY, Kind.INT):
            return _fast_number(column)
        if kind is Kind.ENUM:
            exact = self._domain(column).exact
            return lambda raw: exact.get(raw, SLOW) if type(raw) is str else SLOW
        if kind is Kind.CONDITION:
            return self._fast_condition(column)
        return _fast_text(column)

    def _fast_condition(self, column: Column) -> Callable[[Any], Any]:
        """The fast reader of a condition column: '-' or one exact value of its list, cached."""
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

    # -- entry point ----------------------------------------------------------------------------
    def read(self, column: Column, raw: Any, loc: Loc) -> Any:
        """The typed value of a cell, its default when blank, or INVALID after recording a finding."""
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if column.required:
                hint = self.help(column)
                if column.kind is Kind.CONDITION:
                    hint = "Type - if this row applies to any value. " + self.help(column)
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

    def _read_text(self, column: Column, raw: Any, loc: Loc) -> Any:
        """Free text: no control, bidirectional or invisible characters and within the column's
        length (an error, except in notes and message bodies kept verbatim, where it is a warning)."""
        text = self._text(column, raw, loc)
        problem = text_problem(text, column.name, _length(column), multiline=column.verbatim)
        if problem is not None:
            if not column.verbatim:
                return self.error("C12", loc, *problem, text)
            self.warn("C12", loc, *problem, text)
        self._check_formula_like(text, column, loc)
        return text

    def _read_id(self, column: Column, raw: Any, loc: Loc) -> Any:
        text = self._text(column, raw, loc)
        problem = identifier_problem(text, f"{column.name} {shown(text, 40)!r}", _length(column))
        return text if problem is None else self.error("C12", loc, *problem, text)

    def _read_code(self, column: Column, raw: Any, loc: Loc) -> Any:
        text = self._text(column, raw, loc)
        if " " in text and len(text) <= _length(column):
            return self.error(
                "C02",
                loc,
                f"{column.name} {text!r} contains spaces.",
                f"Use dashes instead: {text.replace(' ', '-').upper()}.",
                text,
            )
        problem = code_problem(text, f"{column.name} {shown(text, 40)!r}")
        return text.upper() if problem is None else self.error("C12", loc, *problem, text)

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
        twin = next((char for char in text if not char.isascii() and looks_like(char)), None)
        if twin is not None:
            guess = f"It contains {describe(twin)}, which looks like {looks_like(twin)!r}. " + guess
        if domain.name in LIST_BY_NAME and LIST_BY_NAME[domain.name].editable:
            where = f"pick one from the dropdown, or add {text!r} to the {domain.name} column of the Lists sheet."
        else:
            where = f"the allowed values are: {', '.join(domain.values)}."
        return self.error(
            "C06", loc, f"{shown(text)!r} is not a known {domain.name}.", guess + where[0].upper() + where[1:], raw
        )

    def _lookup_all(self, domain: Domain, values: list[str], column: Column, loc: Loc, raw: Any) -> Any:
        """Each value looked up, or INVALID at the first unknown one (one finding per cell, however
        many values it lists)."""
        looked = []
        for value in values:
            found = self._lookup(domain, value, column, loc, raw)
            if found is INVALID:
                return INVALID
            looked.append(found)
        return looked

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
        values = self._lookup_all(domain, parts, column, loc, raw)
        return INVALID if values is INVALID else tuple(values)

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
            looked = self._lookup_all(domain, values, column, loc, raw)
            if looked is INVALID:
                return INVALID
            condition = Condition(frozenset(looked), negated)
        if isinstance(raw, str) and raw == text:
            self._conditions[(domain.name, raw)] = condition
        return condition

    # -- numbers --------------------------------------------------------------------------------
    def _number_from_text(self, column: Column, text: str, loc: Loc, raw: Any) -> Any:
        """Numbers typed as text: accepted with a warning when unambiguous, else explained."""
        compact = text.strip()
        if len(compact) > NUMBER_TEXT_MAX:
            if not compact.strip("0123456789,.+- "):
                digits = sum(char.isdigit() for char in compact)
                return self.error(
                    "C10",
                    loc,
                    f"{column.name} holds a number of {digits:,} digits typed as text; creditbook reads numbers "
                    f"up to {number_text(self._maximum(column))}.",
                    self.help(column),
                    raw,
                )
            return self.error(
                "C02",
                loc,
                f"{column.name} must be a number, but the cell holds {len(compact):,} characters of text.",
                self.help(column),
                raw,
            )
        if _PLAIN_NUMBER.fullmatch(compact):
            value = Decimal(compact.replace(",", ""))
            self.warn(
                "C08",
                loc,
                f"{column.name} holds the number {compact} as text; it was read as {number_text(value)}.",
                "Format the cell as a number.",
                raw,
            )
            return value
        if _EUROPEAN_NUMBER.fullmatch(compact):
            return self.error(
                "C02",
                loc,
                f"{column.name} {compact!r} looks like a number written with a comma for decimals.",
                "Use a point for decimals and no thousands dots, e.g. 1000.50.",
                raw,
            )
        unit = _WITH_UNIT.fullmatch(compact)
        if unit:
            return self.error(
                "C02",
                loc,
                f"{column.name} must be a number, but the cell holds {compact!r}.",
                f"Type just the number: {unit.group(1)}.",
                raw,
            )
        money = _MONEY_TEXT.fullmatch(compact)
        if money:
            amount = Decimal((money.group("a") or money.group("b")).replace(",", "") or "0")
            if column.kind is Kind.MONEY:
                self.warn(
                    "C08",
                    loc,
                    f"The currency sign in {compact!r} was dropped: read as {number_text(amount)}.",
                    "Type just the amount.",
                    raw,
                )
                return amount
            hint = "Type the number of credits."
            if self.money and self.money.money_per_credit:
                credits = amount / self.money.money_per_credit
                hint = f"{compact} is {self.money.credits(credits)}; type {number_text(credits)}."
            return self.error(
                "C02",
                loc,
                f"{column.name} is in credits, but the cell holds the amount of money {compact!r}.",
                hint,
                raw,
            )
        if _PCT_TEXT.fullmatch(compact):
            return self.error(
                "C02",
                loc,
                f"{column.name} is not a percentage column but holds {compact!r}.",
                "Type a plain number.",
                raw,
            )
        return self.error(
            "C02",
            loc,
            f"{column.name} must be a number, but the cell holds the text {shown(compact)!r}.",
            self.help(column),
            raw,
        )

    def _to_decimal(self, column: Column, raw: Any, loc: Loc) -> Any:
        """A cell as an exact Decimal within the column's maximum, or INVALID after a finding."""
        if isinstance(raw, bool):
            return self.error("C02", loc, f"{column.name} must be a number, not TRUE/FALSE.", self.help(column), raw)
        if isinstance(raw, float):
            if not math.isfinite(raw):
                what = "NaN (not a number)" if math.isnan(raw) else "an infinite number"
                return self.error(
                    "C10",
                    loc,
                    f"{column.name} holds {what}, which no price or count can be.",
                    "Type the intended number; the cell was probably written by a program, not typed.",
                    str(raw),
                )
            value = Decimal(int(raw)) if raw.is_integer() else Decimal(repr(raw))
        elif isinstance(raw, int):
            value = Decimal(raw)
        elif isinstance(raw, datetime | date):
            return self.error(
                "C02",
                loc,
                f"{column.name} must be a number, but the cell holds a date.",
                "Format the cell as a number (Home > Number Format > General).",
                str(raw),
            )
        else:
            value = self._number_from_text(column, str(raw), loc, raw)
            if value is INVALID:
                return INVALID
        return self._within_maximum(column, value, loc, raw)

    @staticmethod
    def _maximum(column: Column) -> Decimal:
        return column.maximum if column.maximum is not None else Decimal(INT64_MAX)

    def _within_maximum(self, column: Column, value: Decimal, loc: Loc, raw: Any) -> Any:
        """C10 for a number past what creditbook stores and computes with in this column; checked
        before anything else is computed from the value."""
        maximum = self._maximum(column)
        if abs(value) <= maximum or column.kind is Kind.PCT:  # a percentage's range is its own (C05)
            return value
        return self.error(
            "C10",
            loc,
            f"{column.name} is {number_text(value)}, beyond what creditbook can store and compute with "
            f"here: at most {self._amount(column, maximum)}.",
            f"Type a smaller number. {self.help(column)}",
            raw,
        )

    def _amount(self, column: Column, amount: Decimal) -> str:
        """An amount in the column's terms: credits with their money value, money, or a number."""
        if self.money is not None and ("credit" in column.name or "in credits" in self.help(column)):
            return self.money.credits(amount)
        if self.money is not None and column.kind is Kind.MONEY:
            return format_money(amount, self.money.currency)
        return number_text(amount) + (" days" if column.name.endswith("days") else "")

    def _bounds(self, column: Column, value: Decimal, loc: Loc, raw: Any) -> Any:
        if column.positive and value <= 0:
            return self.error(
                "C04",
                loc,
                f"{column.name} must be above zero, but it is {decimal_text(value)}.",
                self.help(column),
                raw,
            )
        if column.minimum is not None and value < column.minimum:
            return self.error(
                "C04", loc, f"{column.name} cannot be negative ({decimal_text(value)}).", self.help(column), raw
            )
        return value

    def _read_decimal(self, column: Column, raw: Any, loc: Loc) -> Any:
        value = self._to_decimal(column, raw, loc)
        if value is INVALID:
            return INVALID
        limit = min(column.max_decimals, 2) if column.kind is Kind.MONEY else column.max_decimals
        if places(value) > limit:
            rounded = value.quantize(Decimal(1).scaleb(-limit))
            return self.error(
                "C03",
                loc,
                f"{column.name} has more than {limit} decimals "
                f"({shown(decimal_text(value), 60)}), often the trace of a formula or a pasted float.",
                f"Type the exact value, e.g. {decimal_text(rounded)}.",
                raw,
            )
        return self._bounds(column, value, loc, raw)

    _read_money = _read_decimal

    def _read_int(self, column: Column, raw: Any, loc: Loc) -> Any:
        value = self._to_decimal(column, raw, loc)
        if value is INVALID:
            return INVALID
        if value != value.to_integral_value():
            return self.error(
                "C03",
                loc,
                f"{column.name} must be a whole number, but it is {shown(decimal_text(value), 60)}.",
                "Type a whole number.",
                raw,
            )
        checked = self._bounds(column, value, loc, raw)
        return INVALID if checked is INVALID else int(checked)

    def _read_pct(self, column: Column, raw: Any, loc: Loc) -> Any:
        match = _PCT_TEXT.fullmatch(raw.strip()) if isinstance(raw, str) and len(raw) <= NUMBER_TEXT_MAX else None
        if match:
            value = Decimal(match.group(1)) / 100
            self.warn(
                "C08",
                loc,
                f"{column.name} holds {raw.strip()!r} as text; read as {value:%}.",
                "Format the cell as a percentage.",
                raw,
            )
        else:
            value = self._to_decimal(column, raw, loc)
        if value is INVALID:
            return INVALID
        if value < 0:
            return self.error(
                "C04", loc, f"{column.name} cannot be negative ({number_text(value)}).", self.help(column), raw
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
                f"{column.name} is {number_text(value)}; a percentage runs from 0% to 100%.",
                self.help(column),
                raw,
            )
        if places(value) > column.max_decimals:
            return self.error(
                "C03",
                loc,
                f"{column.name} has too many decimals ({shown(decimal_text(value), 60)}).",
                "Type the percentage exactly, e.g. 12.5%.",
                raw,
            )
        return value

    def _read_stated(self, column: Column, raw: Any, loc: Loc) -> Any:
        if isinstance(raw, str) and len(raw.strip()) <= NUMBER_TEXT_MAX:
            match = _STATED.fullmatch(raw.strip())
            if match:
                number = Decimal(match.group(1).replace(",", ""))
                scale = {"k": 1000, "m": 1_000_000}.get((match.group(2) or "").lower(), 1)
                return self._within_maximum(column, number * scale, loc, raw)
        value = self._to_decimal(column, raw, loc)
        return value if value is INVALID else self._bounds(column, value, loc, raw)

    # -- dates and booleans ---------------------------------------------------------------------
    def _read_date(self, column: Column, raw: Any, loc: Loc) -> Any:
        if isinstance(raw, datetime):
            return self._in_years(column, raw, loc, raw)
        if isinstance(raw, date):
            return self._in_years(column, datetime(raw.year, raw.month, raw.day), loc, raw)
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
                f"{column.name} {shown(text)!r} is not a date that can be read safely.",
                "Type dates as year-month-day, e.g. 2026-01-31 (or 2026-01-31 09:00).",
                raw,
            )
        checked = self._in_years(column, parsed, loc, raw)
        if checked is not INVALID:
            self.warn(
                "C08",
                loc,
                f"{column.name} holds a date as text; read as {checked.isoformat(' ')}.",
                "Format the cell as a date.",
                raw,
            )
        return checked

    def _in_years(self, column: Column, value: datetime, loc: Loc, raw: Any) -> Any:
        """The date as local wall time of the pricebook, if it lies in YEAR_MIN..YEAR_MAX there (so
        that no later conversion, nor adding DAYS_MAX, can leave the four-digit calendar)."""
        if value.microsecond and value.year <= YEAR_MAX:  # canonical form: whole seconds (Excel's floats leave crumbs)
            value = value.replace(microsecond=0) + timedelta(seconds=value.microsecond >= 500_000)
        local = value
        if YEAR_MIN <= value.year <= YEAR_MAX:
            local = self._local(value)
            if YEAR_MIN <= local.year <= YEAR_MAX:
                return local
        written = f"{local.year:04d}-{local.month:02d}-{local.day:02d}"
        return self.error(
            "C11",
            loc,
            f"{column.name} {written} lies outside the years creditbook handles ({YEAR_MIN} to {YEAR_MAX}).",
            "Check the year: it is probably a typo (type dates as year-month-day).",
            str(raw),
        )

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


def _fast_number(column: Column) -> Callable[[Any], Any]:
    """The fast reader of a number column: a whole float within the column's bounds."""
    low = -math.inf if column.minimum is None else int(column.minimum)
    high = INT64_MAX if column.maximum is None else int(column.maximum)  # ints compare fastest
    positive, as_int = column.positive, column.kind is Kind.INT

    def number(raw: Any) -> Any:
        if type(raw) is float and raw.is_integer():
            value = int(raw)
            if (value > 0 or not positive) and low <= value <= high:
                return value if as_int else Decimal(value)
        return SLOW

    return number


def _fast_text(column: Column) -> Callable[[Any], Any]:
    """The fast reader of a text, id or code column: clean, printable text within its length."""
    kind = column.kind
    limit = _length(column)
    if kind is Kind.TEXT and column.verbatim:
        return lambda raw: (
            raw
            if type(raw) is str
            and raw.strip()
            and len(raw) <= limit
            and raw.isprintable()
            and not _FORMULA_LIKE.match(raw)
            else SLOW
        )
    if kind in (Kind.ID, Kind.CODE):
        upper = kind is Kind.CODE

        def identifier(raw: Any) -> Any:
            if type(raw) is str and len(raw) <= limit and IDENTIFIER.fullmatch(raw):
                return raw.upper() if upper else raw
            return SLOW

        return identifier
    if kind is Kind.TEXT:

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
                return raw
            return SLOW

        return text
    return lambda raw: SLOW
