"""The `creditbook` command line. It holds no business logic: every command calls the engine."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from engine.ledger_cli import db_app, demo_app, ledger_app
from engine.loader import validate_pricebook
from engine.pricebook.validate import Report

app = typer.Typer(
    help="creditbook: pricing rules and a credit ledger for clinics that pay with prepaid credits.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
pricebook_app = typer.Typer(help="Validate, compile, compare and write pricebook workbooks.", no_args_is_help=True)
app.add_typer(pricebook_app, name="pricebook")
app.add_typer(db_app, name="db")
app.add_typer(ledger_app, name="ledger")
app.add_typer(demo_app, name="demo")


def _register_simulator() -> None:
    from simulator.cli import register

    register(app)


_register_simulator()

console = Console()
err = Console(stderr=True)
SHIPPED = Path(__file__).resolve().parent.parent / "pricebooks"


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


class Market(StrEnum):
    us = "us"
    IN = "in"


FileArg = Annotated[Path, typer.Argument(help="A pricebook workbook (.xlsx).")]


def _load_or_exit(path: Path) -> Report:
    report = validate_pricebook(path)
    if report.pricebook is None:
        from engine.pricebook.render import report_renderable

        err.print(report_renderable(report))
        raise typer.Exit(report.exit_code)
    return report


@pricebook_app.command("validate")
def validate_cmd(
    file: FileArg,
    previous: Annotated[Path | None, typer.Option("--previous", help="The previous version's workbook.")] = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="text or json.")] = OutputFormat.text,
    annotate: Annotated[Path | None, typer.Option("--annotate", help="Write a copy with findings marked.")] = None,
) -> None:
    """Check a workbook and list every finding by sheet and cell.

    Exit code 0: no errors (warnings allowed). 1: errors. 2: the file cannot be read.

    Example: creditbook pricebook validate pricebooks/us/us-audiology-v1.xlsx --annotate checked.xlsx
    """
    report = validate_pricebook(file, previous=previous)
    if output is OutputFormat.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        from engine.pricebook.render import report_renderable

        console.print(report_renderable(report))
    if annotate is not None:
        if report.unreadable:
            err.print(f"Not annotated: {file} cannot be read safely.")
        else:
            from engine.pricebook.annotate import annotate_workbook

            annotate_workbook(file, report.findings, annotate)
            err.print(f"Annotated copy written to {annotate}")
    raise typer.Exit(report.exit_code)


@pricebook_app.command("compile")
def compile_cmd(
    file: FileArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="Where to write the canonical JSON.")],
) -> None:
    """Compile a workbook to canonical JSON (what the engine prices with) and print its semantic hash."""
    report = _load_or_exit(file)
    assert report.pricebook is not None
    out.write_text(report.pricebook.canonical_json() + "\n", encoding="utf-8")
    console.print(f"{report.pricebook.label} → {out}\nsemantic hash {report.pricebook.semantic_hash}")


@pricebook_app.command("diff")
def diff_cmd(
    old: Annotated[Path, typer.Argument(help="The older workbook.")],
    new: Annotated[Path, typer.Argument(help="The newer workbook (a draft with findings is diffed too).")],
    output: Annotated[OutputFormat, typer.Option("--format", help="text or json.")] = OutputFormat.text,
) -> None:
    """Show what changed between two versions, by sheet and rule_id (cosmetic edits show nothing),
    then the findings of each. Exit code 0: both are valid; 1: one has errors; 2: one cannot be read."""
    from engine.pricebook.diff import diff_pricebooks

    reports = validate_pricebook(old), validate_pricebook(new)
    for report in reports:
        if report.unreadable:
            from engine.pricebook.render import report_renderable

            err.print(report_renderable(report))
            raise typer.Exit(2)
    result = diff_pricebooks(*reports)
    if output is OutputFormat.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        for line in result.lines():
            console.print(line, highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(max(report.exit_code for report in reports))


@pricebook_app.command("dump")
def dump_cmd(file: FileArg) -> None:
    """Print a stable text form of a workbook (also used by `git diff`, see README)."""
    from engine.pricebook.dump import dump_lines

    for line in dump_lines(file):
        print(line)


@pricebook_app.command("template")
def template_cmd(
    out: Annotated[Path, typer.Argument(help="Where to write the empty workbook.")],
    market: Annotated[Market, typer.Option("--market", help="us or in.")] = Market.us,
) -> None:
    """Write an empty, fully formatted pricebook workbook for a market."""
    from engine.pricebook.template import write_workbook

    write_workbook(out, market.value.upper())
    console.print(f"Empty {market.value.upper()} pricebook written to {out}")


@pricebook_app.command("reformat")
def reformat_cmd(
    file: FileArg,
    out: Annotated[Path, typer.Argument(help="Where to write the reformatted workbook.")],
) -> None:
    """Copy a workbook's content into a fresh template (restores dropdowns, formats, comments)."""
    from engine.pricebook.reformat import reformat_workbook
    from engine.pricebook.safety import UnreadableWorkbook

    try:
        reformat_workbook(file, out)
    except UnreadableWorkbook as exc:
        err.print(f"{file} cannot be read: " + "; ".join(f.message for f in exc.findings))
        raise typer.Exit(2) from exc
    console.print(f"Reformatted copy written to {out}")


