"""`creditbook db|ledger|demo`: the ledger from the command line. Every command calls engine.billing;
every amount is shown in credits and money, every date in the clinic's (the pricebook's) time zone.

Only `db upgrade` and `demo seed` create a ledger: the other commands refuse a SQLite file that does
not exist or is not a creditbook ledger, instead of quietly creating an empty one where a path was
mistyped. Loaded by the root group only when one of these commands runs (see engine/cli.py).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote, unquote

import typer

from engine.cli import (
    EXIT_FINDINGS,
    WHEN_HELP,
    CliError,
    Group,
    OutputFormat,
    When,
    console,
    input_file,
    output_file,
    shown,
    when_option,
)

if TYPE_CHECKING:
    from engine.billing import Billing

db_app = typer.Typer(
    cls=Group, help="Create or upgrade the ledger database.", no_args_is_help=True, rich_markup_mode=None
)
ledger_app = typer.Typer(
    cls=Group, help="Read and maintain the credit ledger.", no_args_is_help=True, rich_markup_mode=None
)
demo_app = typer.Typer(
    cls=Group, help="A demo ledger with a few months of history.", no_args_is_help=True, rich_markup_mode=None
)
payments_app = typer.Typer(
    cls=Group, help="Settle payment attempts left in flight.", no_args_is_help=True, rich_markup_mode=None
)
notify_app = typer.Typer(
    cls=Group, help="Deliver notifications: signed webhooks and e-mail.", no_args_is_help=True, rich_markup_mode=None
)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        "-d",
        help="A SQLite file path or a SQLAlchemy URL (default: $CREDITBOOK_DATABASE_URL, else creditbook.db).",
        show_default=False,
    ),
]
FormatOption = Annotated[OutputFormat, typer.Option("--format", help="text or json.")]
SQLITE_HEADER = b"SQLite format 3\x00"


class Kind(StrEnum):
    topup = "topup"
    bonus = "bonus"
    charge = "charge"
    refund = "refund"
    adjustment = "adjustment"
    expiry = "expiry"
    referral = "referral"


class Status(StrEnum):
    posted = "posted"
    declined = "declined"
    failed = "failed"


def _no_wall_clock() -> datetime:
    raise AssertionError("the demo history dates every operation itself; it must not read the wall clock")


# -- opening the ledger ----------------------------------------------------------------------------


def _url(database: str | None) -> str | None:
    """A SQLite file path becomes its URL (special characters escaped); None leaves the choice to
    Billing ($CREDITBOOK_DATABASE_URL, else creditbook.db)."""
    if database is None:
        database = os.environ.get("CREDITBOOK_DATABASE_URL") or None
    if database is None or "://" in database:
        return database
    return "sqlite:///" + quote(str(Path(database).expanduser().absolute()), safe="/")


def _sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite URL (`sqlite[+driver]:///path`, the path percent-escaped, options
    after `?`); None for in-memory SQLite and for other databases."""
    scheme, _, rest = url.partition("://")
    if scheme.split("+")[0] != "sqlite" or not rest.startswith("/"):
        return None
    database = unquote(rest[1:].partition("?")[0])
    return None if database in ("", ":memory:") else Path(database)


def _hide_password(url: str) -> str:
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", url)


def _from_database_library(exc: BaseException) -> bool:
    """An exception raised by the database stack itself (a bad URL, a refused connection, a file
    that is not a database) while the ledger is opened: the person's input, not a creditbook bug.
    Named by module so the command line imports no database library (tests/test_layers.py)."""
    return type(exc).__module__.split(".")[0] in ("sqlalchemy", "sqlite3", "psycopg", "alembic")


def _check_sqlite(path: Path, create: bool, typed: str | None) -> bool:
    """Refuse a path that is not a creditbook ledger; True when the file is to be created. `typed` is
    the path as the person typed it, for the messages."""
    name = typed if typed and "://" not in typed else str(path)
    if not path.exists():
        if not create:
            raise CliError(
                f"no ledger at {shown(name)} (creditbook db upgrade -d {name} creates one, "
                f"creditbook demo seed -d {name} a demo ledger)"
            )
        output_file(path, suffix=None)
        return True
    input_file(path, max_bytes=2**62)
    with path.open("rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise CliError(f"{shown(name)} is {'empty' if not header else 'not a SQLite database'}, not a ledger")
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)) as conn:
            tables = {name for (name,) in conn.execute("select name from sqlite_master where type = 'table'")}
    except sqlite3.Error as exc:
        raise CliError(f"{shown(name)} cannot be read as a ledger: {exc}") from exc
    if "alembic_version" not in tables and (tables or not create):
        raise CliError(f"{shown(name)} is a SQLite database but not a creditbook ledger")
    return False


