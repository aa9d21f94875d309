"""`creditbook db|ledger|demo`: the ledger from the command line. Every command calls engine.billing;
every amount is shown in credits and money."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from engine.money import format_credits

if TYPE_CHECKING:
    from engine.billing import Billing

console = Console()
err = Console(stderr=True)

db_app = typer.Typer(help="Create or upgrade the ledger database.", no_args_is_help=True)
ledger_app = typer.Typer(help="Read and maintain the credit ledger.", no_args_is_help=True)
demo_app = typer.Typer(help="A demo ledger with a few months of history.", no_args_is_help=True)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        "-d",
        help="A SQLAlchemy URL or a SQLite file path (default: $CREDITBOOK_DATABASE_URL, else creditbook.db).",
    ),
]
AtOption = Annotated[str | None, typer.Option("--at", help="When (ISO date-time, UTC if no zone; default: now).")]


def _url(database: str | None) -> str | None:
    """A SQLite file path becomes its URL; None leaves the choice to Billing ($CREDITBOOK_DATABASE_URL,
    else creditbook.db)."""
    if database and "://" not in database:
        return f"sqlite:///{Path(database).expanduser().resolve()}"
    return database


def _billing(database: str | None) -> Billing:
    from engine.billing import Billing  # loaded here: every other command starts faster

    return Billing(_url(database))  # migrates the schema to the latest revision


def _when(at: str | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    when = datetime.fromisoformat(at)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@contextlib.contextmanager
def refused() -> Iterator[None]:
    """A billing refusal (unknown clinic, rejected pricebook...) printed as one line, exit code 1."""
    from engine.billing import BillingError

    try:
        yield
    except BillingError as exc:
        err.print(f"[red]{type(exc).__name__}:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from exc


@db_app.command("upgrade")
def upgrade_cmd(database: DatabaseOption = None) -> None:
    """Create the ledger's tables, or bring them to the latest migration (safe to run again)."""
    url = _billing(database).db.engine.url
    console.print(f"Ledger schema is up to date in {url.render_as_string(hide_password=True)}")


@ledger_app.command("publish")
def publish_cmd(
    file: Annotated[Path, typer.Argument(help="A validated pricebook workbook.")],
    actor: Annotated[str, typer.Option(help="Who publishes (kept with the version).")] = os.environ.get(
        "USER", "pricing"
    ),
    database: DatabaseOption = None,
    at: AtOption = None,
) -> None:
    """Publish a workbook as a new immutable pricebook version.

    Refused when it has errors, prices exactly like a published version, or its effective_from is
    not after the previous version's. Example: creditbook ledger publish pricebooks/in/in-clinic-leads-v2.xlsx
    """
    import hashlib

    key = "publish:" + hashlib.sha256(file.read_bytes()).hexdigest()[:32]
    with refused():
        result = _billing(database).publish_pricebook(file, actor=actor, key=key, at=_when(at))
    note = " (already published: nothing changed)" if result.replayed else ""
    console.print(
        f"Published {result.pricebook_id} v{result.version} ({result.semantic_hash[:12]}), "
        f"in force from {result.effective_from:%Y-%m-%d %H:%M} UTC{note}"
    )


