"""Whatever an editor or an attacker does to a workbook, the validator answers with a compiled
pricebook or with findings — never with a crash, a hang or a memory blow-up. Mutations are drawn at
random over every sheet and cell of the shipped pricebooks: in memory (many examples), through real
.xlsx files (fewer, slower), and as hostile values of each class (numbers, dates, text, structure)
written into real files by XML surgery and validated in a child process under a time and memory
limit."""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import available_timezones

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import load_compiled_json, validate_pricebook
from engine.pricebook.findings import Severity
from engine.pricebook.validate import Report, validate_raw
from engine.pricebook.xlsx import RawWorkbook, read_workbook
from tests.pricebook.bounded import run_bounded
from tests.pricebook.hostile import Surgery
from tests.support.paths import IN_V2, ROOT, US_V1
from tests.support.workbooks import Book

BASES = {path.name: read_workbook(path) for path in (US_V1, IN_V2)}

EXCELISH = st.sampled_from(
    [
        "-",
        "*",
        "any",
        "not(",
        "not()",
        "not(chat)",
        "chat, call",
        "chat,,call",
        "10%",
        "$0.0085",
        "₹5,000",
        "1.000,50",
        "1,000",
        "42.5K",
        "2.7K credits",
        "=A1",
        "#REF!",
        "yes",
        "no",
        "TRUE",
        "2026-01-01",
        "01/02/2026",
        "  Mumbai ",
        "\u201cquoted\u201d",
        "\u00a0",
        "sms",
        "voice",
        "lead_chat",
        "standard",
        "preferred",
        "graduated",
        "PAYG",
        "SOLO-SMS",
        "SMS-1",
        "LP-01",
        "duplicate",
        "review",
    ]
)
VALUES = st.one_of(
    st.none(),
    st.just(""),
    EXCELISH,
    st.text(max_size=12),
    st.integers(min_value=-(10**7), max_value=10**9).map(float),
    st.floats(min_value=-1e6, max_value=1e12, allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 1, 1)),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)),
)


@st.composite
def mutation(draw: st.DrawFn) -> tuple[str, list[tuple[str, Any]]]:
    base = draw(st.sampled_from(sorted(BASES)))
    raw = BASES[base]
    steps: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        sheet = draw(st.sampled_from(sorted(raw.sheets)))
        rows = max(1, raw.sheets[sheet].max_row)
        width = max(1, len(raw.sheets[sheet].rows[0]) if raw.sheets[sheet].rows else 1)
        kind = draw(st.sampled_from(["cell"] * 8 + ["drop_row", "copy_row", "drop_sheet"]))
        if kind == "cell":
            # mostly data cells of the table, sometimes the header or just outside the table
            row = draw(
                st.one_of(st.integers(min_value=2, max_value=rows), st.integers(min_value=1, max_value=rows + 2))
            )
            col = draw(
                st.one_of(st.integers(min_value=1, max_value=width), st.integers(min_value=1, max_value=width + 2))
            )
            steps.append(("cell", (sheet, row, col, draw(VALUES))))
        elif kind in ("drop_row", "copy_row"):
            steps.append((kind, (sheet, draw(st.integers(min_value=1, max_value=rows)))))
        else:
            steps.append((kind, sheet))
    return base, steps


def apply(raw: RawWorkbook, steps: list[tuple[str, Any]]) -> RawWorkbook:
    mutated = copy.deepcopy(raw)
    for kind, arg in steps:
        if kind == "drop_sheet":
            mutated.sheets.pop(arg, None)
            continue
        sheet = mutated.sheets.get(arg[0])
        if sheet is None:
            continue
        if kind == "cell":
            _, row, col, value = arg
            while len(sheet.rows) < row:
                sheet.rows.append([])
            cells = sheet.rows[row - 1]
            while len(cells) < col:
                cells.append("")
            cells[col - 1] = value
        elif kind == "drop_row" and arg[1] <= len(sheet.rows):
            sheet.rows[arg[1] - 1] = [""] * len(sheet.rows[arg[1] - 1])
        elif kind == "copy_row" and arg[1] <= len(sheet.rows):
            sheet.rows.insert(arg[1], list(sheet.rows[arg[1] - 1]))
    return mutated


def consistent(report: Report) -> None:
    errors = [f for f in report.findings if f.severity is Severity.ERROR]
    assert (report.pricebook is None) == bool(errors)
    for finding in report.findings:
        assert finding.code and finding.message
        if finding.cell:
            assert finding.sheet and finding.row > 0 and finding.col > 0
    if report.pricebook is not None:
        assert len(report.pricebook.semantic_hash) == 64