@pricebook_app.command("summary")
def summary_cmd(
    files: Annotated[list[Path] | None, typer.Argument(help="Workbooks (default: the shipped pricebooks).")] = None,
) -> None:
    """Validate and summarise pricebooks: versions, hashes, tiers, packages, lead prices, promotions."""
    from engine.pricebook.render import summary_renderables

    paths = files or sorted(SHIPPED.glob("*/*.xlsx"))
    worst = 0
    for path in paths:
        report = validate_pricebook(path)
        worst = max(worst, report.exit_code)
        for renderable in summary_renderables(report):
            console.print(renderable)
        console.rule()
    raise typer.Exit(worst)


@app.command("quote")
def quote_cmd(
    pricebooks: Annotated[
        list[Path], typer.Argument(help="Pricebook workbook(s); with several versions the date picks the one in force.")
    ],
    product: Annotated[str, typer.Option(help="sms, voice, lead_chat or lead_call.")],
    units: Annotated[int | None, typer.Option(help="SMS segments or voice minutes, already counted.")] = None,
    body: Annotated[str | None, typer.Option(help="SMS body sent to every recipient.")] = None,
    recipients: Annotated[int | None, typer.Option(help="Recipients of the SMS body or voice campaign.")] = None,
    seconds: Annotated[float | None, typer.Option(help="Expected seconds per call (voice campaign).")] = None,
    call: Annotated[
        list[str] | None, typer.Option(help="A call record: SECONDS or SECONDS:OUTCOME (repeat the option).")
    ] = None,
    number_type: Annotated[str | None, typer.Option(help="Sender type (sms) or caller ID (voice).")] = None,
    smart_encoding: Annotated[bool, typer.Option(help="Replace look-alike characters before counting.")] = False,
    specialty: Annotated[str | None, typer.Option(help="Lead specialty.")] = None,
    city: Annotated[str | None, typer.Option(help="Lead city.")] = None,
    package_price: Annotated[str | None, typer.Option(help="Treatment package price (currency).")] = None,
    quantity: Annotated[int, typer.Option(help="Number of leads.")] = 1,
    plan: Annotated[list[str] | None, typer.Option(help="PAYG or a package code (repeat for several).")] = None,
    bundle: Annotated[bool, typer.Option(help="The clinic holds the SMS + voice bundle.")] = False,
    used: Annotated[int, typer.Option(help="Units of this product already used in the current term.")] = 0,
    balance: Annotated[int | None, typer.Option(help="Balance in credits: show what it still buys.")] = None,
    at: Annotated[str | None, typer.Option(help="When (ISO date-time; default now, UTC).")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Print the trace: rules, tiers, rounding.")] = False,
    output: Annotated[OutputFormat, typer.Option("--format", help="text or json.")] = OutputFormat.text,
) -> None:
    """Price a request: an SMS campaign, a voice campaign or leads.

    Examples:
      creditbook quote pricebooks/us/us-audiology-v1.xlsx --product sms --units 600 --used 400 --explain
      creditbook quote pricebooks/in/*.xlsx --product lead_call --specialty dermatology --city Mumbai
        --package-price 15000 --explain
    """
    from datetime import UTC, datetime

    from engine.pricing.quote import quote
    from engine.pricing.requests import QuoteError

    loaded = [_load_or_exit(path).pricebook for path in pricebooks]
    when = datetime.now(UTC) if at is None else datetime.fromisoformat(at)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    request: dict[str, object] = {"product": product}
    if product in ("lead_chat", "lead_call"):
        request.update(
            specialty=specialty,
            city=city,
            quantity=quantity,
            package_price=None if package_price is None else package_price.replace(",", ""),
        )
    elif units is not None:
        request.update(units=units, number_type=number_type)
    elif product == "sms":
        request.update(body=body, recipients=recipients, smart_encoding=smart_encoding)
        if number_type:
            request["number_type"] = number_type
    elif product == "voice":
        if call:
            records = []
            for item in call:
                duration, _, outcome = item.partition(":")
                records.append({"duration_s": duration, "outcome": outcome or "completed"})
            request["calls"] = records
        else:
            request.update(recipients=recipients, expected_seconds=seconds)
        if number_type:
            request["number_type"] = number_type
    context = {
        "at": when,
        "plan": tuple(plan or ["PAYG"]),
        "bundle": bundle,
        "term_usage": {product: used},
        "balance": balance,
    }
    try:
        result = quote([p for p in loaded if p is not None], request, context)
    except QuoteError as exc:
        err.print(f"[red]Cannot quote:[/red] {exc}")
        raise typer.Exit(1) from exc
    if output is OutputFormat.json:
        print(result.model_dump_json(indent=2))
        return
    if explain:
        console.print(result.explain(), highlight=False, markup=False)
    else:
        console.print(f"{result.summary} → {result.format()}", highlight=False, markup=False)
        for warning in result.warnings:
            console.print(f"  warning: {warning}", highlight=False, markup=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
