"""`creditbook db|ledger|demo` as an operator uses them, on a real SQLite file (and PostgreSQL)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from engine.cli import app
from tests.support.paths import IN_V1, IN_V2, US_V1
from tests.support.workbooks import Book

runner = CliRunner()
UNTIL = "2026-11-20T12:00"
SMALL_DEMO = ("--months", "1", "--us-clinics", "4", "--in-clinics", "4")


def run(*args: object) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


# An outbox event's id is a fresh uuid4 by design (receivers de-duplicate on it, across every ledger
# that ever sends them events): the one column a reproducible seed leaves to chance.
RANDOM_COLUMNS = {"events": "id", "deliveries": "event_id"}


def rows(database: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows in storage order: ids, amounts, times, keys, everything (but event ids)."""
    with sqlite3.connect(database) as conn:
        tables = [name for (name,) in conn.execute("select name from sqlite_master where type = 'table'")]
        out = {}
        for table in tables:
            columns = [row[1] for row in conn.execute(f'pragma table_info("{table}")')]
            kept = ", ".join(f'"{c}"' for c in columns if c != RANDOM_COLUMNS.get(table))
            out[table] = conn.execute(f'select {kept} from "{table}" order by rowid').fetchall()
        return out


def first_clinic(database: Path, market: str) -> str:
    with sqlite3.connect(database) as conn:
        return str(conn.execute("select id from clinics where market = ? order by id", (market,)).fetchone()[0])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    code, out = run("demo", "seed", "-d", path, *SMALL_DEMO, "--until", UNTIL)
    assert code == 0, out
    assert "Demo ledger ready: 8 clinics (4 IN, 4 US)" in out and "Reconcile: OK" in out
    assert "from 2026-10-20 to 2026-11-20" in out
    return path


def test_help_lists_every_ledger_command() -> None:
    code, out = run("ledger", "--help")
    assert code == 0
    for command in ("balance", "history", "reconcile", "expire", "publish", "clinics"):
        assert command in out
    assert run("db", "--help")[0] == 0 and "seed" in run("demo", "--help")[1]