@ledger_app.command("balance")
def balance_cmd(
    clinic: Annotated[str, typer.Argument(help="The clinic id.")],
    database: DatabaseOption = None,
    at: AtOption = None,
    output: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """The clinic dashboard header: balance, used this month, refunds, expiring credits, alerts."""
    with refused():
        view = _billing(database).balance(clinic, at=_when(at))
    if output == "json":
        print(view.model_dump_json(indent=2))
        return

    def shown(credits: int) -> str:
        return format_credits(credits, view.money_per_credit, view.currency)

    table = Table(title=f"{clinic} — {view.month_starts:%B %Y}", show_header=False, title_justify="left")
    table.add_row("Balance", shown(view.balance))
    if view.overdraft_limit:
        table.add_row("May overdraw to", shown(-view.overdraft_limit))
    table.add_row("Used this month", shown(view.used_this_month))
    table.add_row("Refunds granted this month", shown(view.refunds_granted_this_month))
    table.add_row(f"Expiring within {view.expiring_within_days} days", shown(view.expiring_soon))
    if view.leads_this_month:
        table.add_row("Leads this month", f"{view.leads_this_month:,} ({shown(view.lead_credits_this_month)})")
    if view.sms_segments_this_month or view.voice_minutes_this_month:
        table.add_row("SMS segments this month", f"{view.sms_segments_this_month:,}")
        table.add_row("Voice minutes this month", f"{view.voice_minutes_this_month:,}")
    if view.remaining is not None and view.remaining.sms_segments is not None:
        table.add_row(
            "Balance still buys",
            f"{view.remaining.sms_segments:,} SMS segments or {view.remaining.voice_minutes or 0:,} voice minutes",
        )
    console.print(table)
    for alert in view.alerts:
        console.print(f"[yellow]alert:[/yellow] {alert}", highlight=False)


@ledger_app.command("history")
def history_cmd(
    clinic: Annotated[str, typer.Argument(help="The clinic id.")],
    kind: Annotated[
        list[str] | None, typer.Option(help="topup, bonus, charge, refund, adjustment, expiry, referral (repeat).")
    ] = None,
    status: Annotated[str | None, typer.Option(help="posted, declined or failed.")] = None,
    page: Annotated[int, typer.Option(help="Page number, newest first.")] = 1,
    page_size: Annotated[int, typer.Option(help="Rows per page.")] = 25,
    database: DatabaseOption = None,
    output: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """The clinic's transactions, newest first, with the rule and version that priced each."""
    billing = _billing(database)
    with refused():
        result = billing.transactions(clinic, kinds=kind, status=status, page=page, page_size=page_size)
        view = billing.balance(clinic)
    if output == "json":
        print(result.model_dump_json(indent=2))
        return
    table = Table(title=f"{clinic}: {result.total:,} transactions (page {page})", title_justify="left")
    for column in ("id", "when (UTC)", "kind", "status", "credits", "money", "what", "rules / reason"):
        table.add_column(column, justify="right" if column in ("id", "credits", "money") else "left")
    for row in result.rows:
        money = format_credits(row.signed_credits or row.credits, view.money_per_credit, view.currency)
        what = f"{row.product or ''} {row.units or ''}".strip() if row.product else (row.note or "")
        extra = row.reason or ", ".join(row.rule_ids)
        if row.dispute_status:
            extra += f" [dispute {row.dispute_status}]"
        table.add_row(
            str(row.id),
            f"{row.at:%Y-%m-%d %H:%M}",
            row.kind,
            row.status,
            f"{row.signed_credits:+,}" if row.status == "posted" else f"({row.credits:,})",
            money.split("(")[-1].rstrip(")"),
            what,
            extra,
        )
    console.print(table)


@ledger_app.command("reconcile")
def reconcile_cmd(database: DatabaseOption = None) -> None:
    """Recompute every ledger invariant; exit 1 and name each wallet, lot or transaction that drifted."""
    report = _billing(database).reconcile()
    if report.ok:
        console.print(
            f"[green]OK[/green]: {report.accounts:,} accounts, {report.lots:,} lots and "
            f"{report.transactions:,} transactions agree with their entries and allocations."
        )
        return
    for drift in report.drifts:
        err.print(f"[red]drift[/red] {drift}", highlight=False)
    err.print(f"{len(report.drifts)} drift(s) found.")
    raise typer.Exit(1)


@ledger_app.command("expire")
def expire_cmd(database: DatabaseOption = None, at: AtOption = None) -> None:
    """Expire every lot whose time is up (safe to run twice, and while charges run)."""
    result = _billing(database).expire_lots(_when(at))
    console.print(f"Expired {result.lots:,} lots ({result.credits:,} credits) in {result.wallets:,} wallets.")


@ledger_app.command("clinics")
def clinics_cmd(database: DatabaseOption = None) -> None:
    """List the clinics with their market, segment and balance."""
    billing = _billing(database)
    table = Table(title="Clinics", title_justify="left")
    for column in ("clinic", "name", "market", "segment", "size", "balance"):
        table.add_column(column, justify="right" if column == "balance" else "left")
    for clinic in billing.clinics():
        view = billing.balance(clinic.id)
        shown = format_credits(view.balance, view.money_per_credit, view.currency)
        table.add_row(clinic.id, clinic.name, clinic.market, clinic.segment, clinic.clinic_size or "", shown)
    console.print(table)


@demo_app.command("seed")
def seed_cmd(
    database: DatabaseOption = None,
    months: Annotated[int, typer.Option(help="Months of history up to --until.")] = 3,
    us_clinics: Annotated[int, typer.Option(help="US audiology clinics.")] = 24,
    in_clinics: Annotated[int, typer.Option(help="Indian lead clinics.")] = 16,
    seed: Annotated[int, typer.Option(help="Random seed (the same seed makes the same history).")] = 7,
    until: Annotated[str | None, typer.Option(help="Last day of history (ISO; default: now).")] = None,
    output: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Create a demo ledger: clinics of every size in both markets with months of history, priced
    by the shipped pricebooks. Running it again with the same options changes nothing.

    Example: creditbook demo seed -d demo.db --months 3
    """
    from engine.billing.demo import seed_demo

    billing = _billing(database)
    with Progress(
        TextColumn("seeding the demo ledger"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=output == "json",
    ) as progress:
        task = progress.add_task("seed", total=None)

        def report(done: int, total: int) -> None:
            if done % 50 == 0 or done == total:
                progress.update(task, completed=done, total=total)

        summary = seed_demo(
            billing,
            _when(until),
            months=months,
            us_clinics=us_clinics,
            in_clinics=in_clinics,
            seed=seed,
            progress=report,
        )
    reconciliation = billing.reconcile()
    if output == "json":
        print(
            json.dumps(
                {
                    "clinics": summary.clinics,
                    "operations": summary.operations,
                    "declined": summary.declined,
                    "reconciled": reconciliation.ok,
                },
                indent=2,
            )
        )
    else:
        console.print(
            f"Demo ledger ready: {sum(summary.clinics.values())} clinics "
            f"({', '.join(f'{n} {m}' for m, n in sorted(summary.clinics.items()))}), "
            f"{summary.operations:,} operations from {summary.start:%Y-%m-%d} to {summary.until:%Y-%m-%d}, "
            f"{summary.declined} declined. Reconcile: {'OK' if reconciliation.ok else 'DRIFT'}"
        )
    if not reconciliation.ok:
        raise typer.Exit(1)