@contextlib.contextmanager
def ledger(
    database: str | None, create: bool = False, clock: Callable[[], datetime] | None = None
) -> Iterator[Billing]:
    """The ledger at `database`, migrated to the latest schema. Inside the block a refusal (any
    CreditbookError) becomes one line with its stable code and exit code 1, a value creditbook does
    not accept (InvalidInput) exit code 2; a StorageError (a bug or a damaged ledger) is left to the
    internal-error report. A database that cannot be opened is one line with exit code 2. A SQLite
    file this call created is removed again if the block fails."""
    from engine.billing import Billing
    from engine.errors import CreditbookError, InvalidInput, StorageError

    url = _url(database)
    try:
        resolved = Billing(url, migrate=False).db.url  # $CREDITBOOK_DATABASE_URL or the default applied
    except Exception as exc:
        if not _from_database_library(exc):
            raise
        raise CliError(f"{shown(database)} is not a database URL or SQLite path: {_first_line(exc)}") from exc
    path = _sqlite_file(resolved)
    created = _check_sqlite(path, create, database) if path is not None else False
    if path is None and not create and resolved.startswith("sqlite"):
        raise CliError("an in-memory SQLite database holds no ledger: give a file or a database URL")
    try:
        try:
            billing = Billing(resolved) if clock is None else Billing(resolved, clock=clock)
        except Exception as exc:  # the migration talks to the driver directly
            if not _from_database_library(exc):
                raise
            raise CliError(f"the ledger database cannot be opened: {_first_line(exc)}") from exc
        try:
            yield billing
        except StorageError:
            raise
        except InvalidInput as exc:
            raise CliError(f"{exc.message} ({exc.code})") from exc
        except CreditbookError as exc:
            raise CliError(f"{exc} ({exc.code})", EXIT_FINDINGS) from exc
        finally:
            billing.db.engine.dispose()
    except BaseException:
        if created and path is not None:
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
                leftover.unlink(missing_ok=True)
        raise


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    return str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__


def _clinic(billing: Billing, clinic_id: str) -> Any:
    """The clinic's record from Billing.clinics() (its market and time zone), or a refusal."""
    found = next((clinic for clinic in billing.clinics() if clinic.id == clinic_id), None)
    if found is None:
        raise CliError(f"no clinic {shown(clinic_id)} in this ledger (creditbook ledger clinics lists them)", 1)
    return found


# -- commands --------------------------------------------------------------------------------------


@db_app.command("upgrade")
def upgrade_cmd(database: DatabaseOption = None) -> None:
    """Create the ledger's tables, or bring them to the latest migration (safe to run again)."""
    with ledger(database, create=True) as billing:
        url = billing.db.url
    typer.echo(f"Ledger schema is up to date in {_hide_password(url)}")


@ledger_app.command("publish")
def publish_cmd(
    file: Annotated[Path, typer.Argument(help="A validated pricebook workbook.", show_default=False)],
    actor: Annotated[str, typer.Option(help="Who publishes (kept with the version; default: $USER).")] = "",
    database: DatabaseOption = None,
    at: Annotated[When | None, when_option(f"When it is published: {WHEN_HELP}, UTC (default: now).")] = None,
) -> None:
    """Publish a workbook as a new immutable pricebook version.

    Refused when it has errors, prices exactly like a published version, or its effective_from is
    not after the previous version's. Example: creditbook ledger publish pricebooks/in/in-clinic-leads-v2.xlsx
    """
    import hashlib

    key = "publish:" + hashlib.sha256(input_file(file).read_bytes()).hexdigest()[:32]
    with ledger(database) as billing:
        result = billing.publish_pricebook(
            file, actor=actor or os.environ.get("USER") or "pricing", key=key, at=(at or When("now")).at()
        )
        pricebook = billing.pricebook_in_force(result.pricebook_id, at=result.effective_from)
    start = result.effective_from.astimezone(_zone(pricebook.meta.timezone))
    note = " (already published: nothing changed)" if result.replayed else ""
    typer.echo(
        f"Published {result.pricebook_id} v{result.version} ({result.semantic_hash[:12]}), "
        f"in force from {start:%Y-%m-%d %H:%M} {pricebook.meta.timezone}{note}"
    )


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


