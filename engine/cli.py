"""The `creditbook` command line. It holds no business logic: every command calls the engine."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from engine.pricebook.validate import Report, validate_pricebook

app = typer.Typer(
    help="creditbook: pricing rules and a credit ledger for clinics that pay with prepaid credits.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
pricebook_app = typer.Typer(help="Validate, compile, compare and write pricebook workbooks.", no_args_is_help=True)
app.add_typer(pricebook_app, name="pricebook")

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
    new: Annotated[Path, typer.Argument(help="The newer workbook.")],
    output: Annotated[OutputFormat, typer.Option("--format", help="text or json.")] = OutputFormat.text,
) -> None:
    """Show what changed between two versions, by sheet and rule_id (cosmetic edits show nothing)."""
    from engine.pricebook.diff import diff_pricebooks

    old_report, new_report = _load_or_exit(old), _load_or_exit(new)
    assert old_report.pricebook is not None and new_report.pricebook is not None
    result = diff_pricebooks(old_report.pricebook, new_report.pricebook)
    if output is OutputFormat.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        for line in result.lines():
            console.print(line, highlight=False, markup=False)


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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
