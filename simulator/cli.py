"""`creditbook simulate`: run a scenario from the command line, optionally against a second
pricebook, and export the results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()
err = Console(stderr=True)


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
    """
    import yaml

    from simulator import Scenario, in_default, load_pricebooks, simulate, us_default
    from simulator import compare as run_compare
    from simulator.export import write
    from simulator.scenario import PLAN_LABELS

    if example is not None:
        scenario = {"us": us_default, "in": in_default}[example.lower()]()
        print(yaml.safe_dump(scenario.dump(), sort_keys=False, allow_unicode=True), end="")
        return
    if scenario_file is None:
        err.print("Give a scenario file (creditbook simulate --example us > us.yaml writes one).")
        raise typer.Exit(2)
    try:
        scenario = Scenario.load(scenario_file)
    except (ValueError, OSError) as exc:
        err.print(f"[red]Cannot read {scenario_file}:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from exc
    changes = {k: v for k, v in {"clinics": clinics, "seed": seed}.items() if v is not None}
    if changes:
        scenario = Scenario.model_validate({**scenario.dump(), **changes})
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=err) as progress:
        task = progress.add_task("loading pricebooks", total=1.0)

        def tick(step: str, done: float) -> None:
            progress.update(task, description=step, completed=done)

        pricebooks = load_pricebooks(scenario.pricebook_paths())
        comparison = None
        if compare:
            tick("simulating A and B on the same draws", 0.2)
            comparison = run_compare(scenario, pricebooks, load_pricebooks(compare))
            results = comparison.a
        else:
            results = simulate(scenario, pricebooks, progress=tick)
        tick("done", 1.0)
    summary = results.summary()
    currency = results.currency
    table = Table(
        title=f"{scenario.name}: {scenario.clinics:,} clinics × {scenario.months} months", title_justify="left"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("plan rule", PLAN_LABELS[scenario.plan])
    for key in ("billed", "cash_collected", "outstanding", "breakage", "bonus_granted", "upstream_cost"):
        table.add_row(key.replace("_", " "), f"{currency} {summary[key]:,.2f}")
    table.add_row("gross margin", f"{summary['gross_margin']:.1%}")
    table.add_row("monthly cost per clinic (median)", f"{currency} {summary['monthly_cost_per_clinic_p50']:,.2f}")
    table.add_row("seconds", f"{results.seconds:.2f}")
    console.print(table)
    console.print(results.cheapest_by_group().to_string(index=False, float_format=lambda v: f"{v:.0%}"))
    if comparison is not None:
        figures = comparison.summary()
        console.print(
            f"B against A: revenue {figures['revenue_change']:+,.2f} {currency} "
            f"({figures['revenue_change_pct']:+.1%}); "
            f"median clinic {figures['change_p50']:+,.2f}, p95 {figures['change_p95']:+,.2f}; "
            f"{int(figures['losers']):,} pay more, {int(figures['winners']):,} pay less"
        )
    for note in results.notes:
        console.print(f"note: {note}")
    if out is not None:
        write(results, out, comparison)
        err.print(f"Results written to {out}")


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_cmd)


__all__ = ["register"]