@ledger_app.command("balance")
def balance_cmd(
    clinic: Annotated[str, typer.Argument(help="The clinic id.", show_default=False)],
    database: DatabaseOption = None,
    at: Annotated[
        When | None, when_option(f"As of when: {WHEN_HELP}, in the clinic's time zone (default: now).")
    ] = None,
    output: FormatOption = OutputFormat.text,
) -> None:
    """The clinic dashboard header as of a time: balance, used this month, refunds, expiring credits, alerts.

    Every figure is as of --at ("this month" is the month holding --at, in the clinic's time zone).
    """
    from engine.money import format_credits

    with ledger(database) as billing:
        zone = _clinic(billing, clinic).timezone
        when = (at or When("now")).at(zone)
        view = billing.balance(clinic, at=when)
    if output is OutputFormat.json:
        print(view.model_dump_json(indent=2))
        return
    from rich.table import Table

    def shown_credits(credits: int) -> str:
        return format_credits(credits, view.money_per_credit, view.currency)

    month = f"{view.month_starts:%B %Y}"
    local = when.astimezone(_zone(zone))
    table = Table(title=f"{clinic} as of {local:%Y-%m-%d %H:%M} {zone}", show_header=False, title_justify="left")
    table.add_column(no_wrap=True)
    table.add_column(justify="right")
    table.add_row("Balance", shown_credits(view.balance))
    if view.overdraft_limit:
        table.add_row("May overdraw to", shown_credits(-view.overdraft_limit))
    table.add_row(f"Used in {month}", shown_credits(view.used_this_month))
    table.add_row(f"Refunds granted in {month}", shown_credits(view.refunds_granted_this_month))
    table.add_row(f"Expiring within {view.expiring_within_days} days", shown_credits(view.expiring_soon))
    if view.leads_this_month:
        table.add_row(
            f"Leads in {month}", f"{view.leads_this_month:,} for {shown_credits(view.lead_credits_this_month)}"
        )
    if view.sms_segments_this_month or view.voice_minutes_this_month:
        table.add_row(f"SMS segments in {month}", f"{view.sms_segments_this_month:,}")
        table.add_row(f"Voice minutes in {month}", f"{view.voice_minutes_this_month:,}")
    if view.remaining is not None and view.remaining.sms_segments is not None:
        table.add_row(
            "Balance still buys",
            f"{view.remaining.sms_segments:,} SMS segments or {view.remaining.voice_minutes or 0:,} voice minutes",
        )
    out = console()
    out.print(table)
    for alert in view.alerts:
        out.print(f"alert: {alert}")


