"""`creditbook simulate`: run a scenario from the command line, optionally against a second
pricebook, and export the results.

Every argument is checked before the simulation starts, and every refusal is one line on stderr
with a non-zero exit (2: a bad argument or file; 70: an internal error, asking for a report): a
folder or unwritable `--out`, an unknown `--example`, a missing `--compare` file, a FIFO or a device
given as a scenario or a pricebook, a scenario over the memory budget. Nothing blocks reading a
FIFO and nothing prints a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from simulator.montecarlo import Comparison, Results
    from simulator.scenario import Scenario

console = Console()
err = Console(stderr=True, highlight=False, soft_wrap=True)
EXAMPLES = ("us", "in")
OUTPUTS = (".xlsx", ".csv")
BAD_ARGUMENT, INTERNAL_ERROR = 2, 70


def _refuse(message: str, code: int = BAD_ARGUMENT) -> NoReturn:
    """One line on stderr, then exit."""
    line = " ".join(message.split())
    err.print(f"creditbook simulate: {line[:600]}", markup=False)
    raise typer.Exit(code)


def check_output(path: Path) -> None:
    """Refuse, before any work, an output path the results could not be written to."""
    if path.suffix.lower() not in OUTPUTS:
        _refuse(f"--out {path} must end in .xlsx or .csv")
    if path.is_dir():
        _refuse(f"--out {path} is a folder; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        _refuse(f"--out {path}: the folder {parent} does not exist")
    if path.exists() and not path.is_file():
        _refuse(f"--out {path} is not a regular file")
    if path.exists() and not os.access(path, os.W_OK):
        _refuse(f"--out {path} cannot be written (permission denied)")
    probe = path.with_name(f".{path.name}.partial")  # where the export is written before it replaces `path`
    try:
        probe.open("xb").close()
        probe.unlink()
    except OSError as exc:
        _refuse(f"--out {path} cannot be written: {exc.strerror or exc}")


def simulate_cmd(
    scenario_file: Annotated[
        Path | None, typer.Argument(help="A scenario (.yaml or .json); see --example.", show_default=False)
    ] = None,
    compare: Annotated[
        list[Path] | None,
        typer.Option("--compare", help="Pricebook B (workbook; repeat for several versions), on the same draws."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write results to .xlsx (with assumptions) or .csv.")
    ] = None,
    clinics: Annotated[int | None, typer.Option(help="Override the scenario's number of clinics.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.")] = None,
    example: Annotated[
        str | None, typer.Option("--example", help="Print an example scenario for a market (us or in) and exit.")
    ] = None,
) -> None:
    """Simulate clinics' monthly bills under a scenario's assumptions.

    Examples:
      creditbook simulate --example us > us.yaml
      creditbook simulate us.yaml --out results.xlsx
      creditbook simulate us.yaml --compare draft-v2.xlsx --clinics 50000

    The memory budget is CREDITBOOK_SIM_MEMORY_MB (default 1536): a larger scenario is refused
    with the fields to reduce.
    """
    try:
        _simulate(scenario_file, compare, out, clinics, seed, example)
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        _refuse("interrupted", 130)
    except Exception as exc:  # the last line of defence: one line, never a traceback
        _refuse(f"internal error ({type(exc).__name__}: {exc}); please report it", INTERNAL_ERROR)


def _simulate(
    scenario_file: Path | None,
    compare: list[Path] | None,
    out: Path | None,
    clinics: int | None,
    seed: int | None,
    example: str | None,
) -> None:
    import yaml

    from simulator import in_default, us_default
    from simulator.scenario import Scenario, ScenarioError

    if example is not None:
        if example.lower() not in EXAMPLES:
            _refuse(f"--example takes us or in, not {example[:40]!r}")
        scenario = {"us": us_default, "in": in_default}[example.lower()]()
        print(yaml.safe_dump(scenario.dump(), sort_keys=False, allow_unicode=True), end="")
        return
    if scenario_file is None:
        _refuse("give a scenario file (creditbook simulate --example us > us.yaml writes one)")
    if out is not None:
        check_output(out)
    try:
        scenario = Scenario.load(scenario_file)
        changes = {k: v for k, v in {"clinics": clinics, "seed": seed}.items() if v is not None}
        if changes:
            scenario = Scenario.validated({**scenario.dump(), **changes})
        results, comparison = _run(scenario, compare)
    except ScenarioError as exc:
        _refuse(str(exc))
    _report(scenario, results, comparison)
    if out is not None:
        from simulator.export import write

        try:
            write(results, out, comparison)
        except OSError as exc:
            _refuse(f"cannot write {out}: {exc.strerror or exc}")
        err.print(f"Results written to {out}", markup=False)


def _run(scenario: Scenario, compare: list[Path] | None) -> tuple[Results, Comparison | None]:
    from simulator import compare as run_compare
    from simulator import load_pricebooks, simulate
    from simulator.montecarlo import MAX_PRICEBOOK_BYTES
    from simulator.scenario import read_file

    for path in [*scenario.pricebook_paths(), *(compare or [])]:  # every file checked before any is compiled
        read_file(path, MAX_PRICEBOOK_BYTES, "pricebook")
    pricebooks = load_pricebooks(scenario.pricebook_paths())
    others = load_pricebooks(compare) if compare else None
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("simulating", total=1.0)

        def tick(step: str, done: float) -> None:
            bar.update(task, description=step, completed=done)

        if others is not None:
            comparison = run_compare(scenario, pricebooks, others, tick)
            return comparison.a, comparison
        return simulate(scenario, pricebooks, tick), None


def _report(scenario: Scenario, results: Results, comparison: Comparison | None) -> None:
    from decimal import Decimal

    from rich.markup import escape

    from engine.money import format_money
    from simulator.scenario import PLAN_LABELS

    book = results.pricebooks[-1]
    credits = results.credits()
    summary = results.summary()
    table = Table(
        title=escape(f"{scenario.name}: {scenario.clinics:,} clinics × {scenario.months} months"), title_justify="left"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("plan rule", PLAN_LABELS[scenario.plan] if scenario.market == "US" else "Pay-as-you-go (leads)")
    for key in ("billed", "cash_collected", "outstanding", "breakage", "bonus_granted"):
        table.add_row(key.replace("_", " "), book.format_credits(credits[key]))
    rate = book.meta.money_per_credit
    table.add_row("upstream cost", format_money(results.upstream_total().quantize(Decimal("0.01")), results.currency))
    table.add_row("gross margin", f"{summary['gross_margin']:.1%}")
    median = round(Decimal(str(summary["monthly_cost_per_clinic_p50"])) / rate)
    table.add_row("monthly cost per clinic (median)", book.format_credits(median))
    table.add_row("seconds", f"{results.seconds:.2f}")
    console.print(table)
    if scenario.market == "US":
        cheapest = results.cheapest_by_group().to_string(index=False, float_format=lambda v: f"{v:.0%}")
        console.print(cheapest, markup=False)
    if comparison is not None:
        figures = comparison.summary()

        def money(value: float) -> str:
            return format_money(Decimal(str(round(value, 2))), results.currency)

        console.print(
            f"B against A: revenue {'+' if figures['revenue_change'] >= 0 else ''}{money(figures['revenue_change'])} "
            f"({figures['revenue_change_pct']:+.1%}); "
            f"median clinic {money(figures['change_p50'])}, p95 {money(figures['change_p95'])}; "
            f"{int(figures['losers']):,} pay more, {int(figures['winners']):,} pay less",
            markup=False,
        )
    # an input with no effect under A may move B: only what neither side reacts to is inert
    moving = {item.sentence() for item in results.inert} - (
        {item.sentence() for item in results.inert if item.field in {i.field for i in comparison.b.inert}}
        if comparison is not None
        else {item.sentence() for item in results.inert}
    )
    for note in results.notes:
        if note not in moving:
            console.print(f"note: {note}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_cmd)


__all__ = ["check_output", "register"]
