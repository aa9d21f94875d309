"""Read the two sheets every other sheet depends on: Meta (what this pricebook is) and Lists
(the vocabulary of the dropdowns).

The time zone must be a zone of the IANA database (looked up in the list of zones, never opened
as a path, so 'America', '../etc' or a 5,000-character name is a finding, not an OSError); the
currency an ISO 4217 code; the pricebook_id an identifier in lower case; list values plain text
of at most ID_MAX characters without look-alikes from another script.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from engine.bounds import ID_MAX, YEAR_MAX, YEAR_MIN
from engine.pricebook.cells import INVALID, CellReader, Domain, Loc, tidy_text
from engine.pricebook.characters import currency_problem, identifier_problem, mixed_script_problem, text_problem
from engine.pricebook.excel_tables import extract, header_key
from engine.pricebook.findings import Collector, Severity, shown
from engine.pricebook.schema import (
    LIST_BY_NAME,
    LISTS,
    MARKETS,
    META_BY_NAME,
    META_KEYS,
    SCHEMA_VERSION,
    Column,
    Kind,
    ListSpec,
    MetaKey,
)
from engine.pricebook.xlsx import RawSheet

META_COLUMNS = {
    "key": Column("key", Kind.TEXT, "Setting name.", required=True),
    "value": Column("value", Kind.TEXT, "Setting value.", required=True),
    "notes": Column("notes", Kind.TEXT, "What the setting means.", verbatim=True),
}


def meta_column(key: MetaKey) -> Column:
    return Column(
        key.name,
        key.kind,
        key.help,
        required=key.required,
        list_name=key.list_name,
        positive=key.positive,
        default=key.default,
        maximum=key.maximum,
        max_length=key.max_length,
    )


#: zones a hint offers first when a region of the database is typed instead of a zone
_FAMILIAR_ZONES = frozenset(
    {"America/Chicago", "America/Denver", "America/Los_Angeles", "Europe/London", "Europe/Berlin", "Asia/Dubai"}
)


@functools.cache
def time_zones() -> frozenset[str]:
    """The zones of the IANA database (read once: it scans the database's folders)."""
    return frozenset(available_timezones())


def zone_problem(name: str) -> tuple[str, str] | None:
    """Why `name` is not a time zone (message, hint), or None."""
    if name in time_zones():
        return None
    familiar = {defaults.timezone for defaults in MARKETS.values()} | _FAMILIAR_ZONES
    inside = sorted(
        (zone for zone in time_zones() if zone.startswith(name + "/")) if len(name) <= 40 else (),
        key=lambda zone: (zone not in familiar, zone),
    )
    if inside:
        return (
            f"{name!r} is a region of the time zone database, not a time zone.",
            f"Pick a zone in it, e.g. {', '.join(inside[:4])}.",
        )
    guess = difflib.get_close_matches(name, sorted(time_zones()), n=1) if len(name) <= 40 else []
    return (
        f"{shown(name)!r} is not a time zone name.",
        (f"Did you mean {guess[0]!r}? " if guess else "") + "Use IANA names such as America/New_York or Asia/Kolkata.",
    )


def fixed_domains() -> dict[str, Domain]:
    """Domains of the engine's own vocabulary; they do not depend on any workbook."""
    return {spec.name: Domain(spec.name, spec.fixed, closed=True) for spec in LISTS if not spec.editable}


Problem = tuple[str, Severity, str, str]  # code, severity, message, hint


def _refused(problem: tuple[str, str] | None) -> Problem | None:
    """A list value creditbook does not accept as text (C12)."""
    return None if problem is None else ("C12", Severity.ERROR, *problem)


def _repeated(value: str, name: str, first_row: int | None) -> Problem | None:
    if first_row is None:
        return None
    return ("T01", Severity.WARNING, f"{value!r} is listed twice in {name} (also in row {first_row}).", "Delete one.")


def _unknown(value: str, spec: ListSpec, folded: str) -> Problem | None:
    if spec.editable or folded in {v.casefold() for v in spec.fixed}:
        return None
    return (
        "X01",
        Severity.ERROR,
        f"{value!r} is not something creditbook knows in the {spec.name} list.",
        f"The {spec.name} list is fixed: {', '.join(spec.fixed)}.",
    )


def read_lists(sheet: RawSheet | None, collector: Collector) -> dict[str, Domain]:
    """Domains for every list: fixed lists from the engine, editable ones from the Lists sheet."""
    domains = fixed_domains()
    editable: dict[str, list[str]] = {spec.name: [] for spec in LISTS if spec.editable}
    if sheet is not None:
        known = {spec.name: Column(spec.name, Kind.TEXT, spec.help) for spec in LISTS}
        extracted = extract(sheet, known, collector)
        if extracted is not None:
            for name, col in extracted.columns.items():
                spec = LIST_BY_NAME[name]
                seen: dict[str, int] = {}
                for row, cells in extracted.rows:
                    raw = cells[col - 1] if col - 1 < len(cells) else None
                    if raw is None or (isinstance(raw, str) and not raw.strip()):
                        continue
                    value = tidy_text(str(int(raw) if isinstance(raw, float) and raw.is_integer() else raw))
                    folded = value.casefold()
                    problem = (
                        _refused(text_problem(value, f"The {name} value", ID_MAX))
                        or _refused(mixed_script_problem(value, f"The {name} value"))
                        or _repeated(value, name, seen.get(folded))
                        or _unknown(value, spec, folded)
                    )
                    if problem is not None:
                        code, severity, message, hint = problem
                        collector.add(
                            code, severity, message, hint, sheet=sheet.name, row=row, col=col, column=name, value=value
                        )
                        continue
                    seen[folded] = row
                    if spec.editable:
                        editable[name].append(value)
    for name, values in editable.items():
        domains[name] = Domain(name, tuple(values), closed=False)
    return domains


def read_meta(
    sheet: RawSheet | None, reader: CellReader, collector: Collector
) -> tuple[dict[str, Any], dict[str, tuple[int, int]]]:
    """Meta as typed values (defaults filled in) and the (row, col) of each value cell; missing or
    broken keys are findings."""
    values: dict[str, Any] = {}
    places: dict[str, tuple[int, int]] = {}
    blank = {key.name: INVALID if key.required else key.default for key in META_KEYS}
    if sheet is None:
        return blank, places
    extracted = extract(sheet, META_COLUMNS, collector)
    if extracted is None or "key" not in extracted.columns or "value" not in extracted.columns:
        if not collector.has_errors():
            collector.add(
                "S02",
                Severity.ERROR,
                "The Meta sheet needs the columns key and value.",
                "Copy the Meta sheet from a template.",
                sheet=sheet.name,
            )
        return blank, places
    key_col, value_col = extracted.columns["key"], extracted.columns["value"]
    for row, cells in extracted.rows:
        raw_key = cells[key_col - 1] if key_col - 1 < len(cells) else None
        raw_value = cells[value_col - 1] if value_col - 1 < len(cells) else None
        if raw_key is None or not str(raw_key).strip():
            collector.add(
                "C01",
                Severity.ERROR,
                "A Meta row has a value but no key.",
                "Type the setting's name in the key column.",
                sheet=sheet.name,
                row=row,
                col=key_col,
                value=raw_value,
            )
            continue
        key = header_key(raw_key)
        spec = META_BY_NAME.get(key)
        if spec is None:
            collector.add(
                "S02",
                Severity.WARNING,
                f"{raw_key!r} is not a Meta setting creditbook knows; it is ignored.",
                "Known settings: " + ", ".join(META_BY_NAME) + ".",
                sheet=sheet.name,
                row=row,
                col=key_col,
                value=raw_key,
            )
            continue
        if key in places:
            collector.add(
                "T01",
                Severity.ERROR,
                f"The Meta setting {key} appears twice (rows {places[key][0]} and {row}).",
                "Keep one of them.",
                sheet=sheet.name,
                row=row,
                col=key_col,
                value=key,
            )
            continue
        places[key] = (row, value_col)
        values[key] = reader.read(meta_column(spec), raw_value, Loc(sheet.name, row, value_col, key))
    for spec in META_KEYS:
        if spec.name not in values:
            if spec.required:
                collector.add(
                    "C01",
                    Severity.ERROR,
                    f"The Meta setting {spec.name} is missing.",
                    f"Add a row with key {spec.name}: {spec.help}",
                    sheet=sheet.name,
                )
                values[spec.name] = INVALID
            else:
                values[spec.name] = spec.default
    _check_meta(values, places, sheet.name, collector)
    return values, places


def _check_meta(values: dict[str, Any], places: dict[str, tuple[int, int]], sheet: str, collector: Collector) -> None:
    def at(key: str) -> dict[str, Any]:
        row, col = places.get(key, (0, 0))
        return {"sheet": sheet, "row": row, "col": col, "column": key}

    version = values.get("schema_version")
    if isinstance(version, int) and version != SCHEMA_VERSION:
        collector.add(
            "S06",
            Severity.ERROR,
            f"This workbook uses format version {version}; this creditbook reads version {SCHEMA_VERSION}.",
            "Start from a fresh template: creditbook pricebook template OUT.xlsx.",
            value=version,
            **at("schema_version"),
        )
        values["schema_version"] = INVALID
    _check_codes(values, at, collector)
    _check_offsets(values, at, collector)
    start, existing = values.get("effective_from"), values.get("existing_customers_effective_from")
    if isinstance(start, datetime) and isinstance(existing, datetime) and existing < start:
        collector.add(
            "D07",
            Severity.ERROR,
            "Existing clinics cannot move to these prices before the version itself takes effect.",
            "Type a date on or after effective_from.",
            value=str(existing),
            **at("existing_customers_effective_from"),
        )


Where = Callable[[str], dict[str, Any]]  # a Meta key → where a finding about it points


def _check_codes(values: dict[str, Any], at: Where, collector: Collector) -> None:
    """The time zone, the currency and the pricebook id are ones creditbook knows and can store
    (the currency upper-cased); an unusable one becomes INVALID after its finding."""
    zone = values.get("timezone")
    if isinstance(zone, str):
        problem = zone_problem(zone)
        if problem is not None:
            collector.add("C06", Severity.ERROR, *problem, value=zone, **at("timezone"))
            values["timezone"] = INVALID
    currency = values.get("currency")
    if isinstance(currency, str):
        problem = currency_problem(currency)
        if problem is not None:
            code = "C06" if currency.isascii() and currency.isprintable() else "C12"
            collector.add(code, Severity.ERROR, *problem, value=currency, **at("currency"))
            values["currency"] = INVALID
        else:
            values["currency"] = currency.upper()
    pid = values.get("pricebook_id")
    if isinstance(pid, str):
        problem = identifier_problem(pid, f"pricebook_id {shown(pid, 40)!r}", ID_MAX)
        if problem is not None:
            collector.add("C12", Severity.ERROR, *problem, value=pid, **at("pricebook_id"))
            values["pricebook_id"] = INVALID
        elif pid != pid.lower():
            collector.add(
                "C02",
                Severity.ERROR,
                f"pricebook_id {pid!r} must be lower case.",
                f"For example {pid.lower()}.",
                value=pid,
                **at("pricebook_id"),
            )
            values["pricebook_id"] = INVALID


def _check_offsets(values: dict[str, Any], at: Where, collector: Collector) -> None:
    """A date typed with its own UTC offset is read in the pricebook's time zone (a warning), or
    refused when that puts it outside the years creditbook handles."""
    for key in ("effective_from", "existing_customers_effective_from"):
        when = values.get(key)
        if isinstance(when, datetime) and when.tzinfo is not None:
            zone_name = values.get("timezone")
            local = (
                when.astimezone(ZoneInfo(zone_name)).replace(tzinfo=None)
                if isinstance(zone_name, str)
                else when.replace(tzinfo=None)
            )
            inside = YEAR_MIN <= local.year <= YEAR_MAX
            read_as = (
                f"{key} carries its own UTC offset; it was read as {local:%Y-%m-%d %H:%M} in the pricebook's time zone"
            )
            collector.add(
                "C08" if inside else "C11",
                Severity.WARNING if inside else Severity.ERROR,
                read_as + ("." if inside else f", outside the years creditbook handles ({YEAR_MIN} to {YEAR_MAX})."),
                "Type the local date and time without an offset" + ("." if inside else ", and check the year."),
                value=when.isoformat(),
                **at(key),
            )
            values[key] = local if inside else INVALID