@ledger_app.command("history")
def history_cmd(
    clinic: Annotated[str, typer.Argument(help="The clinic id.", show_default=False)],
    kind: Annotated[list[Kind] | None, typer.Option(help="Only these kinds (repeat the option).")] = None,
    status: Annotated[Status | None, typer.Option(help="Only this status.")] = None,
    page: Annotated[int, typer.Option(help="Page number, newest first.", min=1, max=10**6)] = 1,
    page_size: Annotated[int, typer.Option(help="Rows per page.", min=1, max=1000)] = 25,
    database: DatabaseOption = None,
    output: FormatOption = OutputFormat.text,
) -> None:
    """The clinic's transactions, newest first, with the rule and version that priced each."""
    from engine.money import credits_to_money, format_money

    with ledger(database) as billing:
        found = _clinic(billing, clinic)
        result = billing.transactions(
            clinic,
            kinds=[k.value for k in kind] if kind else None,
            status=status.value if status else None,
            page=page,
            page_size=page_size,
        )
        meta = billing.pricebook_in_force(found.market).meta
    if output is OutputFormat.json:
        print(result.model_dump_json(indent=2))
        return
    from rich.table import Table

    zone = _zone(found.timezone)
    total = result.total
    assert total is not None  # counted whenever no cursor is given: this command pages by number
    pages = max(1, -(-total // page_size))
    table = Table(
        title=f"{clinic}: {total:,} transactions, page {page} of {pages:,}, newest first",
        title_justify="left",
    )
    for column in ("id", f"when ({found.timezone})", "kind", "status", "credits", "money", "what", "rules / reason"):
        table.add_column(column, justify="right" if column in ("id", "credits", "money") else "left")
    for row in result.rows:
        credits = row.signed_credits if row.status == "posted" else row.credits
        money = format_money(credits_to_money(credits, meta.money_per_credit), meta.currency, meta.money_per_credit)
        what = f"{row.product or ''} {row.units or ''}".strip() if row.product else (row.note or "")
        extra = row.reason or ", ".join(row.rule_ids)
        if row.dispute_status:
            extra += f" [dispute {row.dispute_status}]"
        table.add_row(
            str(row.id),
            f"{row.at.astimezone(zone):%Y-%m-%d %H:%M}",
            row.kind,
            row.status,
            f"{credits:+,}" if row.status == "posted" else f"({credits:,})",
            money if row.status == "posted" else f"({money})",
            what,
            extra,
        )
    console().print(table)


@ledger_app.command("reconcile")
def reconcile_cmd(database: DatabaseOption = None) -> None:
    """Recompute every ledger invariant; exit 1 and name each wallet, lot or transaction that drifted."""
    with ledger(database) as billing:
        report = billing.reconcile()
    if report.in_flight:
        oldest = max(report.in_flight, key=lambda attempt: attempt.age_seconds)
        minutes = oldest.age_seconds // 60
        age = f"{minutes:,} minutes" if minutes < 120 else f"{minutes // 60:,} hours"
        age = age if minutes < 2880 else f"{minutes // 1440:,} days"
        typer.echo(
            f"{len(report.in_flight):,} payment attempt(s) in flight, the oldest for {age} "
            "(creditbook payments sweep settles them)."
        )
    if report.ok:
        typer.echo(
            f"OK: {report.accounts:,} accounts, {report.lots:,} lots and "
            f"{report.transactions:,} transactions agree with their entries and allocations."
        )
        return
    for drift in report.drifts:
        typer.echo(f"drift {drift}", err=True)
    typer.echo(f"{len(report.drifts)} drift(s) found.", err=True)
    raise typer.Exit(EXIT_FINDINGS)


@ledger_app.command("expire")
def expire_cmd(
    database: DatabaseOption = None,
    at: Annotated[When | None, when_option(f"Expire what is due by then: {WHEN_HELP}, UTC (default: now).")] = None,
) -> None:
    """Expire every lot whose time is up (safe to run twice, and while charges run)."""
    with ledger(database) as billing:
        result = billing.expire_lots((at or When("now")).at())
    typer.echo(
        f"Expired {result.lots:,} lots in {result.wallets:,} wallets: {result.credits:,} credits in all "
        f"(each clinic's history shows its own with their money); {result.alerts:,} alerts written to the outbox."
    )


@payments_app.command("sweep")
def sweep_cmd(
    database: DatabaseOption = None,
    older_than: Annotated[
        int, typer.Option("--older-than", min=0, max=14 * 24 * 60, help="Minutes an attempt has been in flight.")
    ] = 15,
    abandon_after: Annotated[
        int,
        typer.Option(
            "--abandon-after", min=1, max=90 * 24, help="Hours after which a payment still waiting on its payer fails."
        ),
    ] = 24,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Attempts to look at in one sweep.")] = 500,
    at: Annotated[When | None, when_option(f"Sweep as of: {WHEN_HELP}, UTC (default: now).")] = None,
    output: FormatOption = OutputFormat.text,
) -> None:
    """Ask the payment providers about attempts recorded but not settled for longer than
    --older-than minutes, and settle them: paid is credited (once), declined or never received is
    failed, a payment waiting on its payer longer than --abandon-after hours is abandoned. Safe to
    run twice, and alongside purchases and webhooks. Exit 1 when a provider could not be asked
    (those attempts stay in flight for the next sweep; one line each on stderr)."""
    from datetime import timedelta

    if abandon_after * 60 < older_than:
        raise CliError("--abandon-after must be at least as long as --older-than")
    with ledger(database) as billing:
        result = billing.sweep_payments(
            timedelta(minutes=older_than), timedelta(hours=abandon_after), (at or When("now")).at(), limit
        )
    if output == OutputFormat.json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        for swept in result.attempts:
            typer.echo(f"{swept.settled_as:<8} {swept.reference}  {swept.clinic_id}  {swept.shown}")
        typer.echo(
            f"Swept {result.examined:,} payment attempt(s) in flight for more than {older_than:,} minutes: "
            f"{len(result.credited):,} credited, {len(result.failed):,} failed, {len(result.pending):,} still "
            f"pending on their payer, {len(result.errors):,} not answered."
        )
    for error in result.errors:
        typer.echo(f"payments sweep: {error}", err=True)
    if result.errors:
        raise typer.Exit(EXIT_FINDINGS)


@ledger_app.command("clinics")
def clinics_cmd(
    database: DatabaseOption = None,
    at: Annotated[
        When | None, when_option(f"Balances as of: {WHEN_HELP}, in each clinic's time zone (default: now).")
    ] = None,
) -> None:
    """List the clinics with their market, segment, size and balance."""
    from rich.table import Table

    from engine.money import format_credits

    table = Table(title="Clinics", title_justify="left")
    for column in ("clinic", "name", "market", "segment", "size", "balance"):
        table.add_column(column, justify="right" if column == "balance" else "left", no_wrap=column != "name")
    with ledger(database) as billing:
        for clinic in billing.clinics():
            view = billing.balance(clinic.id, at=(at or When("now")).at(clinic.timezone))
            shown_balance = format_credits(view.balance, view.money_per_credit, view.currency)
            table.add_row(
                clinic.id, clinic.name, clinic.market, clinic.segment, clinic.clinic_size or "", shown_balance
            )
    console().print(table)


@demo_app.command("seed")
def seed_cmd(
    database: DatabaseOption = None,
    months: Annotated[int, typer.Option(help="Calendar months of history, up to --until.", min=1, max=24)] = 3,
    us_clinics: Annotated[int, typer.Option(help="US audiology clinics.", min=0, max=500)] = 24,
    in_clinics: Annotated[int, typer.Option(help="Indian lead clinics.", min=0, max=500)] = 16,
    seed: Annotated[
        int, typer.Option(help="Random seed (the same seed makes the same ledger).", min=0, max=2**63 - 1)
    ] = 7,
    until: Annotated[
        When | None,
        when_option(f"The last day of history: {WHEN_HELP}, UTC, or 'now' (default: 2026-11-30)."),
    ] = None,
    output: FormatOption = OutputFormat.text,
) -> None:
    """Create a demo ledger: clinics of every size in both markets with months of history, priced
    by the shipped pricebooks. The same options make the same ledger on any day; running it again
    on the same database changes nothing.

    Example: creditbook demo seed -d demo.db --months 3
    """
    import json
    from datetime import timedelta

    from engine.billing.demo import DEMO_UNTIL, DemoWindowError, check_window, seed_demo

    if us_clinics + in_clinics == 0:
        raise CliError("nothing to seed: --us-clinics and --in-clinics are both 0")
    end = DEMO_UNTIL if until is None else until.at(UTC) + (timedelta(microseconds=1) if until.day else timedelta())
    try:
        check_window(end, months)
    except DemoWindowError as exc:
        raise CliError(str(exc)) from exc
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    errors = console(stderr=True)
    with ledger(database, create=True, clock=_no_wall_clock) as billing:
        with Progress(
            TextColumn("seeding the demo ledger"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=errors,
            disable=output is OutputFormat.json or not errors.is_terminal,  # no bar in logs and pipes
        ) as progress:
            task = progress.add_task("seed", total=None)

            def report(done: int, total: int) -> None:
                if done % 50 == 0 or done == total:
                    progress.update(task, completed=done, total=total)

            summary = seed_demo(
                billing, end, months=months, us_clinics=us_clinics, in_clinics=in_clinics, seed=seed, progress=report
            )
        reconciliation = billing.reconcile()
    last_day = (end - timedelta(microseconds=1)).astimezone(UTC)
    if output is OutputFormat.json:
        print(
            json.dumps(
                {
                    "clinics": summary.clinics,
                    "operations": summary.operations,
                    "declined": summary.declined,
                    "first_day": f"{summary.start:%Y-%m-%d}",
                    "last_day": f"{last_day:%Y-%m-%d}",
                    "reconciled": reconciliation.ok,
                },
                indent=2,
            )
        )
    else:
        typer.echo(
            f"Demo ledger ready: {sum(summary.clinics.values())} clinics "
            f"({', '.join(f'{n} {m}' for m, n in sorted(summary.clinics.items()))}), "
            f"{summary.operations:,} operations from {summary.start:%Y-%m-%d} to {last_day:%Y-%m-%d}, "
            f"{summary.declined} declined. Reconcile: {'OK' if reconciliation.ok else 'DRIFT'}"
        )
    if not reconciliation.ok:
        raise typer.Exit(EXIT_FINDINGS)


@notify_app.command("run")
def notify_run_cmd(
    database: DatabaseOption = None,
    once: Annotated[bool, typer.Option("--once", help="Deliver what is due now, then stop.")] = False,
    poll: Annotated[float, typer.Option("--poll", min=0.1, max=3600, help="Seconds between looks when idle.")] = 5.0,
) -> None:
    """Deliver the outbox's notifications: webhooks signed with HMAC-SHA256 and e-mail (SMTP from
    $CREDITBOOK_SMTP_URL), at least once, retried with backoff until dead. Stop with Ctrl-C."""
    from engine.notify.mail import SmtpMailer
    from engine.notify.worker import Worker

    with ledger(database) as billing:
        worker = Worker(billing.db, billing.clock, SmtpMailer.from_env())
        if once:
            tally = worker.run_once()
            typer.echo(f"Delivered {tally.delivered:,}, to retry {tally.retried:,}, dead {tally.dead:,}.")
            for error in tally.errors[:20]:
                typer.echo(f"failed {error}", err=True)
            return
        worker.run(poll_s=poll)