@settings(
    max_examples=int(__import__("os").environ.get("CREDITBOOK_PROPERTY_EXAMPLES", "600")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(mutation())
def test_random_edits_compile_or_yield_findings_never_crash(case: tuple[str, list[tuple[str, Any]]]) -> None:
    base, steps = case
    consistent(validate_raw(apply(BASES[base], steps)))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    source=st.sampled_from([US_V1, IN_V2]),
    edits=st.lists(
        st.tuples(
            st.sampled_from(
                ["UsageTiers", "Packages", "LeadPrices", "TopUpPromos", "Meta", "Lists", "Tests", "Overdraft"]
            ),
            st.integers(min_value=1, max_value=12),
            st.integers(min_value=1, max_value=12),
            st.one_of(st.none(), EXCELISH, st.integers(-5, 10**6), st.floats(-10, 1e6, allow_nan=False)),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_random_edits_to_real_files(source: Path, edits: list[tuple[str, int, int, Any]], tmp_path: Path) -> None:
    book = Book(source)
    for sheet, row, col, value in edits:
        if sheet in book.wb.sheetnames:
            book.wb[sheet].cell(row=row, column=col).value = value
    consistent(validate_pricebook(book.save(tmp_path / f"m-{abs(hash(str(edits)))}.xlsx")))


# ------------------------------------------------------------------------------------------------
# Hostile values into real .xlsx files, each validated in a child process under a time and memory
# limit (tests/pricebook/bounded.py). Per class of value: how many were tried, tracebacks, hangs,
# the slowest case and the largest memory growth are written to test-output/hostile_properties/.
# make test runs a few per class; CREDITBOOK_SOAK=1 (make soak) or CREDITBOOK_HOSTILE_EXAMPLES=n
# runs many more.
# ------------------------------------------------------------------------------------------------

HOSTILE_EXAMPLES = int(
    os.environ.get("CREDITBOOK_HOSTILE_EXAMPLES", "150" if os.environ.get("CREDITBOOK_SOAK") else "5")
)
CASE_SECONDS, CASE_MEGABYTES = 30.0, 1536  # the child is killed past these
SLOW_SECONDS, LARGE_MEGABYTES = 10.0, 600.0  # and a case that needs more than these fails
STATS_DIR = ROOT / "test-output" / "hostile_properties"
HOSTILE = settings(
    max_examples=HOSTILE_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)

NUMBER_CELLS = {
    US_V1: [
        ("UsageTiers", "SMS-2", "unit_price_credits"),
        ("UsageTiers", "SMS-1", "up_to"),
        ("UsageTiers", "SMS-1", "stated_tier_credits"),
        ("UsageTiers", "SMS-1", "flat_fee_credits"),
        ("Packages", "PK-SOLO-SMS", "included_units"),
        ("Packages", "PK-SOLO-SMS", "period_days"),
        ("Bundles", "BN-SMS-VOICE", "discount_pct"),
        ("TopUpPromos", "US-BONUS-200", "bonus_credits"),
        ("TopUpPromos", "US-BONUS-200", "bonus_expiry_days"),
        ("Overdraft", "OD-PREFERRED", "max_negative_credits"),
        ("Disputes", "DS-DUP", "window_days"),
        ("Alerts", "AL-RUNWAY", "threshold"),
        ("Products", "PR-VOICE", "billing_increment_s"),
        ("Products", "PR-SMS", "term_days"),
        ("Tests", "T-SMS-01", "quantity"),
        ("Tests", "T-SMS-01", "expected_credits"),
        ("Meta", "version", "value"),
        ("Meta", "topup_min_credits", "value"),
        ("Meta", "topup_validity_days", "value"),
        ("Meta", "money_per_credit", "value"),
        ("Meta", "sms_max_body_chars", "value"),
    ],
    IN_V2: [
        ("LeadPrices", "LP-01", "pkg_price_to"),
        ("LeadPrices", "LP-01", "lead_price_credits"),
        ("TopUpPromos", "IN-BONUS20", "bonus_pct"),
        ("TopUpPromos", "IN-BONUS20", "bonus_cap_credits"),
        ("TopUpPromos", "IN-BONUS20", "perk_days"),
        ("Tests", "T-LEAD-01", "package_price"),
    ],
}
DATE_CELLS = {
    US_V1: [
        ("Meta", "effective_from", "value"),
        ("Meta", "existing_customers_effective_from", "value"),
        ("TopUpPromos", "US-BONUS-200", "valid_from"),
        ("TopUpPromos", "US-BONUS-200", "valid_to"),
    ],
    IN_V2: [
        ("Meta", "effective_from", "value"),
        ("TopUpPromos", "IN-EXTRA2K", "valid_from"),
        ("TopUpPromos", "IN-EXTRA2K", "valid_to"),
    ],
}
TEXT_CELLS = {
    US_V1: [
        ("UsageTiers", "SMS-2", "rule_id"),
        ("UsageTiers", "SMS-2", "product"),
        ("UsageTiers", "SMS-2", "number_type"),
        ("Packages", "PK-SOLO-SMS", "package_code"),
        ("TopUpPromos", "US-BONUS-200", "promo_code"),
        ("Bundles", "BN-SMS-VOICE", "components"),
        ("Meta", "title", "value"),
        ("Meta", "pricebook_id", "value"),
        ("Meta", "currency", "value"),
        ("Meta", "timezone", "value"),
        ("UsageTiers", "SMS-2", "notes"),
        ("Tests", "T-SMS-02", "message_text"),
        ("Tests", "T-SMS-01", "case_id"),
    ],
    IN_V2: [
        ("LeadPrices", "LP-03", "city"),
        ("LeadPrices", "LP-03", "specialty"),
        ("Meta", "timezone", "value"),
    ],
}

NUMBER_TEXTS = st.one_of(
    st.sampled_from(["NaN", "nan", "inf", "-inf", "Infinity", "1e308", "-1e308", "1e-300", "1e400", "-0", "0"]),
    st.floats().map(repr),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.integers(min_value=1, max_value=6_000).map(lambda n: "9" * n),
    st.integers(min_value=1, max_value=6_000).map(lambda n: "9" * n + "x"),
    st.integers(min_value=1, max_value=60).map(lambda n: "83." + "0" * n + "1"),
    st.integers(min_value=1, max_value=3_000).map(lambda n: "1" + " " * n + "K credits"),
)
DATE_TEXTS = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59)).map(
        lambda d: d.isoformat(" ", "minutes")
    ),
    st.tuples(
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
        st.integers(min_value=-23, max_value=23),
    ).map(lambda d: d[0].isoformat("T", "minutes") + f"{d[1]:+03d}:00"),
    st.sampled_from(["0001-01-01", "9999-12-31", "9999-12-31 23:59", "1969-12-31 23:00", "2200-01-01", "2026-02-30"]),
)
ZONES = sorted(available_timezones())
ZONE_TEXTS = st.one_of(
    st.sampled_from(ZONES),
    st.sampled_from(["America", "Europe", "Etc", "posix", "right", "../../etc/passwd", "America/", "/etc/localtime"]),
    st.text(max_size=80),
    st.integers(min_value=60, max_value=6_000).map(lambda n: "A/" * n),
)
CONFUSABLE = "МАВЕКНОРСТХаеорсхΑΒΕΗΙΚΜΝΟΡΤΥΧοＭＳ"
HOSTILE_CHARACTERS = st.characters(
    codec="utf-8", categories=("Lu", "Ll", "Nd", "Zs", "Po", "Pd", "Cc", "Cf", "Mn", "So")
) | st.sampled_from(list(CONFUSABLE + "\u202e\u202d\u2066\u2069\u200b\u200d\u00ad\ufeff\x00\x01\x1f\u00a0"))
TEXTS = st.one_of(
    st.text(HOSTILE_CHARACTERS, max_size=80),
    st.text(HOSTILE_CHARACTERS, min_size=1, max_size=10).map(lambda t: "SMS-" + t),
    st.integers(min_value=60, max_value=40_000).map(lambda n: "S" * n),
    st.sampled_from(["SМS-2", "SMS-\u202e2", "Мumbai", "UЅD", "usd", "XYZ", "SMS 2", "-X", "=A1", "a,b,c", "not("]),
)


@st.composite
def cell_edit(draw: st.DrawFn, cells: dict[Path, list[tuple[str, str, str]]], values: st.SearchStrategy[str]) -> tuple:
    source = draw(st.sampled_from(sorted(cells)))
    where = draw(st.sampled_from(cells[source]))
    return source, where, draw(values), draw(st.sampled_from(["number", "text"]))


def _apply_cell(edit: tuple) -> Surgery:
    source, (sheet, rule_id, column), value, mode = edit
    surgery = Surgery(source)
    if mode == "number":
        surgery.set_number(sheet, rule_id, column, escape(value))
    else:
        surgery.set_text(sheet, rule_id, column, value)
    return surgery


def _table_claim(rows: str) -> Callable[[Surgery], object]:
    return lambda s: s.table("UsageTiers", lambda d: d.replace(b'ref="A1:J13"', f'ref="A1:J{rows}"'.encode(), 1))


def _truncate(sheet: str, table: bool, fraction: float) -> Callable[[Surgery], object]:
    def cut(data: bytes) -> bytes:
        return data[: int(len(data) * fraction)]

    return lambda s: s.table(sheet, cut) if table else s.sheet(sheet, cut)


def _append_xml(sheet: str, xml: bytes) -> Callable[[Surgery], object]:
    return lambda s: s.sheet(sheet, lambda d: d.replace(b"</sheetData>", xml + b"</sheetData>"))


def _far(row: int, column: str) -> Callable[[Surgery], object]:
    return _append_xml("UsageTiers", f'<row r="{row}"><c r="{column}{row}"><v>1</v></c></row>'.encode())


def _merge(ref: str) -> Callable[[Surgery], object]:
    return lambda s: s.sheet(
        "UsageTiers",
        lambda d: d.replace(
            b"</sheetData>", f'</sheetData><mergeCells count="1"><mergeCell ref="{ref}"/></mergeCells>'.encode()
        ),
    )


def _comment(tags: int) -> Callable[[Surgery], object]:
    noise = b"<!--" + b"".join(b'<c r="A%d" <row ' % i for i in range(tags)) + b"-->"
    return lambda s: s.sheet(
        "UsageTiers",
        lambda d: d.replace(b"<sheetData>", noise + b"<f>1</f><sheetData>").replace(b"<row ", b'<row hidden="1" ', 1),
    )


def _rename_in_workbook(old: str, new: str) -> Callable[[Surgery], object]:
    return lambda s: s.replace("xl/workbook.xml", f'name="{old}"'.encode(), f'name="{escape(new)}"'.encode())


def _drop_part(sheet: str) -> Callable[[Surgery], object]:
    return lambda s: s.parts.pop(s.part(sheet))


LETTERS = st.text(st.sampled_from("ABCXYZ"), min_size=1, max_size=6)
STRUCTURE = st.one_of(
    st.integers(min_value=0, max_value=30).map(lambda k: _table_claim(str(10**k))),
    st.text(max_size=30).map(lambda t: _table_claim(escape(t))),
    st.builds(
        _truncate,
        st.sampled_from(["UsageTiers", "Meta", "Packages"]),
        st.booleans(),
        st.floats(min_value=0, max_value=0.999),
    ),
    st.builds(_far, st.integers(min_value=1, max_value=10**12), LETTERS),
    st.integers(min_value=0, max_value=20_000).map(
        lambda n: _append_xml("UsageTiers", b'<row r="1048576">' + b"<c><v>1</v></c>" * n + b"</row>")
    ),
    st.builds(
        lambda a, b: _merge(f"{a}:{b}"),
        st.builds(lambda c, r: f"{c}{r}", LETTERS, st.integers(min_value=1, max_value=10**7)),
        st.builds(lambda c, r: f"{c}{r}", LETTERS, st.integers(min_value=1, max_value=10**7)),
    ),
    st.integers(min_value=0, max_value=40_000).map(_comment),
    st.sampled_from(["Meta", "Lists", "Products", "UsageTiers", "Tests"]).map(_drop_part),
    st.builds(
        _rename_in_workbook,
        st.sampled_from(["Meta", "Lists", "Overdraft", "UsageTiers"]),
        st.one_of(st.sampled_from(["Alerts", "META", "Lists ", ""]), st.text(max_size=40)),
    ),
)

STATS: dict[str, dict[str, float]] = {}


def _answer(path: Path) -> tuple[int, list[str]]:
    """What the child does with a file: every read-only entry point, checked for consistency."""
    from engine.pricebook.dump import dump_lines

    report = validate_pricebook(path)
    consistent(report)
    assert report.exit_code in (0, 1, 2) and (report.exit_code == 2) == report.unreadable
    if report.pricebook is not None:
        assert load_compiled_json(report.pricebook.canonical_json()) == report.pricebook
    assert dump_lines(path)
    return report.exit_code, sorted(set(report.codes()))


def _check_bounded(kind: str, surgery: Surgery, tmp_path: Path) -> None:
    path = surgery.save(tmp_path / f"{kind}-{uuid.uuid4().hex[:8]}.xlsx")
    try:
        outcome = run_bounded(_answer, path, seconds=CASE_SECONDS, megabytes=CASE_MEGABYTES)
    finally:
        path.unlink(missing_ok=True)
    stats = STATS.setdefault(
        kind, {"tried": 0, "tracebacks": 0, "hangs": 0, "died": 0, "slowest_seconds": 0.0, "largest_megabytes": 0.0}
    )
    stats["tried"] += 1
    stats["tracebacks"] += outcome.status == "raised"
    stats["hangs"] += outcome.status == "hung"
    stats["died"] += outcome.status == "died"
    stats["slowest_seconds"] = round(max(stats["slowest_seconds"], outcome.seconds), 3)
    stats["largest_megabytes"] = round(max(stats["largest_megabytes"], outcome.megabytes), 1)
    STATS_DIR.mkdir(parents=True, exist_ok=True)
    (STATS_DIR / f"{kind}.json").write_text(json.dumps(stats, indent=2) + "\n")
    assert outcome.status == "ok", f"{outcome.status}: {outcome.error}"
    assert outcome.seconds < SLOW_SECONDS, f"took {outcome.seconds:.1f} s"
    assert outcome.megabytes < LARGE_MEGABYTES, f"grew by {outcome.megabytes:.0f} MB"


@HOSTILE
@given(edit=cell_edit(NUMBER_CELLS, NUMBER_TEXTS))
def test_hostile_numbers_in_real_files_give_findings(edit: tuple, tmp_path: Path) -> None:
    _check_bounded("numbers", _apply_cell(edit), tmp_path)


@HOSTILE
@given(edit=cell_edit(DATE_CELLS, DATE_TEXTS), zone=st.one_of(st.none(), ZONE_TEXTS))
def test_hostile_dates_and_time_zones_in_real_files_give_findings(
    edit: tuple, zone: str | None, tmp_path: Path
) -> None:
    surgery = _apply_cell(edit)
    if zone is not None:
        surgery.meta_text("timezone", zone)
    _check_bounded("dates", surgery, tmp_path)


@HOSTILE
@given(edit=cell_edit(TEXT_CELLS, TEXTS))
def test_hostile_text_in_real_files_gives_findings(edit: tuple, tmp_path: Path) -> None:
    _check_bounded("text", _apply_cell((*edit[:3], "text")), tmp_path)


@HOSTILE
@given(changes=st.lists(STRUCTURE, min_size=1, max_size=3))
def test_hostile_structure_in_real_files_gives_findings(
    changes: list[Callable[[Surgery], object]], tmp_path: Path
) -> None:
    surgery = Surgery(US_V1)
    for change in changes:
        try:
            change(surgery)
        except (AssertionError, KeyError):  # an earlier change removed what this one edits
            continue
    _check_bounded("structure", surgery, tmp_path)


# ------------------------------------------------------------------------------------------------
# Every date the validator accepts survives canonical_json() and load_compiled_json().
# ------------------------------------------------------------------------------------------------

INDIA_RAW = BASES[IN_V2.name]


def _meta_row(raw: RawWorkbook, key: str) -> int:
    return next(i for i, cells in enumerate(raw.sheets["Meta"].rows) if cells and cells[0] == key)


@settings(max_examples=int(os.environ.get("CREDITBOOK_PROPERTY_EXAMPLES", "600")) // 6, deadline=None)
@given(
    when=st.one_of(
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
        st.datetimes(min_value=datetime(1969, 12, 30), max_value=datetime(1970, 1, 2)),
        st.datetimes(min_value=datetime(2199, 12, 30), max_value=datetime(2200, 1, 2)),
    ),
    zone=st.sampled_from(ZONES),
    as_text=st.booleans(),
)
def test_every_accepted_date_survives_canonical_json(when: datetime, zone: str, as_text: bool) -> None:
    raw = copy.deepcopy(INDIA_RAW)
    meta = raw.sheets["Meta"].rows
    meta[_meta_row(raw, "effective_from")][1] = when.isoformat(" ") if as_text else when
    meta[_meta_row(raw, "timezone")][1] = zone
    report = validate_raw(raw)
    if report.pricebook is None:
        assert any(f.code in ("C11", "D02", "D01") for f in report.errors), [f.message for f in report.errors]
        return
    again = load_compiled_json(report.pricebook.canonical_json())
    assert again == report.pricebook
    assert again.meta.effective_from == report.pricebook.meta.effective_from