def test_db_upgrade_then_publish_then_refusals(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    code, out = run("db", "upgrade", "-d", db)
    assert code == 0 and "up to date" in out
    code, out = run("ledger", "publish", US_V1, "-d", db, "--at", "2025-06-01")
    assert code == 0 and "Published us-audiology v1 (20221d9bb442)" in out
    assert "in force from 2025-08-01 00:00 America/New_York" in out  # the pricebook's own time zone
    code, out = run("ledger", "publish", US_V1, "-d", db)
    assert code == 0 and "already published" in out  # the same file again: idempotent
    for path in (IN_V1, IN_V2):
        assert run("ledger", "publish", path, "-d", db)[0] == 0
    book = Book(IN_V2)
    book.set("LeadPrices", "LP-03", "lead_price_credits", 260)  # its examples on the Tests sheet now disagree
    code, out = run("ledger", "publish", book.save(tmp_path / "in-v2-priced.xlsx"), "-d", db)
    assert code == 1 and "(pricebook_rejected)" in out and "Tests!M2" in out and out.count("\n") == 1
    book = Book(IN_V2)
    book.set("Alerts", "AL-LOW", "threshold", 1_500)  # a real change, but dated like v2
    code, out = run("ledger", "publish", book.save(tmp_path / "in-v2-alert.xlsx"), "-d", db)
    assert code == 1 and "is not after in-clinic-leads v2" in " ".join(out.split())


def test_balance_and_history_show_credits_and_money(demo: Path) -> None:
    listing = run("ledger", "clinics", "-d", demo)[1]
    clinic = next(line.split()[1] for line in listing.splitlines() if line.startswith("│ in-"))
    code, out = run("ledger", "balance", clinic, "-d", demo, "--at", UNTIL)
    assert code == 0 and "Balance" in out and "credits (₹" in out
    assert f"{clinic} as of 2026-11-20 12:00 Asia/Kolkata" in out and "Used in November 2026" in out
    code, out = run("ledger", "balance", clinic, "-d", demo, "--format", "json", "--at", UNTIL)
    view = json.loads(out)
    assert view["currency"] == "INR" and view["clinic_id"] == clinic
    code, out = run("ledger", "history", clinic, "-d", demo, "--kind", "charge", "--format", "json")
    page = json.loads(out)
    assert page["total"] > 0 and {row["kind"] for row in page["rows"]} == {"charge"}
    code, out = run("ledger", "history", clinic, "-d", demo, "--page-size", 5)
    assert code == 0 and "₹" in out and "LP-" in out
    code, out = run("ledger", "balance", "no-such-clinic", "-d", demo)
    assert (code, out) == (
        1,
        "creditbook ledger balance: no clinic 'no-such-clinic' in this ledger (creditbook ledger clinics lists them)\n",
    )


def test_history_shows_times_in_the_clinics_time_zone(demo: Path) -> None:
    clinic = first_clinic(demo, "US")
    code, out = run("ledger", "history", clinic, "-d", demo, "--format", "json", "--page-size", 1)
    newest = json.loads(out)["rows"][0]
    local = datetime.fromisoformat(newest["at"]).astimezone(ZoneInfo("America/New_York"))
    code, out = run("ledger", "history", clinic, "-d", demo, "--page-size", 1)
    assert code == 0 and "when (America/New_York)" in out
    assert f"│ {newest['id']} │ {local:%Y-%m-%d %H:%M} │" in " ".join(out.split())


def test_balance_at_shows_every_figure_as_of_that_time(demo: Path) -> None:
    """The balance shown for an earlier --at is the sum of what the clinic's transactions did up to
    then, not today's balance with an earlier month's usage."""
    at = "2026-11-05T12:00+00:00"
    clinic = first_clinic(demo, "IN")
    out = run("ledger", "history", clinic, "-d", demo, "--format", "json", "--page-size", 1000)[1]
    posted = [r for r in json.loads(out)["rows"] if r["status"] == "posted"]
    then = sum(r["signed_credits"] for r in posted if datetime.fromisoformat(r["at"]) <= datetime.fromisoformat(at))
    assert then != sum(r["signed_credits"] for r in posted)  # the balance moved after `at`: the test can tell
    out = run("ledger", "balance", clinic, "-d", demo, "--format", "json", "--at", at)[1]
    assert json.loads(out)["balance"] == then
    out = run("ledger", "balance", clinic, "-d", demo, "--at", at)[1]
    assert f"{then:,} credits (₹{then:,})" in out


def test_seeding_again_changes_nothing(demo: Path) -> None:
    before = rows(demo)
    code, out = run("demo", "seed", "-d", demo, *SMALL_DEMO, "--until", UNTIL)
    assert code == 0, out
    assert rows(demo) == before


def test_the_demo_is_reproducible_from_its_seed_alone(tmp_path: Path) -> None:
    """Same seed, same ledger, row for row, whatever the day or the process: one seeded here, one
    by the installed command in a fresh process with another hash seed. The history is anchored to
    2026-11-30 without --until, and another seed makes another ledger."""
    first, second, other = tmp_path / "first.db", tmp_path / "second.db", tmp_path / "other.db"
    assert run("demo", "seed", "-d", first, *SMALL_DEMO)[0] == 0
    script = Path(sys.executable).parent / "creditbook"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    env.pop("CREDITBOOK_DATABASE_URL", None)
    done = subprocess.run(
        [str(script), "demo", "seed", "-d", str(second), *SMALL_DEMO],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "from 2026-11-01 to 2026-11-30" in done.stdout
    seeded = rows(first)
    assert seeded == rows(second)
    times = [at for (at,) in sqlite3.connect(first).execute("select at from transactions where kind = 'charge'")]
    assert min(times) >= "2026-11-01" and max(times) < "2026-12-01"
    assert run("demo", "seed", "-d", other, *SMALL_DEMO, "--seed", 8)[0] == 0
    assert rows(other)["transactions"] != seeded["transactions"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--months", "0"), "'--months': Input should be greater than or equal to 1"),
        (("--months", "-3"), "'--months'"),
        (("--months", "1000"), "'--months': Input should be less than or equal to 24"),
        (("--until", "2026-02-30"), "'--until': '2026-02-30' is not a date"),
        (("--until", "9999-12-31T23:59:59-12:00"), "is outside 2000-01-01 … 2199-12-31"),
        (("--until", "2025-06-01"), "the history would start on 2025-03-02, before us-audiology takes effect"),
        (("--us-clinics", "0", "--in-clinics", "0"), "nothing to seed"),
        (("--seed", "-1"), "'--seed'"),
        (("--us-clinics", "1e3"), "'--us-clinics'"),
        (("--format", "yaml"), "'--format'"),
    ],
)
def test_demo_seed_refuses_bad_values_in_one_line_and_creates_nothing(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    target = tmp_path / "demo.db"
    result = runner.invoke(app, ["demo", "seed", "-d", str(target), *args])
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and result.stderr.count("\n") == 1 and message in result.stderr
    assert result.stderr.startswith("creditbook demo seed: ")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "command",
    [
        ("ledger", "clinics"),
        ("ledger", "balance", "us-solo-01"),
        ("ledger", "history", "us-solo-01"),
        ("ledger", "reconcile"),
        ("ledger", "expire"),
        ("ledger", "publish", str(US_V1)),
    ],
)
def test_ledger_commands_refuse_a_database_that_is_not_there(tmp_path: Path, command: tuple[str, ...]) -> None:
    mistyped = tmp_path / "ledgr.db"
    result = runner.invoke(app, [*command, "-d", str(mistyped)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert f"no ledger at '{mistyped}' (creditbook db upgrade -d {mistyped} creates one" in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing created where the path was mistyped


def test_the_default_database_is_refused_too_when_missing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ledger", "clinics"], env={"CREDITBOOK_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert result.exit_code == 2 and f"no ledger at '{tmp_path}/x.db'" in result.stderr
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = runner.invoke(app, ["ledger", "clinics"], env={"CREDITBOOK_DATABASE_URL": ""})
    finally:
        os.chdir(cwd)
    assert result.exit_code == 2 and "creditbook.db" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_files_that_are_not_ledgers_are_refused_and_left_alone(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("not a database")
    empty = tmp_path / "empty.db"
    empty.touch()
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("create table recipes (name text)")
    cases = {
        text: "is not a SQLite database, not a ledger",
        empty: "is empty, not a ledger",
        other: "is a SQLite database but not a creditbook ledger",
        tmp_path: "is a folder, not a file",
    }
    before = {path: path.read_bytes() for path in (text, empty, other)}
    for path, message in cases.items():
        for command in (["ledger", "clinics"], ["db", "upgrade"], ["demo", "seed", *SMALL_DEMO]):
            result = runner.invoke(app, [*command, "-d", str(path)])
            assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1, (
                command,
                result.output,
            )
    assert {path: path.read_bytes() for path in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db", "notes.db", "other.db"]


def test_database_urls_that_cannot_be_opened_are_one_line(tmp_path: Path) -> None:
    for url, message in (
        ("nosuchdriver://x", "is not a database URL or SQLite path"),
        ("sqlite://", "an in-memory SQLite database holds no ledger"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/none", "the ledger database cannot be opened"),
    ):
        result = runner.invoke(app, ["ledger", "reconcile", "-d", url])
        assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.output


def test_a_seed_that_fails_leaves_no_ledger_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed fails after the ledger file was created and migrated: the file goes again."""

    def failing(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr("engine.billing.demo.seed_demo", failing)
    monkeypatch.setenv("CREDITBOOK_LOG_DIR", str(tmp_path / "logs"))
    (tmp_path / "logs").mkdir()
    result = runner.invoke(app, ["demo", "seed", "-d", str(tmp_path / "demo.db"), *SMALL_DEMO])
    assert result.exit_code == 3 and "internal error" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs"]


def test_a_ledger_path_may_hold_any_character_a_file_name_can(tmp_path: Path) -> None:
    """?, #, % and spaces mean something in a URL: the path is escaped, the file is where it says."""
    odd = tmp_path / "a?b#c%20d e.db"
    assert run("db", "upgrade", "-d", odd)[0] == 0
    assert [p.name for p in tmp_path.iterdir()] == [odd.name]
    code, out = run("ledger", "reconcile", "-d", odd)
    assert code == 0 and out.startswith("OK: 0 accounts")


def test_a_new_ledger_folder_must_exist(tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade", "-d", str(tmp_path / "missing" / "x.db")])
    assert result.exit_code == 2 and "does not exist" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.postgres
def test_the_ledger_commands_on_postgresql(postgres_database: str) -> None:
    code, out = run("db", "upgrade", "-d", postgres_database)
    assert code == 0 and "Ledger schema is up to date in postgresql+psycopg://" in out
    assert run("ledger", "publish", US_V1, "-d", postgres_database, "--at", "2025-06-01")[0] == 0
    code, out = run("ledger", "reconcile", "-d", postgres_database)
    assert code == 0 and out.startswith("OK:")
    code, out = run("ledger", "balance", "nobody", "-d", postgres_database)
    assert code == 1 and "no clinic 'nobody'" in out


def test_reconcile_names_exactly_the_wallet_and_lot_that_were_corrupted(demo: Path, tmp_path: Path) -> None:
    corrupted = tmp_path / "corrupted.db"
    with sqlite3.connect(demo) as source, sqlite3.connect(corrupted) as target:
        source.backup(target)
    code, out = run("ledger", "reconcile", "-d", corrupted)
    assert code == 0 and "OK" in out
    with sqlite3.connect(corrupted) as conn:
        wallet, clinic = conn.execute("select id, clinic_id from accounts where kind = 'wallet' limit 1").fetchone()
        conn.execute("update accounts set balance = balance + 7 where id = ?", (wallet,))
        lot = conn.execute("select id from lots where remaining > 10 order by id desc limit 1").fetchone()[0]
        conn.execute("update lots set remaining = remaining - 3 where id = ?", (lot,))
    code, out = run("ledger", "reconcile", "-d", corrupted)
    assert code == 1
    drifts = [line for line in out.splitlines() if line.startswith("drift")]
    assert any(f"(a) wallet {wallet} (clinic {clinic})" in line for line in drifts)
    assert any(f"(d) lot {lot} " in line for line in drifts)
    assert all(f"wallet {wallet}" in line or f"lot {lot} " in line or "(e)" in line for line in drifts)


def test_expire_is_safe_to_run_twice(demo: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    with sqlite3.connect(demo) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    code, first = run("ledger", "expire", "-d", copy, "--at", "2027-12-31")
    assert code == 0 and "Expired" in first
    code, second = run("ledger", "expire", "-d", copy, "--at", "2027-12-31")
    assert code == 0 and "Expired 0 lots" in second
    assert run("ledger", "reconcile", "-d", copy)[0] == 0
